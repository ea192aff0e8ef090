# Times forward plus backward of Conv2d and MaxPool2d in Rmlx.
#
# Usage: Rscript bench/conv_pool_rmlx.R [RUNS] [CASE ...]
#   (default 10 runs, all cases)
# Prints one line per case, `<case> ms=<median of RUNS timed runs after 2
# warm-up runs>`, for the cases of conv_cases.py. Each run computes
# y = layer(x), the loss sum(y * g) for a fixed random g, and the gradients
# of the loss with respect to x and the layer's parameters with
# mlx_value_and_grad(), uncompiled as in the Python scripts, then evaluates
# them. mlx_value_and_grad() differentiates with respect to a module's
# parameters only, so x is held as a parameter of a small wrapper module
# (Probe below); that gives the input gradient through the same API.
# RMLX_CUSTOM_KERNELS=0 times MLX's own convolution and pooling instead of
# Rmlx's CPU kernels.
suppressPackageStartupMessages(library(Rmlx))

args <- commandArgs(trailingOnly = TRUE)
runs <- if (length(args) >= 1) as.integer(args[[1]]) else 10L
if (identical(Sys.getenv("RMLX_CUSTOM_KERNELS"), "0")) {
  mlx_custom_kernels(FALSE)
}

# kind, batch, height and width, input channels, output channels
cases <- list(
  conv28 = list("conv", 128, 28, 1, 32),
  conv14 = list("conv", 128, 14, 32, 64),
  conv64 = list("conv", 32, 64, 64, 128),
  pool28 = list("pool", 128, 28, 32, 32),
  pool14 = list("pool", 128, 14, 64, 64),
  pool64 = list("pool", 32, 64, 128, 128)
)

now <- function() as.numeric(Sys.time())

median_ms <- function(fn, runs) {
  for (i in 1:2) fn()
  samples <- numeric(runs)
  for (r in seq_len(runs)) {
    start <- now()
    fn()
    samples[r] <- (now() - start) * 1e3
  }
  stats::median(samples)
}

probe <- mlx_module("Probe",
  initialize = function(layer, x) {
    self$layer <- layer
    self$x <- x
  },
  forward = function(g) mlx_sum(mlx_forward(self$layer, self$x) * g)
)

# Returns a function that runs forward and backward once and evaluates.
make_step <- function(kind, batch, size, c_in, c_out) {
  random_array <- function(...) as_mlx(array(stats::rnorm(prod(c(...))), c(...)))
  x <- random_array(batch, size, size, c_in)
  if (kind == "conv") {
    layer <- mlx_conv2d(c_in, c_out, kernel_size = 3, padding = 1)
    out_size <- size
  } else {
    layer <- mlx_max_pool2d(2)
    out_size <- size %/% 2
  }
  g <- random_array(batch, out_size, out_size, c_out)
  mlx_eval(x, g)
  grad_fn <- mlx_value_and_grad(probe(layer, x),
                                function(model, g) mlx_forward(model, g))
  function() {
    out <- grad_fn(g)
    do.call(mlx_eval, c(list(out$value), unname(out$grads)))
  }
}

selected <- if (length(args) >= 2) args[-1] else names(cases)
unknown <- setdiff(selected, names(cases))
if (length(unknown)) {
  stop(sprintf("unknown case '%s'; expected one of %s", unknown[[1]],
               paste(names(cases), collapse = ", ")), call. = FALSE)
}

set.seed(0)
for (name in selected) {
  step <- do.call(make_step, cases[[name]])
  cat(sprintf("%s ms=%.3f\n", name, median_ms(step, runs)))
}
