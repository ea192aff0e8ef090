#' Activation layers
#'
#' Each function returns a layer (an MLX module) applying one activation, as
#' the MLX Python class of the same name does: the layer of class `Name` is
#' `mlx_<name in snake_case>()`. The same activations as functions of an
#' array are `mlx_act_<name>()`, listed in [activation_functions], which also
#' gives each formula.
#'
#' - `mlx_relu()`, `mlx_relu2()`, `mlx_relu6()`, `mlx_leaky_relu()`,
#'   `mlx_prelu()`: the rectifier family. `mlx_prelu()` learns its slope
#'   `weight` for negative inputs, one value or one per channel (the last
#'   axis).
#' - `mlx_elu()`, `mlx_celu()`, `mlx_selu()`: exponential linear units.
#' - `mlx_gelu()`: \eqn{x \Phi(x)}; `approx = "precise"` (or its PyTorch name
#'   `"tanh"`) uses the tanh approximation, `"fast"` uses
#'   \eqn{x \sigma(1.702 x)}.
#' - `mlx_sigmoid()`, `mlx_log_sigmoid()`, `mlx_tanh()`, `mlx_silu()`,
#'   `mlx_mish()`, `mlx_softplus()`, `mlx_softsign()`, `mlx_hardswish()`.
#' - `mlx_softshrink()`, `mlx_hard_shrink()`, `mlx_hard_tanh()`, `mlx_step()`:
#'   piecewise linear or constant functions.
#' - `mlx_softmax_layer()`, `mlx_softmin()`, `mlx_log_softmax()`: over the
#'   last axis (MLX's `Softmax`, `Softmin` and `LogSoftmax` have no axis
#'   option). `mlx_glu()` splits along `axis`.
#'
#' @param approx For `mlx_gelu()`: `"none"` (the default), `"precise"`,
#'   `"tanh"` or `"fast"`.
#' @param negative_slope For `mlx_leaky_relu()`: the slope \eqn{\alpha} for
#'   negative inputs. Default: `0.01`.
#' @param alpha For `mlx_elu()` and `mlx_celu()`: the scale \eqn{\alpha} of
#'   the negative part; nonzero for `mlx_celu()`. Default: `1`.
#' @param axis For `mlx_glu()`: the axis to split in halves, 1-based or
#'   negative from the end, checked when the layer runs. Default: `-1`.
#' @param lambd For `mlx_softshrink()` (at least 0) and `mlx_hard_shrink()`:
#'   the threshold \eqn{\lambda}. Default: `0.5`.
#' @param min_val,max_val For `mlx_hard_tanh()`: the output range, with
#'   `min_val <= max_val`. Defaults: `-1` and `1`. MLX Python's `HardTanh`
#'   has no such options and always uses the defaults.
#' @param threshold For `mlx_step()`: the input at which the output becomes
#'   1. Default: `0`.
#' @param num_parameters For `mlx_prelu()`: the number of slopes, 1 or the
#'   size of the input's last axis. Default: `1`.
#' @param init For `mlx_prelu()`: the initial slope. Default: `0.25`.
#' @return An MLX module, of class `mlx_<name>` (for example `mlx_hard_tanh`).
#' @examples
#' model <- mlx_sequential(mlx_linear(2, 4), mlx_gelu(), mlx_linear(4, 1))
#' mlx_forward(mlx_relu(), c(-1, 0, 2))
#' mlx_forward(mlx_hard_tanh(-2, 2), c(-3, 0, 3))
#' mlx_parameters(mlx_prelu(3))
#' @name activation_layers
NULL

activation_layer <- function(name, first = 0, second = 0, axis = -1L,
                             approx = "none") {
  new_module_object(nn_activation_layer_(name, first, second, axis, approx))
}

#' @rdname activation_layers
#' @export
mlx_relu <- function() activation_layer("relu")

#' @rdname activation_layers
#' @export
mlx_relu2 <- function() activation_layer("relu2")

#' @rdname activation_layers
#' @export
mlx_relu6 <- function() activation_layer("relu6")

#' @rdname activation_layers
#' @export
mlx_leaky_relu <- function(negative_slope = 0.01) {
  check_number(negative_slope)
  activation_layer("leaky_relu", negative_slope)
}

