# Times forward plus backward of a 2-layer transformer encoder in Rmlx, and
# cached generation beside recomputation.
#
# Usage: Rscript bench/transformer_rmlx.R [REPEATS]   (default 10)
# Prints one line: `rmlx encoder_ms=<median> cached_tok_s=<rate>
# recompute_tok_s=<rate>`. encoder_ms is the milliseconds of one evaluated
# value and gradient of sum(y * w) with respect to every parameter of
# mlx_transformer_encoder(2, 256, 4, mlp_dims = 1024) under a causal mask,
# for sequence 128 and batch 16, as transformer_mlx.py and
# transformer_torch.py time it. The two rates are positions per second
# when the same encoder, in evaluation mode with batch 1, extends a
# sequence from 1 to 128 positions one position at a time, with
# mlx_forward_cached() or by running the whole prefix again at each step.
# With RMLX_BENCH_THREADS=k above 1 (bench/run.sh sets it to the number of
# cores), the value and gradient split the batch into k parts run side by
# side (mlx_value_and_grad(threads = k)), where PyTorch splits each
# operation.
suppressPackageStartupMessages(library(Rmlx))

args <- commandArgs(trailingOnly = TRUE)
repeats <- if (length(args) >= 1) as.integer(args[[1]]) else 10L
layers <- 2L
dims <- 256L
heads <- 4L
mlp <- 1024L
seq_len <- 128L
batch <- 16L

set.seed(0)
mlx_random_seed(0)
model <- mlx_transformer_encoder(layers, dims, heads, mlp_dims = mlp)
x <- as_mlx(array(rnorm(batch * seq_len * dims), c(batch, seq_len, dims)))
w <- as_mlx(array(rnorm(batch * seq_len * dims), c(batch, seq_len, dims)))
mask <- mlx_create_additive_causal_mask(seq_len)

threads <- as.integer(Sys.getenv("RMLX_BENCH_THREADS", "1"))
value_and_grad <- mlx_value_and_grad(model, function(model, x, w) {
  sum(mlx_forward(model, x, mask) * w)
}, threads = threads, reduction = "sum")
run_once <- function() {
  out <- value_and_grad(x, w)
  # One evaluation of the loss and every gradient, as mx.eval(loss, grads)
  # in transformer_mlx.py.
  do.call(mlx_eval, c(list(out$value), unname(out$grads)))
}
for (i in 1:2) run_once()
times <- numeric(repeats)
for (i in seq_len(repeats)) {
  start <- as.numeric(Sys.time())
  run_once()
  times[i] <- as.numeric(Sys.time()) - start
}
encoder_ms <- 1000 * stats::median(times)

# Generation: the positions of one sequence, one at a time.
mlx_set_training(model, FALSE)
sequence <- as_mlx(array(rnorm(seq_len * dims), c(1, seq_len, dims)))
step_input <- function(t) sequence[, t, , drop = FALSE]

start <- as.numeric(Sys.time())
cache <- mlx_kv_cache()
for (t in seq_len(seq_len)) {
  mlx_eval(mlx_forward_cached(model, step_input(t), cache = cache))
}
cached_s <- as.numeric(Sys.time()) - start

start <- as.numeric(Sys.time())
for (t in seq_len(seq_len)) {
  prefix <- sequence[, seq_len(t), , drop = FALSE]
  y <- mlx_forward(model, prefix, mlx_create_additive_causal_mask(t))
  mlx_eval(y[, t, , drop = FALSE])
}
recompute_s <- as.numeric(Sys.time()) - start

cat(sprintf(
  "rmlx encoder_ms=%.1f cached_tok_s=%.0f recompute_tok_s=%.0f\n",
  encoder_ms, seq_len / cached_s, seq_len / recompute_s
))
