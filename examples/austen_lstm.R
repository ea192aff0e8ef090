# Trains a character-level LSTM language model on Jane Austen's six novels
# from Debian's r-cran-janeaustenr, reports validation bits per character,
# then generates text from a prompt.
#
# Usage: Rscript examples/austen_lstm.R [--epochs N] [--hidden N]
#          [--layers N] [--embedding N] [--seq-len N] [--batch-size N]
#          [--lr X] [--steps-per-epoch N] [--seed N] [--out FILE]
#          [--prompt TEXT] [--sample-length N] [--compile]
#
# The last 10% of the characters of each novel is the validation text and
# the rest is the training text. Each of the batch-size rows of a batch
# reads its own stretch of the training text, and consecutive batches
# continue those stretches, so the LSTM's hidden and cell states carry over
# from one batch to the next (truncated backpropagation through time over
# seq-len characters).
#
# The defaults (one LSTM layer of 256 units, 6 epochs of 300 batches of
# 64 x 64 characters, about 2 passes over the training text) take about
# 12 minutes on one CPU core. --steps-per-epoch 0 makes an epoch one full
# pass.
suppressPackageStartupMessages(library(Rmlx))

parse_args <- function(args) {
  opts <- list(
    epochs = 6L, hidden = 256L, layers = 1L, embedding = 64L,
    seq_len = 64L, batch_size = 64L, lr = 2e-3, steps_per_epoch = 300L,
    seed = 1L, out = "out/austen_lstm.safetensors",
    prompt = "It is a truth universally acknowledged", sample_length = 400L,
    compile = FALSE
  )
  counts <- c(
    "--epochs" = "epochs", "--hidden" = "hidden", "--layers" = "layers",
    "--embedding" = "embedding", "--seq-len" = "seq_len",
    "--batch-size" = "batch_size", "--steps-per-epoch" = "steps_per_epoch",
    "--seed" = "seed", "--sample-length" = "sample_length"
  )
  i <- 1
  while (i <= length(args)) {
    key <- args[[i]]
    value <- if (i < length(args)) args[[i + 1]] else NA
    if (key == "--compile") {
      opts$compile <- TRUE
      i <- i + 1
      next
    }
    if (is.na(value)) {
      stop("option ", key, " needs a value", call. = FALSE)
    }
    if (key %in% names(counts)) {
      number <- suppressWarnings(as.integer(value))
      minimum <- if (key == "--steps-per-epoch") 0L else 1L
      if (is.na(number) || number < minimum) {
        stop("option ", key, " must be a whole number of at least ",
             minimum, ", not ", value, call. = FALSE)
      }
      opts[[counts[[key]]]] <- number
    } else {
      switch(key,
        "--lr" = opts$lr <- as.numeric(value),
        "--out" = opts$out <- value,
        "--prompt" = opts$prompt <- value,
        stop("unknown option ", key, call. = FALSE)
      )
    }
    i <- i + 2
  }
  opts
}

# Joins the lines of one novel into paragraphs separated by "\n". The
# package's lines are wrapped at about 70 characters and paragraphs are
# separated by empty lines, so the model learns paragraph breaks but not
# the wrapping.
novel_text <- function(lines) {
  lines <- trimws(lines)
  paragraph <- cumsum(lines == "")
  keep <- lines != ""
  paragraphs <- vapply(split(lines[keep], paragraph[keep]), paste, "",
                       collapse = " ")
  paste(paragraphs, collapse = "\n")
}

# Lays out the ids as `batch_size` rows, each a contiguous stretch of the
# text starting `offset` characters in, with targets shifted by one. Batch
# k is columns ((k - 1) * seq_len + 1):(k * seq_len) of both matrices.
stream_layout <- function(ids, batch_size, seq_len, offset = 0L) {
  row_length <- (length(ids) - 1L - offset) %/% batch_size
  num_batches <- row_length %/% seq_len
  if (num_batches < 1) {
    stop("the text is too short for batch size ", batch_size,
         " and sequence length ", seq_len, call. = FALSE)
  }
  starts <- offset + (seq_len(batch_size) - 1L) * row_length
  columns <- seq_len(num_batches * seq_len)
  index <- outer(starts, columns, `+`)
  list(x = matrix(ids[index], batch_size), y = matrix(ids[index + 1L], batch_size),
       num_batches = num_batches)
}