#' @rdname activation_layers
#' @export
mlx_prelu <- function(num_parameters = 1, init = 0.25) {
  check_count(num_parameters, min = 1)
  check_number(init)
  new_module_object(nn_prelu_layer_(num_parameters, init))
}

#' @rdname activation_layers
#' @export
mlx_elu <- function(alpha = 1) {
  check_number(alpha)
  activation_layer("elu", alpha)
}

#' @rdname activation_layers
#' @export
mlx_celu <- function(alpha = 1) {
  check_celu_alpha(alpha)
  activation_layer("celu", alpha)
}

#' @rdname activation_layers
#' @export
mlx_selu <- function() activation_layer("selu")

#' @rdname activation_layers
#' @export
mlx_gelu <- function(approx = c("none", "precise", "tanh", "fast")) {
  approx <- rlang::arg_match(approx)
  activation_layer("gelu", approx = approx)
}

#' @rdname activation_layers
#' @export
mlx_sigmoid <- function() activation_layer("sigmoid")

#' @rdname activation_layers
#' @export
mlx_log_sigmoid <- function() activation_layer("log_sigmoid")

#' @rdname activation_layers
#' @export
mlx_tanh <- function() activation_layer("tanh")

#' @rdname activation_layers
#' @export
mlx_silu <- function() activation_layer("silu")

#' @rdname activation_layers
#' @export
mlx_mish <- function() activation_layer("mish")

#' @rdname activation_layers
#' @export
mlx_softplus <- function() activation_layer("softplus")

#' @rdname activation_layers
#' @export
mlx_softsign <- function() activation_layer("softsign")

#' @rdname activation_layers
#' @export
mlx_hardswish <- function() activation_layer("hardswish")

#' @rdname activation_layers
#' @export
mlx_softshrink <- function(lambd = 0.5) {
  check_lambd(lambd)
  activation_layer("softshrink", lambd)
}

#' @rdname activation_layers
#' @export
mlx_hard_shrink <- function(lambd = 0.5) {
  check_number(lambd)
  activation_layer("hard_shrink", lambd)
}

#' @rdname activation_layers
#' @export
mlx_hard_tanh <- function(min_val = -1, max_val = 1) {
  check_hard_tanh_range(min_val, max_val)
  activation_layer("hard_tanh", min_val, max_val)
}

#' @rdname activation_layers
#' @export
mlx_step <- function(threshold = 0) {
  check_number(threshold)
  activation_layer("step", threshold)
}

#' @rdname activation_layers
#' @export
mlx_softmax_layer <- function() activation_layer("softmax")

#' @rdname activation_layers
#' @export
mlx_softmin <- function() activation_layer("softmin")

#' @rdname activation_layers
#' @export
mlx_log_softmax <- function() activation_layer("log_softmax")

#' @rdname activation_layers
#' @export
mlx_glu <- function(axis = -1) {
  activation_layer("glu", axis = layer_axis(axis))
}

