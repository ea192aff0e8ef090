# Times a 1024x1024 float32 matrix product through Rmlx and prints
# `rmlx gflops=<best of 10>`. Each timed call builds the lazy `a %*% b` and
# evaluates it, so the figure includes the R call overhead (a few
# microseconds, small next to the product's milliseconds).
suppressPackageStartupMessages(library(Rmlx))

n <- 1024L
runs <- 10L
set.seed(0)
a <- as_mlx(matrix(runif(n * n), n, n))
b <- as_mlx(matrix(runif(n * n), n, n))
mlx_eval(a, b)

# proc.time() counts whole milliseconds; Sys.time() resolves microseconds.
now <- function() as.numeric(Sys.time())

for (i in 1:2) mlx_eval(a %*% b)
best <- Inf
for (i in seq_len(runs)) {
  start <- now()
  mlx_eval(a %*% b)
  best <- min(best, now() - start)
}
cat(sprintf("rmlx gflops=%.1f\n", 2 * n^3 / best / 1e9))