# Returns batch k as int32 MLX arrays. R integers would not do, because
# mlx_forward() turns R data given to a module written in R into float32,
# which the embedding rejects.
layout_batch <- function(layout, k, seq_len) {
  columns <- ((k - 1L) * seq_len + 1L):(k * seq_len)
  list(
    x = as_mlx(layout$x[, columns, drop = FALSE], dtype = "int32"),
    y = as_mlx(layout$y[, columns, drop = FALSE], dtype = "int32")
  )
}

zero_state <- function(opts, rows) {
  as_mlx(array(0, c(opts$layers, rows, opts$hidden)))
}

opts <- parse_args(commandArgs(trailingOnly = TRUE))
set.seed(opts$seed)

books <- janeaustenr::austen_books()
novels <- vapply(split(books$text, books$book), novel_text, "")
split_at <- vapply(novels, function(text) floor(0.9 * nchar(text)), numeric(1))
train_text <- paste(substr(novels, 1, split_at), collapse = "\n")
valid_text <- paste(substring(novels, split_at + 1), collapse = "\n")
vocab <- mlx_char_vocab(novels)
train_ids <- mlx_char_encode(train_text, vocab)
valid_ids <- mlx_char_encode(valid_text, vocab)
cat(sprintf(
  "Jane Austen's %d novels: %s training and %s validation characters, %d distinct\n",
  length(novels), format(length(train_ids), big.mark = ","),
  format(length(valid_ids), big.mark = ","), length(vocab)
))

char_lstm <- mlx_module("CharLSTM",
  initialize = function(vocab_size, embedding, hidden, layers) {
    self$embedding <- mlx_embedding(vocab_size, embedding)
    self$lstm <- mlx_stacked_lstm(embedding, hidden, num_layers = layers)
    self$head <- mlx_linear(hidden, vocab_size)
  },
  # Returns the logits (N, L, vocab_size) and the final hidden and cell
  # states, each (layers, N, hidden).
  forward = function(x, hidden, cell) {
    embedded <- mlx_forward(self$embedding, x)
    out <- mlx_forward(self$lstm, embedded, hidden = hidden, cell = cell)
    list(mlx_forward(self$head, out[[1]]), out[[2]], out[[3]])
  }
)
model <- char_lstm(length(vocab), opts$embedding, opts$hidden, opts$layers)
print(model)

# Returns the mean cross-entropy in nats and the final states, which the
# next batch starts from. The states are inputs of the step, so no gradient
# flows back through them into earlier batches.
loss_fn <- function(model, x, y, hidden, cell) {
  out <- mlx_forward(model, x, hidden, cell)
  list(mlx_cross_entropy(out[[1]], y, reduction = "mean"), out[[2]], out[[3]])
}
optimizer <- mlx_optimizer_adam(learning_rate = opts$lr)
# NOTE: the step is not compiled by default, because MLX 0.32.4's compile
# made this LSTM's step slower here: with 256 hidden units and 64 x 128
# characters per batch, 2.7 s compiled against 1.0 s uncompiled on one
# core, and 4 GB of memory against 0.6 GB. The cost grows faster than the
# sequence length, and MLX Python 0.32.4 shows the same.
step <- mlx_train_step(model, optimizer, loss_fn, compile = opts$compile)

# Returns the validation bits per character: the mean cross-entropy over
# every predicted character, in nats, divided by log(2). The last
# (length(valid_ids) - 1) %% (batch_size * seq_len) characters are left out.
validation_bpc <- function() {
  mlx_set_training(model, FALSE)
  on.exit(mlx_set_training(model, TRUE))
  layout <- stream_layout(valid_ids, opts$batch_size, opts$seq_len)
  hidden <- cell <- zero_state(opts, opts$batch_size)
  total <- 0
  for (k in seq_len(layout$num_batches)) {
    batch <- layout_batch(layout, k, opts$seq_len)
    out <- mlx_forward(model, batch$x, hidden, cell)
    total <- total + as.numeric(mlx_cross_entropy(out[[1]], batch$y, reduction = "sum"))
    hidden <- out[[2]]
    cell <- out[[3]]
  }
  total / (layout$num_batches * opts$batch_size * opts$seq_len) / log(2)
}