#' Activation functions
#'
#' The functional activations: `mlx_act_<name>(x)` applies the activation of
#' the layer `mlx_<name>()` (see [activation_layers]) to an array, for
#' forward passes written in R. They are lazy like every MLX operation and
#' keep the floating-point type of `x`, except `mlx_act_step()`, which
#' returns int32 as MLX does.
#'
#' | Function | Value |
#' |---|---|
#' | `mlx_act_relu` | \eqn{\max(x, 0)} |
#' | `mlx_act_relu2` | \eqn{\max(x, 0)^2} |
#' | `mlx_act_relu6` | \eqn{\min(\max(x, 0), 6)} |
#' | `mlx_act_leaky_relu` | \eqn{\max(\alpha x, x)}, \eqn{\alpha} = `negative_slope` |
#' | `mlx_act_prelu` | \eqn{\max(x, 0) + a \min(x, 0)}, \eqn{a} = `alpha` |
#' | `mlx_act_elu` | \eqn{x} if \eqn{x > 0}, else \eqn{\alpha (e^x - 1)} |
#' | `mlx_act_celu` | \eqn{\max(x, 0) + \alpha (e^{\min(x, 0) / \alpha} - 1)} |
#' | `mlx_act_selu` | \eqn{\lambda} `mlx_act_elu(x, alpha = a)`, \eqn{\lambda \approx 1.0507}, \eqn{a \approx 1.6733} |
#' | `mlx_act_gelu` | \eqn{x \Phi(x)} |
#' | `mlx_act_gelu_approx` | \eqn{x (1 + \tanh(\sqrt{2/\pi} (x + 0.044715 x^3))) / 2} |
#' | `mlx_act_gelu_fast_approx` | \eqn{x \sigma(1.702 x)} |
#' | `mlx_act_sigmoid` | \eqn{\sigma(x) = 1 / (1 + e^{-x})} |
#' | `mlx_act_log_sigmoid` | \eqn{\log \sigma(x) = -\log(1 + e^{-x})} |
#' | `mlx_act_tanh` | \eqn{\tanh(x)} |
#' | `mlx_act_silu` | \eqn{x \sigma(x)} |
#' | `mlx_act_mish` | \eqn{x \tanh(\log(1 + e^x))} |
#' | `mlx_act_softplus` | \eqn{\log(1 + e^x)} |
#' | `mlx_act_softsign` | \eqn{x / (1 + |x|)} |
#' | `mlx_act_hardswish` | \eqn{x \min(\max(x + 3, 0), 6) / 6} |
#' | `mlx_act_softshrink` | \eqn{x - \lambda \mathrm{sign}(x)} if \eqn{|x| > \lambda}, else 0 |
#' | `mlx_act_hard_shrink` | \eqn{x} if \eqn{|x| > \lambda}, else 0 |
#' | `mlx_act_hard_tanh` | \eqn{\min(\max(x, \mathrm{min\_val}), \mathrm{max\_val})} |
#' | `mlx_act_step` | 1 if \eqn{x \ge} `threshold`, else 0 |
#' | `mlx_act_softmax` | \eqn{e^{x_i} / \sum_j e^{x_j}} along `axis` |
#' | `mlx_act_softmin` | \eqn{e^{-x_i} / \sum_j e^{-x_j}} along `axis` |
#' | `mlx_act_log_softmax` | \eqn{x_i - \log \sum_j e^{x_j}} along `axis` |
#' | `mlx_act_glu` | \eqn{a \sigma(b)}, with \eqn{a, b} the halves of `x` along `axis` |
#'
#' @section Differences from MLX Python 0.32.4:
#' `mlx_act_softplus()`, `mlx_act_log_sigmoid()` and `mlx_act_log_softmax()`
#' stay finite and exact for inputs of any magnitude, as MLX's are.
#' `mlx_act_elu()`, `mlx_act_celu()` and `mlx_act_selu()` compute
#' \eqn{e^x - 1} with `expm1` on \eqn{\min(x, 0)}, so values near 0 keep
#' their relative precision and the gradient stays finite for \eqn{x > 88}
#' in float32, where MLX Python's gradient of `elu` is `NaN`.
#' `mlx_act_selu()` uses the exact constants \eqn{\lambda =
#' 1.0507009873554805} and \eqn{a = 1.6732632423543772}, as PyTorch does.
#' MLX Python rounds them to 1.0507 and 1.67326, so its results differ by up
#' to about 3e-6 relative. `mlx_act_softshrink()` and
#' `mlx_act_hard_shrink()` propagate `NaN`, as PyTorch does, where MLX Python
#' returns 0. `mlx_act_softshrink()` rejects a negative `lambd`,
#' `mlx_act_celu()` an `alpha` of 0 and `mlx_act_hard_tanh()` a `min_val`
#' above `max_val`, which MLX Python accepts.
#'
#' @param x An MLX array, or an R array converted with [as_mlx()].
#' @param negative_slope For `mlx_act_leaky_relu()`. Default: `0.01`.
#' @param alpha For `mlx_act_elu()` and `mlx_act_celu()`: the scale of the
#'   negative part, nonzero for `mlx_act_celu()`. Default: `1`. For
#'   `mlx_act_prelu()`: the slopes, an array that broadcasts against `x`
#'   (one value, or one per channel on the last axis); no default.
#' @param lambd For `mlx_act_softshrink()` (at least 0) and
#'   `mlx_act_hard_shrink()`: the threshold \eqn{\lambda}. Default: `0.5`.
#' @param min_val,max_val For `mlx_act_hard_tanh()`: the output range, with
#'   `min_val <= max_val`. Defaults: `-1` and `1`.
#' @param threshold For `mlx_act_step()`. Default: `0`.
#' @param axis For `mlx_act_softmax()`, `mlx_act_softmin()`,
#'   `mlx_act_log_softmax()` and `mlx_act_glu()`: the axis, 1-based,
#'   negative from the end. Default: `-1`, the last axis. For
#'   `mlx_act_glu()` its size must be even.
#' @return An MLX array of the shape of `x` (for `mlx_act_glu()`, with
#'   `axis` halved).
#' @examples
#' x <- as_mlx(c(-2, 0, 3))
#' mlx_act_relu(x)
#' mlx_act_gelu_approx(x)
#' mlx_act_elu(x, alpha = 0.5)
#' mlx_act_log_sigmoid(as_mlx(c(-1e4, 1e4)))
#' mlx_act_softmax(as_mlx(matrix(1:6, 2, 3)), axis = 2)
#' mlx_act_glu(as_mlx(matrix(1:8, 2, 4)))
#' mlx_act_prelu(x, as_mlx(0.1))
#' @name activation_functions
NULL

