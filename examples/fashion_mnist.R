# The main job: trains a classifier on Fashion-MNIST from Debian's
# dataset-fashion-mnist and saves its weights.
#
# Usage: Rscript examples/fashion_mnist.R [--model cnn|mlp] [--epochs N]
#          [--batch-size N] [--learning-rate X] [--no-compile] [--out FILE]
#          [--seed N] [--procs N] [--threads N]
# The CNN (two convolution and max-pooling blocks, then a 3136-128-10 head)
# is the default and trains for 5 epochs; the MLP (784-256-128-10) trains
# for 10 and takes about a second per epoch.
#
# Data parallel: --procs N starts N processes of this script on this
# machine with mlx_launch_local(). Each takes its share of every global
# batch of --batch-size rows, the gradients are averaged over the
# processes each step, and rank 0 prints the progress and saves the
# weights. Started by MLX Python's mlx.launch (MLX_RANK set), the script
# joins that run in the same way.
#
# --threads N splits each process's batch into N parts that run side by
# side (mlx_train_step(threads = N)); the default is the processors this
# process may use divided by the number of processes.
suppressPackageStartupMessages(library(Rmlx))

parse_args <- function(args) {
  opts <- list(
    model = "cnn", epochs = NULL, batch_size = 128L, learning_rate = 1e-3,
    compile = TRUE, out = NULL, seed = 1L, procs = 1L, threads = NULL
  )
  i <- 1
  while (i <= length(args)) {
    key <- args[[i]]
    value <- if (i < length(args)) args[[i + 1]] else NA
    switch(key,
      "--model" = opts$model <- match.arg(value, c("cnn", "mlp")),
      "--epochs" = opts$epochs <- as.integer(value),
      "--batch-size" = opts$batch_size <- as.integer(value),
      "--learning-rate" = opts$learning_rate <- as.numeric(value),
      "--out" = opts$out <- value,
      "--seed" = opts$seed <- as.integer(value),
      "--procs" = opts$procs <- as.integer(value),
      "--threads" = opts$threads <- as.integer(value),
      "--no-compile" = {
        opts$compile <- FALSE
        i <- i - 1
      },
      stop("unknown option ", key, call. = FALSE)
    )
    i <- i + 2
  }
  if (is.null(opts$epochs)) {
    opts$epochs <- if (opts$model == "cnn") 5L else 10L
  }
  if (is.null(opts$out)) {
    opts$out <- sprintf("out/fashion_mnist_%s.safetensors", opts$model)
  }
  opts
}

args <- commandArgs(trailingOnly = TRUE)
opts <- parse_args(args)

# With --procs N, this process only starts the N ranks and waits for them.
if (opts$procs > 1 && !nzchar(Sys.getenv("MLX_RANK"))) {
  script <- sub("^--file=", "", grep("^--file=", commandArgs(), value = TRUE))
  procs_at <- which(args == "--procs")
  mlx_launch_local(script, n = opts$procs, args = args[-c(procs_at, procs_at + 1)])
  quit(save = "no")
}

group <- mlx_distributed_init()
rank <- mlx_group_rank(group)
size <- mlx_group_size(group)
# Only rank 0 prints.
say <- function(...) if (rank == 0) cat(...)
set.seed(opts$seed)

data <- mlx_fashion_mnist(flatten = opts$model == "mlp")
x_train <- as_mlx(data$train$x)
y_train <- as_mlx(as.integer(data$train$y))
x_test <- as_mlx(data$test$x)
y_test <- as.integer(data$test$y)
say(sprintf(
  "Fashion-MNIST: %d training and %d test images, %d classes\n",
  nrow(data$train$x), length(y_test), nlevels(data$train$y)
))
if (size > 1) {
  say(sprintf("%d processes, %d images of each batch of %d per process\n",
              size, opts$batch_size %/% size, opts$batch_size))
}

# The CNN's layers and forward pass are written in R: images are
# (N, 28, 28, 1), channels last as MLX expects.
cnn <- mlx_module("CNN",
  initialize = function() {
    self$conv1 <- mlx_conv2d(1, 32, kernel_size = 3, padding = 1)
    self$conv2 <- mlx_conv2d(32, 64, kernel_size = 3, padding = 1)
    self$pool <- mlx_max_pool2d(2)
    self$fc1 <- mlx_linear(7 * 7 * 64, 128)
    self$fc2 <- mlx_linear(128, 10)
  },
  forward = function(x) {
    x <- mlx_forward(self$pool, mlx_act_relu(mlx_forward(self$conv1, x)))
    x <- mlx_forward(self$pool, mlx_act_relu(mlx_forward(self$conv2, x)))
    x <- mlx_act_relu(mlx_forward(self$fc1, mlx_flatten(x)))
    mlx_forward(self$fc2, x)
  }
)

model <- if (opts$model == "cnn") {
  cnn()
} else {
  mlx_sequential(
    mlx_linear(784, 256), mlx_relu(),
    mlx_linear(256, 128), mlx_relu(),
    mlx_linear(128, 10)
  )
}
if (rank == 0) print(model)

loss_fn <- function(model, x, y) {
  mlx_cross_entropy(mlx_forward(model, x), y, reduction = "mean")
}
optimizer <- mlx_optimizer_adam(learning_rate = opts$learning_rate)
threads <- opts$threads
if (is.null(threads)) {
  threads <- max(1L, mlx_num_threads() %/% size)
}
step <- mlx_train_step(model, optimizer, loss_fn, compile = opts$compile,
                       group = group, threads = threads)

# Test accuracy in chunks of 1,000 images, which bounds the memory of the
# CNN's activations.
accuracy <- function() {
  mlx_set_training(model, FALSE)
  on.exit(mlx_set_training(model, TRUE))
  chunks <- mlx_batches(x_test, batch_size = 1000, shuffle = FALSE,
                        drop_last = FALSE)
  predicted <- unlist(lapply(chunks, function(chunk) {
    as.integer(mlx_argmax(mlx_forward(model, chunk[[1]]), axis = 2))
  }))
  mean(predicted == y_test)
}

# The progress bar only in a single process: a launched rank's output is a
# pipe, where the bar would print a line per update.
show_bar <- size == 1

for (epoch in seq_len(opts$epochs)) {
  started <- Sys.time()
  batches <- mlx_batches(x_train, y_train, batch_size = opts$batch_size,
                         group = group)
  total <- as_mlx(0)
  if (show_bar) {
    cli::cli_progress_bar(sprintf("epoch %d", epoch), total = length(batches))
  }
  for (batch in batches) {
    total <- total + step(batch[[1]], batch[[2]])
    if (show_bar) cli::cli_progress_update()
  }
  if (show_bar) cli::cli_progress_done()
  # The mean of the ranks' mean losses is the mean loss of the global batches.
  total <- mlx_all_sum(total, group) / size
  train_loss <- as.numeric(total) / length(batches)
  seconds <- as.numeric(difftime(Sys.time(), started, units = "secs"))
  if (rank == 0) {
    cat(sprintf(
      "epoch %2d  train loss %.4f  test accuracy %.4f  (%.1f s)\n",
      epoch, train_loss, accuracy(), seconds
    ))
  }
}

if (rank == 0) {
  dir.create(dirname(opts$out), showWarnings = FALSE, recursive = TRUE)
  mlx_save_weights(model, opts$out)
  cat(sprintf("final test accuracy %.4f; weights saved to %s\n", accuracy(), opts$out))
}
