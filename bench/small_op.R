# Times one small evaluated op, x + y on 10 float32 elements, from R.
#
# Prints `rmlx op_us=<median>`, the microseconds per `mlx_eval(x + y)` as
# small_op.py measures them, and `rmlx_lazy op_us=<median>`, the
# microseconds per `x + y` alone: building the lazy graph node through the
# R API (S3 dispatch, argument checks, the C++ call), with no evaluation.
suppressPackageStartupMessages(library(Rmlx))

now <- function() as.numeric(Sys.time())

# Mirrors median_us() in small_op.py: 1000 warm-up calls, then the median
# of 5 repeats of `repeats` calls each.
median_us <- function(fn, repeats = 20000L) {
  for (i in 1:1000) fn()
  samples <- numeric(5)
  for (r in 1:5) {
    start <- now()
    for (i in seq_len(repeats)) fn()
    samples[r] <- (now() - start) / repeats * 1e6
  }
  stats::median(samples)
}

x <- mlx_arange(0, 10, dtype = "float32")
y <- mlx_ones(10, dtype = "float32")
mlx_eval(x, y)

cat(sprintf("rmlx op_us=%.3f\n", median_us(function() mlx_eval(x + y))))
cat(sprintf("rmlx_lazy op_us=%.3f\n", median_us(function() x + y)))
