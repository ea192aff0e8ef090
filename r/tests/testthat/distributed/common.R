# Shared by the worker scripts in this folder and by test-distributed.R,
# which computes the single-process results with the same functions.

# Gradients that differ between ranks, as R arrays.
rank_gradients <- function(rank) {
  list(
    "a.weight" = matrix(seq_len(6) * (rank + 1), 2, 3),
    "a.bias" = c(rank, rank^2, -1),
    "b.weight" = array(seq_len(8) / (rank + 2), c(2, 2, 2))
  )
}

# Trains a small MLP on fixed random data with a global batch of 12 rows and
# returns its parameters as R arrays. With a group, each rank takes its
# share of every global batch and the step averages the gradients. With
# `threads` above 1, each rank splits its share into that many parts.
train_mlp <- function(group = NULL, epochs = 2, threads = 1L) {
  set.seed(7)
  x <- matrix(rnorm(48 * 4), 48, 4)
  y <- factor(sample(1:3, 48, replace = TRUE))
  model <- mlx_sequential(mlx_linear(4, 8), mlx_relu(), mlx_linear(8, 3))
  loss_fn <- function(model, x, y) {
    mlx_cross_entropy(mlx_forward(model, x), y, reduction = "mean")
  }
  optimizer <- mlx_optimizer_adam(learning_rate = 0.01)
  step <- mlx_train_step(model, optimizer, loss_fn, group = group,
                         threads = threads)
  for (epoch in seq_len(epochs)) {
    for (batch in mlx_batches(x, y, batch_size = 12, group = group)) {
      step(batch[[1]], batch[[2]])
    }
  }
  lapply(mlx_parameters(model), as.array)
}
