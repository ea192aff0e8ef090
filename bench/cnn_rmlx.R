# Times a CNN training epoch on Fashion-MNIST in Rmlx.
#
# Usage: Rscript bench/cnn_rmlx.R [STEPS]   (default: a whole epoch, 468 steps)
# Prints one line: `rmlx epoch_s=<seconds for 468 steps> loss=<mean loss>`,
# scaling the time of STEPS steps (at least 2) up to a whole epoch. The model and step
# mirror cnn_mlx.py and cnn_torch.py: conv 3x3 1->32, ReLU, max-pool 2,
# conv 3x3 32->64, ReLU, max-pool 2, linear 3136->128, ReLU, linear
# 128->10, batch 128, Adam with learning rate 1e-3, a compiled step.
# RMLX_CUSTOM_KERNELS=0 times MLX's own convolution and pooling instead.
# With RMLX_BENCH_THREADS=k above 1 (bench/run.sh sets it to the number of
# cores), the step splits each batch into k parts run side by side
# (mlx_train_step(threads = k)), where PyTorch splits each operation.
suppressPackageStartupMessages(library(Rmlx))

args <- commandArgs(trailingOnly = TRUE)
batch <- 128L
data <- mlx_fashion_mnist(flatten = FALSE)
n <- dim(data$train$x)[[1]]
epoch_steps <- n %/% batch
steps <- if (length(args) >= 1) max(2L, as.integer(args[[1]])) else epoch_steps
x_all <- as_mlx(data$train$x)
y_all <- as_mlx(as.integer(data$train$y))
if (identical(Sys.getenv("RMLX_CUSTOM_KERNELS"), "0")) {
  mlx_custom_kernels(FALSE)
}

set.seed(0)
cnn <- mlx_module("CNN",
  initialize = function() {
    self$conv1 <- mlx_conv2d(1, 32, kernel_size = 3, padding = 1)
    self$conv2 <- mlx_conv2d(32, 64, kernel_size = 3, padding = 1)
    self$pool <- mlx_max_pool2d(2)
    self$fc1 <- mlx_linear(3136, 128)
    self$fc2 <- mlx_linear(128, 10)
  },
  forward = function(x) {
    x <- mlx_forward(self$pool, mlx_act_relu(mlx_forward(self$conv1, x)))
    x <- mlx_forward(self$pool, mlx_act_relu(mlx_forward(self$conv2, x)))
    x <- mlx_act_relu(mlx_forward(self$fc1, mlx_flatten(x)))
    mlx_forward(self$fc2, x)
  }
)
model <- cnn()
optimizer <- mlx_optimizer_adam(learning_rate = 1e-3)
loss_fn <- function(model, x, y) {
  mlx_cross_entropy(mlx_forward(model, x), y, reduction = "mean")
}
threads <- as.integer(Sys.getenv("RMLX_BENCH_THREADS", "1"))
step <- mlx_train_step(model, optimizer, loss_fn,
  compile = !identical(Sys.getenv("RMLX_COMPILE"), "0"), threads = threads)

start <- as.numeric(Sys.time())
batches <- mlx_batches(x_all, y_all, batch_size = batch)
total <- as_mlx(0)
for (i in seq_len(steps)) {
  b <- batches[[i]]
  total <- total + step(b[[1]], b[[2]])
  if (i == 1) {
    mlx_eval(total)
    first <- as.numeric(Sys.time())
  }
}
mlx_eval(total)
# The first step, which traces and compiles, counts once; the mean of the
# others stands for the remaining steps of the epoch.
rest <- (as.numeric(Sys.time()) - first) * (epoch_steps - 1) / (steps - 1)
seconds <- (first - start) + rest
cat(sprintf("rmlx epoch_s=%.4f loss=%.4f\n", seconds, as.numeric(total) / steps))