apply_activation <- function(name, x, first = 0, second = 0, axis = -1L) {
  nn_activation_(name, x, first, second, axis)
}

as_activation_input <- function(x, call = rlang::caller_env()) {
  if (inherits(x, "mlx_array")) {
    return(x)
  }
  check_convertible(x, arg = "x", call = call)
  as_mlx(x)
}

#' @rdname activation_functions
#' @export
mlx_act_relu <- function(x) apply_activation("relu", as_activation_input(x))

#' @rdname activation_functions
#' @export
mlx_act_relu2 <- function(x) apply_activation("relu2", as_activation_input(x))

#' @rdname activation_functions
#' @export
mlx_act_relu6 <- function(x) apply_activation("relu6", as_activation_input(x))

#' @rdname activation_functions
#' @export
mlx_act_leaky_relu <- function(x, negative_slope = 0.01) {
  check_number(negative_slope)
  apply_activation("leaky_relu", as_activation_input(x), negative_slope)
}

#' @rdname activation_functions
#' @export
mlx_act_prelu <- function(x, alpha) {
  x <- as_activation_input(x)
  if (!inherits(alpha, "mlx_array")) {
    check_convertible(alpha)
    alpha <- as_mlx(alpha)
  }
  with_cpp_errors(nn_prelu_(x, alpha))
}

#' @rdname activation_functions
#' @export
mlx_act_elu <- function(x, alpha = 1) {
  check_number(alpha)
  apply_activation("elu", as_activation_input(x), alpha)
}

#' @rdname activation_functions
#' @export
mlx_act_celu <- function(x, alpha = 1) {
  check_celu_alpha(alpha)
  apply_activation("celu", as_activation_input(x), alpha)
}

#' @rdname activation_functions
#' @export
mlx_act_selu <- function(x) apply_activation("selu", as_activation_input(x))

#' @rdname activation_functions
#' @export
mlx_act_gelu <- function(x) apply_activation("gelu", as_activation_input(x))

#' @rdname activation_functions
#' @export
mlx_act_gelu_approx <- function(x) {
  apply_activation("gelu_approx", as_activation_input(x))
}

#' @rdname activation_functions
#' @export
mlx_act_gelu_fast_approx <- function(x) {
  apply_activation("gelu_fast_approx", as_activation_input(x))
}

#' @rdname activation_functions
#' @export
mlx_act_sigmoid <- function(x) {
  apply_activation("sigmoid", as_activation_input(x))
}

#' @rdname activation_functions
#' @export
mlx_act_log_sigmoid <- function(x) {
  apply_activation("log_sigmoid", as_activation_input(x))
}

#' @rdname activation_functions
#' @export
mlx_act_tanh <- function(x) apply_activation("tanh", as_activation_input(x))

#' @rdname activation_functions
#' @export
mlx_act_silu <- function(x) apply_activation("silu", as_activation_input(x))

#' @rdname activation_functions
#' @export
mlx_act_mish <- function(x) apply_activation("mish", as_activation_input(x))

