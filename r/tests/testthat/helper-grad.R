# Helpers for the module tests: fixture loading and finite-difference
# gradient checks.

# Reads tests/testthat/fixtures/<name>.safetensors as a named list of R
# arrays. The fixtures are written by tools/fixtures/make_layer_fixtures.py
# and make_optimizer_fixtures.py from MLX Python 0.32.4 and PyTorch.
read_fixture <- function(name) {
  path <- test_path("fixtures", paste0(name, ".safetensors"))
  lapply(mlx_load_safetensors(path), as.array)
}

# Central finite differences of `loss()` (a function of no arguments
# returning a scalar MLX array) with respect to every element of the
# parameter `name` of `module`, computed in R with step `h`.
finite_difference_grad <- function(module, name, loss, h = 1e-4) {
  base <- mlx_param_values(module)[[name]]
  grad <- base
  for (i in seq_along(base)) {
    shifted <- base
    shifted[i] <- base[i] + h
    mlx_param_set_values(module, stats::setNames(list(shifted), name))
    up <- as.numeric(as.array(loss()))
    shifted[i] <- base[i] - h
    mlx_param_set_values(module, stats::setNames(list(shifted), name))
    down <- as.numeric(as.array(loss()))
    grad[i] <- (up - down) / (2 * h)
  }
  mlx_param_set_values(module, stats::setNames(list(base), name))
  grad
}

# Checks the gradients of `loss_fn(module, ...)` from mlx_value_and_grad()
# against finite differences, for every trainable parameter. The module is
# converted to float64 first, and so must the inputs be.
expect_grad_matches_fd <- function(module, loss_fn, ..., h = 1e-4,
                                   tolerance = 1e-6, label = "") {
  inputs <- list(...)
  analytic <- do.call(mlx_value_and_grad(module, loss_fn), inputs)$grads
  loss <- function() do.call(loss_fn, c(list(module), inputs))
  params <- names(mlx_parameters(module, trainable = TRUE))
  expect_setequal(names(analytic), params)
  for (name in params) {
    numeric_grad <- finite_difference_grad(module, name, loss, h)
    analytic_grad <- as.array(analytic[[name]])
    what <- paste(label, "gradient of", name)
    expect_identical(dim(analytic_grad), dim(numeric_grad), label = what)
    expect_equal(c(analytic_grad), c(numeric_grad), tolerance = tolerance,
                 label = what)
  }
}

as_f64 <- function(x) as_mlx(x, dtype = "float64")

# sin(0), sin(1), ... laid out in row-major order over `shape`, the weights
# of the fixtures' loss sum(y * weights).
sine_weights <- function(shape) {
  values <- sin(seq_len(prod(shape)) - 1)
  aperm(array(values, rev(shape)), rev(seq_along(shape)))
}

# The fixtures' loss sum(y * sine_weights(dim(y))).
sine_weighted_sum <- function(y) {
  mlx_sum(y * as_mlx(sine_weights(dim(y))))
}

# A module whose parameters are the arrays given, so that
# mlx_value_and_grad() differentiates with respect to each of them. Only the
# loss functions read the parameters, and nothing calls forward().
gradient_probe <- mlx_module("GradientProbe",
  initialize = function(arrays) {
    for (name in names(arrays)) self[[name]] <- arrays[[name]]
  },
  forward = function(x) x
)