# An epoch is one pass over the training text, or --steps-per-epoch
# batches. A shorter epoch continues where the previous one stopped, so
# every part of the text is still seen. Each pass starts its stretches at a
# random offset, so the batch boundaries move from pass to pass.
new_pass <- function() {
  offset <- sample.int(opts$seq_len, 1) - 1L
  layout <- stream_layout(train_ids, opts$batch_size, opts$seq_len, offset)
  list(layout = layout, next_batch = 1L,
       hidden = zero_state(opts, opts$batch_size),
       cell = zero_state(opts, opts$batch_size))
}
pass <- new_pass()
steps <- pass$layout$num_batches
if (opts$steps_per_epoch > 0) {
  steps <- min(opts$steps_per_epoch, steps)
}
cat(sprintf("%d steps of %d x %d characters per epoch\n",
            steps, opts$batch_size, opts$seq_len))

for (epoch in seq_len(opts$epochs)) {
  started <- Sys.time()
  total <- 0
  mean_loss <- NA_real_
  cli::cli_progress_bar(
    format = paste("epoch", epoch, "{cli::pb_bar} {cli::pb_current}/{cli::pb_total}",
                   "loss {sprintf('%.3f', mean_loss)} {cli::pb_eta}"),
    total = steps
  )
  for (i in seq_len(steps)) {
    if (pass$next_batch > pass$layout$num_batches) {
      pass <- new_pass()
    }
    batch <- layout_batch(pass$layout, pass$next_batch, opts$seq_len)
    out <- step(batch$x, batch$y, pass$hidden, pass$cell)
    pass$hidden <- out[[2]]
    pass$cell <- out[[3]]
    pass$next_batch <- pass$next_batch + 1L
    total <- total + as.numeric(out[[1]])
    mean_loss <- total / i
    cli::cli_progress_update()
  }
  cli::cli_progress_done()
  bpc <- validation_bpc()
  seconds <- as.numeric(difftime(Sys.time(), started, units = "secs"))
  cat(sprintf(
    "epoch %2d  train loss %.4f (%.3f bits/char)  validation %.3f bits/char  (%.0f s)\n",
    epoch, mean_loss, mean_loss / log(2), bpc, seconds
  ))
}

dir.create(dirname(opts$out), showWarnings = FALSE, recursive = TRUE)
mlx_save_weights(model, opts$out)
vocab_path <- sub("([.]safetensors)?$", ".vocab.rds", opts$out)
saveRDS(vocab, vocab_path)
cat(sprintf("weights saved to %s, vocabulary to %s\n", opts$out, vocab_path))

# Feeds the prompt through the model, then draws `length` characters one at
# a time from softmax(logits / temperature), feeding each back in with the
# hidden and cell states of the previous step.
generate <- function(prompt, length, temperature) {
  mlx_set_training(model, FALSE)
  on.exit(mlx_set_training(model, TRUE))
  ids <- mlx_char_encode(prompt, vocab)
  x <- as_mlx(matrix(ids, 1), dtype = "int32")
  hidden <- cell <- zero_state(opts, 1)
  drawn <- integer(length)
  for (i in seq_len(length)) {
    out <- mlx_forward(model, x, hidden, cell)
    logits <- as.array(out[[1]])
    logits <- logits[1, dim(logits)[[2]], ] / temperature
    probs <- exp(logits - max(logits))
    drawn[[i]] <- sample.int(length(vocab), 1, prob = probs)
    x <- as_mlx(matrix(drawn[[i]], 1), dtype = "int32")
    hidden <- out[[2]]
    cell <- out[[3]]
  }
  paste0(prompt, mlx_char_decode(drawn, vocab))
}

for (temperature in c(0.5, 1.0)) {
  set.seed(opts$seed)
  cat(sprintf("\n--- temperature %.1f ---\n", temperature))
  cat(generate(opts$prompt, opts$sample_length, temperature), "\n")
}
