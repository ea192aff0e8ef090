# Times data-parallel training of the Fashion-MNIST MLP (784-256-128-10,
# Adam) on N local processes over MLX's ring backend, and the cost of one
# gradient reduction alone. The global batch (default 120 rows, which 1, 2
# and 3 processes divide evenly) is split between the processes.
#
# Usage: Rscript bench/distributed_mlp.R [--procs N] [--steps S]
#          [--reductions R] [--batch-size B]
# Prints one line from rank 0: processes, milliseconds per training step
# (median of S steps after 20 warm-up steps) and milliseconds per
# mlx_average_gradients() call on gradients of the MLP's shapes (median of
# R calls, each evaluated). With --procs 1 the reduction returns its input.
suppressPackageStartupMessages(library(Rmlx))

option <- function(args, name, default) {
  at <- which(args == name)
  if (length(at)) as.integer(args[[at + 1]]) else default
}
args <- commandArgs(trailingOnly = TRUE)
procs <- option(args, "--procs", 1L)
steps <- option(args, "--steps", 200L)
reductions <- option(args, "--reductions", 200L)
batch_size <- option(args, "--batch-size", 120L)

if (procs > 1 && !nzchar(Sys.getenv("MLX_RANK"))) {
  script <- sub("^--file=", "", grep("^--file=", commandArgs(), value = TRUE))
  mlx_launch_local(script, n = procs, args = args, timeout = 1800)
  quit(save = "no")
}

group <- mlx_distributed_init()
rank <- mlx_group_rank(group)
size <- mlx_group_size(group)
set.seed(1)

data <- mlx_fashion_mnist(flatten = TRUE)
model <- mlx_sequential(
  mlx_linear(784, 256), mlx_relu(),
  mlx_linear(256, 128), mlx_relu(),
  mlx_linear(128, 10)
)
loss_fn <- function(model, x, y) {
  mlx_cross_entropy(mlx_forward(model, x), y, reduction = "mean")
}
step <- mlx_train_step(model, mlx_optimizer_adam(learning_rate = 1e-3),
                       loss_fn, group = group)
batches <- mlx_batches(as_mlx(data$train$x), as_mlx(as.integer(data$train$y)),
                       batch_size = batch_size, group = group)

# Lines the ranks up before each timed section.
barrier <- function() invisible(as.numeric(mlx_all_sum(1, group)))

milliseconds <- function(started) {
  as.numeric(difftime(Sys.time(), started, units = "secs")) * 1000
}

for (i in seq_len(20)) {
  step(batches[[i]][[1]], batches[[i]][[2]])
}
barrier()
step_times <- vapply(seq_len(steps), function(i) {
  batch <- batches[[(i - 1) %% length(batches) + 1]]
  started <- Sys.time()
  step(batch[[1]], batch[[2]])
  milliseconds(started)
}, numeric(1))

grads <- lapply(mlx_parameters(model), function(p) {
  mlx_full(dim(p), 0.5, dtype = "float32")
})
do.call(mlx_eval, unname(grads))
barrier()
reduction_times <- vapply(seq_len(reductions), function(i) {
  started <- Sys.time()
  do.call(mlx_eval, unname(mlx_average_gradients(grads, group)))
  milliseconds(started)
}, numeric(1))

if (rank == 0) {
  cat(sprintf(
    "procs %d  batch %d  step %.2f ms (median of %d)  reduction %.3f ms (median of %d, %.0f KB)\n",
    size, batch_size, stats::median(step_times), steps, stats::median(reduction_times),
    reductions, sum(vapply(grads, function(g) length(g) * 4, numeric(1))) / 1024
  ))
}
