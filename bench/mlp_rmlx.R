# Times one MLP training epoch (784-256-128-10, batch 128, Adam) in Rmlx.
#
# Usage: Rscript bench/mlp_rmlx.R [EPOCHS]   (default 3)
# Prints one line: `rmlx epoch_s=<median seconds> loss=<last epoch mean>`.
# It mirrors mlp_mlx.py step for step: a new permutation of the training
# rows each epoch, applied once (mlx_batches()), n %/% 128 steps over
# consecutive slices of the shuffled copy, a
# compiled training step that evaluates the model, optimizer state and loss,
# and a lazy running sum of the losses evaluated once at the epoch's end.
suppressPackageStartupMessages(library(Rmlx))

args <- commandArgs(trailingOnly = TRUE)
epochs <- if (length(args) >= 1) as.integer(args[[1]]) else 3L
batch <- 128L

data <- mlx_fashion_mnist()
x_all <- as_mlx(data$train$x)
y_all <- as_mlx(as.integer(data$train$y))
n <- nrow(data$train$x)

set.seed(0)
model <- mlx_sequential(
  mlx_linear(784, 256), mlx_relu(),
  mlx_linear(256, 128), mlx_relu(),
  mlx_linear(128, 10)
)
optimizer <- mlx_optimizer_adam(learning_rate = 1e-3)
loss_fn <- function(model, x, y) {
  mlx_cross_entropy(mlx_forward(model, x), y, reduction = "mean")
}
step <- mlx_train_step(model, optimizer, loss_fn, compile = TRUE)

now <- function() as.numeric(Sys.time())
steps <- n %/% batch
times <- numeric(epochs)
for (epoch in seq_len(epochs)) {
  start <- now()
  batches <- mlx_batches(x_all, y_all, batch_size = batch)
  total <- as_mlx(0)
  for (b in batches) {
    loss <- step(b[[1]], b[[2]])
    total <- total + loss
  }
  mlx_eval(total)
  times[epoch] <- now() - start
  last <- as.numeric(total) / steps
}
cat(sprintf("rmlx epoch_s=%.4f loss=%.4f\n", stats::median(times), last))
