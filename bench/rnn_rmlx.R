# Times forward plus backward of an LSTM and a GRU layer in Rmlx.
#
# Usage: Rscript bench/rnn_rmlx.R [REPEATS]   (default 10)
# Prints one line: `rmlx lstm_ms=<median> gru_ms=<median>`, the milliseconds
# of one evaluated value and gradient of sum(h * w) with respect to every
# parameter, for input 64, hidden 256, 64 steps and batch 32. It mirrors
# rnn_mlx.py and rnn_torch.py. With RMLX_BENCH_KERNELS=0 it runs with
# mlx_custom_kernels(FALSE), the MLX operations MLX Python uses.
suppressPackageStartupMessages(library(Rmlx))

args <- commandArgs(trailingOnly = TRUE)
repeats <- if (length(args) >= 1) as.integer(args[[1]]) else 10L
if (identical(Sys.getenv("RMLX_BENCH_KERNELS"), "0")) {
  mlx_custom_kernels(FALSE)
}
batch <- 32L
steps <- 64L
input_size <- 64L
hidden_size <- 256L
# Untimed steps before the timed ones, as in rnn_torch.py, whose comment
# gives the reason.
warmup <- 10L

set.seed(0)
mlx_random_seed(0)
x <- as_mlx(array(rnorm(batch * steps * input_size),
                  c(batch, steps, input_size)))
w <- as_mlx(array(rnorm(batch * steps * hidden_size),
                  c(batch, steps, hidden_size)))

# Returns the median milliseconds of one evaluated value and gradient.
time_layer <- function(layer, loss_fn) {
  value_and_grad <- mlx_value_and_grad(layer, loss_fn)
  run_once <- function() {
    out <- value_and_grad(x, w)
    # One evaluation of the loss and every gradient, as mx.eval(loss,
    # grads) in the MLX Python scripts.
    do.call(mlx_eval, c(list(out$value), unname(out$grads)))
  }
  for (i in seq_len(warmup)) run_once()
  times <- numeric(repeats)
  for (i in seq_len(repeats)) {
    start <- as.numeric(Sys.time())
    run_once()
    times[i] <- as.numeric(Sys.time()) - start
  }
  1000 * stats::median(times)
}

lstm_ms <- time_layer(mlx_lstm(input_size, hidden_size), function(model, x, w) {
  sum(mlx_forward(model, x)[[1]] * w)
})
gru_ms <- time_layer(mlx_gru(input_size, hidden_size), function(model, x, w) {
  sum(mlx_forward(model, x) * w)
})
cat(sprintf("rmlx lstm_ms=%.1f gru_ms=%.1f\n", lstm_ms, gru_ms))