#' @rdname activation_functions
#' @export
mlx_act_softplus <- function(x) {
  apply_activation("softplus", as_activation_input(x))
}

#' @rdname activation_functions
#' @export
mlx_act_softsign <- function(x) {
  apply_activation("softsign", as_activation_input(x))
}

#' @rdname activation_functions
#' @export
mlx_act_hardswish <- function(x) {
  apply_activation("hardswish", as_activation_input(x))
}

#' @rdname activation_functions
#' @export
mlx_act_softshrink <- function(x, lambd = 0.5) {
  check_lambd(lambd)
  apply_activation("softshrink", as_activation_input(x), lambd)
}

#' @rdname activation_functions
#' @export
mlx_act_hard_shrink <- function(x, lambd = 0.5) {
  check_number(lambd)
  apply_activation("hard_shrink", as_activation_input(x), lambd)
}

#' @rdname activation_functions
#' @export
mlx_act_hard_tanh <- function(x, min_val = -1, max_val = 1) {
  check_hard_tanh_range(min_val, max_val)
  apply_activation("hard_tanh", as_activation_input(x), min_val, max_val)
}

#' @rdname activation_functions
#' @export
mlx_act_step <- function(x, threshold = 0) {
  check_number(threshold)
  apply_activation("step", as_activation_input(x), threshold)
}

#' @rdname activation_functions
#' @export
mlx_act_softmax <- function(x, axis = -1) {
  apply_axis_activation("softmax", as_activation_input(x), axis)
}

#' @rdname activation_functions
#' @export
mlx_act_softmin <- function(x, axis = -1) {
  apply_axis_activation("softmin", as_activation_input(x), axis)
}

#' @rdname activation_functions
#' @export
mlx_act_log_softmax <- function(x, axis = -1) {
  apply_axis_activation("log_softmax", as_activation_input(x), axis)
}

#' @rdname activation_functions
#' @export
mlx_act_glu <- function(x, axis = -1) {
  x <- as_activation_input(x)
  index <- mlx_axis(axis, length(dim(x)))
  size <- dim(x)[[index + 1L]]
  if (size %% 2 != 0) {
    abort_invalid(
      "The size of {.arg x} along {.arg axis} must be even.",
      "Axis {axis} of {.arg x} has size {size}.",
      rlang::current_env()
    )
  }
  apply_activation("glu", x, axis = index)
}

apply_axis_activation <- function(name, x, axis, call = rlang::caller_env()) {
  index <- mlx_axis(axis, length(dim(x)), arg = "axis", call = call)
  apply_activation(name, x, axis = index)
}

# Converts an R axis for a layer, whose input rank is not yet known, to
# MLX's numbering: 1-based axes become 0-based and negative axes stay as
# they are. The layer checks the range when it runs.
layer_axis <- function(axis, arg = rlang::caller_arg(axis),
                       call = rlang::caller_env()) {
  if (!is.numeric(axis) || length(axis) != 1 || is.na(axis) ||
    axis != trunc(axis) || axis == 0) {
    received <- describe_value(axis)
    abort_invalid(
      "{.arg {arg}} must be a nonzero whole number.",
      "You supplied {received}.",
      call
    )
  }
  as.integer(if (axis > 0) axis - 1 else axis)
}

check_celu_alpha <- function(alpha, call = rlang::caller_env()) {
  check_number(alpha, arg = "alpha", call = call)
  if (alpha == 0) {
    abort_invalid("{.arg alpha} must be nonzero.", "You supplied 0.", call)
  }
}

check_lambd <- function(lambd, call = rlang::caller_env()) {
  check_number(lambd, arg = "lambd", call = call)
  if (lambd < 0) {
    abort_invalid("{.arg lambd} must be at least 0.",
                  "You supplied {lambd}.", call)
  }
}

check_hard_tanh_range <- function(min_val, max_val,
                                  call = rlang::caller_env()) {
  check_number(min_val, arg = "min_val", call = call)
  check_number(max_val, arg = "max_val", call = call)
  if (min_val > max_val) {
    abort_invalid(
      "{.arg min_val} must not exceed {.arg max_val}.",
      "You supplied min_val = {min_val} and max_val = {max_val}.",
      call
    )
  }
}
