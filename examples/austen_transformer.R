# Trains a small decoder-only transformer language model on Jane Austen's
# six novels from Debian's r-cran-janeaustenr, with characters as tokens,
# reports validation bits per character, then generates text from a prompt
# with a key-value cache.
#
# Usage: Rscript examples/austen_transformer.R [--epochs N] [--dims N]
#          [--heads N] [--layers N] [--mlp-dims N] [--seq-len N]
#          [--batch-size N] [--lr X] [--steps-per-epoch N] [--seed N]
#          [--out FILE] [--prompt TEXT] [--sample-length N]
#
# The last 10% of the characters of each novel is the validation text and
# the rest is the training text. Each batch holds batch-size windows of
# seq-len + 1 characters drawn at random positions of the training text.
# The model is an embedding, a pre-norm transformer encoder under a causal
# mask with rotary positional encodings (RoPE) in every self-attention, and
# a linear layer to the logits.
suppressPackageStartupMessages(library(Rmlx))

parse_args <- function(args) {
  opts <- list(
    epochs = 6L, dims = 128L, heads = 4L, layers = 2L, mlp_dims = 512L,
    seq_len = 128L, batch_size = 32L, lr = 1e-3, steps_per_epoch = 300L,
    seed = 1L, out = "out/austen_transformer.safetensors",
    prompt = "It is a truth universally acknowledged", sample_length = 400L
  )
  counts <- c(
    "--epochs" = "epochs", "--dims" = "dims", "--heads" = "heads",
    "--layers" = "layers", "--mlp-dims" = "mlp_dims",
    "--seq-len" = "seq_len", "--batch-size" = "batch_size",
    "--steps-per-epoch" = "steps_per_epoch", "--seed" = "seed",
    "--sample-length" = "sample_length"
  )
  i <- 1
  while (i <= length(args)) {
    key <- args[[i]]
    value <- if (i < length(args)) args[[i + 1]] else NA
    if (is.na(value)) {
      stop("option ", key, " needs a value", call. = FALSE)
    }
    if (key %in% names(counts)) {
      number <- suppressWarnings(as.integer(value))
      if (is.na(number) || number < 1L) {
        stop("option ", key, " must be a whole number of at least 1, not ",
             value, call. = FALSE)
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
  if (opts$dims %% opts$heads != 0 || (opts$dims / opts$heads) %% 2 != 0) {
    stop("--dims must be a multiple of --heads with an even size per head",
         call. = FALSE)
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

char_transformer <- mlx_module("CharTransformer",
  initialize = function(vocab_size, dims, heads, layers, mlp_dims) {
    self$embedding <- mlx_embedding(vocab_size, dims)
    self$encoder <- mlx_transformer_encoder(
      layers, dims, heads, mlp_dims = mlp_dims,
      rope = mlx_rope(dims / heads)
    )
    self$head <- mlx_linear(dims, vocab_size)
  },
  # Returns the logits (N, L, vocab_size) of the next character at every
  # position, each seeing only the positions up to its own.
  forward = function(x, mask) {
    h <- mlx_forward(self$embedding, x)
    mlx_forward(self$head, mlx_forward(self$encoder, h, mask))
  }
)
model <- char_transformer(length(vocab), opts$dims, opts$heads, opts$layers,
                          opts$mlp_dims)
print(model)
mask <- mlx_create_additive_causal_mask(opts$seq_len)

loss_fn <- function(model, x, y) {
  mlx_cross_entropy(mlx_forward(model, x, mask), y, reduction = "mean")
}
optimizer <- mlx_optimizer_adam(learning_rate = opts$lr)
step <- mlx_train_step(model, optimizer, loss_fn)

# Returns `count` windows of seq_len + 1 characters starting at `starts`,
# as int32 inputs and targets of shape (count, seq_len).
windows <- function(ids, starts) {
  index <- outer(starts, 0:opts$seq_len, `+`)
  tokens <- matrix(ids[index], length(starts))
  list(
    x = as_mlx(tokens[, seq_len(opts$seq_len), drop = FALSE], dtype = "int32"),
    y = as_mlx(tokens[, 1 + seq_len(opts$seq_len), drop = FALSE], dtype = "int32")
  )
}

# Returns the validation bits per character over consecutive windows of
# the validation text: the mean cross-entropy in nats over every predicted
# character, divided by log(2). Each window starts without context, as the
# training windows do; the last partial window is left out.
validation_bpc <- function() {
  mlx_set_training(model, FALSE)
  on.exit(mlx_set_training(model, TRUE))
  starts <- seq(1, length(valid_ids) - opts$seq_len, by = opts$seq_len)
  total <- 0
  for (chunk in split(starts, ceiling(seq_along(starts) / opts$batch_size))) {
    batch <- windows(valid_ids, chunk)
    logits <- mlx_forward(model, batch$x, mask)
    total <- total + as.numeric(mlx_cross_entropy(logits, batch$y, reduction = "sum"))
  }
  total / (length(starts) * opts$seq_len) / log(2)
}

max_start <- length(train_ids) - opts$seq_len
for (epoch in seq_len(opts$epochs)) {
  started <- Sys.time()
  total <- 0
  mean_loss <- NA_real_
  cli::cli_progress_bar(
    format = paste("epoch", epoch, "{cli::pb_bar} {cli::pb_current}/{cli::pb_total}",
                   "loss {sprintf('%.3f', mean_loss)} {cli::pb_eta}"),
    total = opts$steps_per_epoch
  )
  for (i in seq_len(opts$steps_per_epoch)) {
    batch <- windows(train_ids, sample.int(max_start, opts$batch_size))
    total <- total + as.numeric(step(batch$x, batch$y))
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

# Feeds `ids` (the context) through the model with a fresh cache and
# returns the cache and the logits of the last position.
start_context <- function(ids) {
  cache <- mlx_kv_cache()
  x <- mlx_forward(model$embedding, as_mlx(matrix(ids, 1), dtype = "int32"))
  h <- mlx_forward_cached(model$encoder, x,
                          mlx_create_additive_causal_mask(length(ids)),
                          cache = cache)
  logits <- as.array(mlx_forward(model$head, h))
  list(cache = cache, logits = logits[1, length(ids), ])
}

# Draws `length` characters after the prompt, one at a time, from
# softmax(logits / temperature). Each step runs only the new character
# through the model; the cache holds the keys and values of the earlier
# ones. The model never saw more than seq_len positions, so once the cache
# holds seq_len of them the context restarts from the last seq_len / 2
# characters.
generate <- function(prompt, length, temperature) {
  mlx_set_training(model, FALSE)
  on.exit(mlx_set_training(model, TRUE))
  ids <- mlx_char_encode(prompt, vocab)
  state <- start_context(utils::tail(ids, opts$seq_len))
  drawn <- integer(length)
  for (i in seq_len(length)) {
    logits <- state$logits / temperature
    probs <- exp(logits - max(logits))
    drawn[[i]] <- sample.int(length(vocab), 1, prob = probs)
    ids <- c(ids, drawn[[i]])
    if (mlx_kv_cache_length(state$cache) >= opts$seq_len) {
      state <- start_context(utils::tail(ids, opts$seq_len %/% 2))
      next
    }
    x <- mlx_forward(model$embedding, as_mlx(matrix(drawn[[i]], 1), dtype = "int32"))
    h <- mlx_forward_cached(model$encoder, x, cache = state$cache)
    state$logits <- as.array(mlx_forward(model$head, h))[1, 1, ]
  }
  paste0(prompt, mlx_char_decode(drawn, vocab))
}

for (temperature in c(0.5, 1.0)) {
  set.seed(opts$seed)
  cat(sprintf("\n--- temperature %.1f ---\n", temperature))
  cat(generate(opts$prompt, opts$sample_length, temperature), "\n")
}
