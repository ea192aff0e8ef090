#' Activation layers
#'
#' Each function returns a layer (an MLX module) applying one activation
#' elementwise, as the MLX Python class of the same name does. The same
#' activations as functions of an array are [mlx_act_relu()] and its family.
#'
#' - `mlx_relu()`: \eqn{\max(x, 0)}.
#' - `mlx_gelu()`: \eqn{x \Phi(x)}; `approx = "precise"` (or its PyTorch name
#'   `"tanh"`) uses the tanh approximation, `"fast"` uses
#'   \eqn{x \sigma(1.702 x)}.
#' - `mlx_sigmoid()`: \eqn{1 / (1 + e^{-x})}.
#' - `mlx_tanh()`: \eqn{\tanh(x)}.
#' - `mlx_silu()`: \eqn{x \sigma(x)}.
#' - `mlx_leaky_relu()`: \eqn{\max(\alpha x, x)}.
#' - `mlx_softmax_layer()`: softmax over the last axis (MLX's `Softmax` has
#'   no axis option).
#'
#' @param approx For `mlx_gelu()`: `"none"` (the default), `"precise"`,
#'   `"tanh"` or `"fast"`.
#' @param negative_slope For `mlx_leaky_relu()`: the slope \eqn{\alpha} for
#'   negative inputs. Default: `0.01`.
#' @return An MLX module.
#' @examples
#' model <- mlx_sequential(mlx_linear(2, 4), mlx_gelu(), mlx_linear(4, 1))
#' mlx_forward(mlx_relu(), c(-1, 0, 2))
#' @name activation_layers
NULL

activation_layer <- function(name, param = 0, approx = "none") {
  new_module_object(nn_activation_layer_(name, param, approx))
}

#' @rdname activation_layers
#' @export
mlx_relu <- function() activation_layer("relu")

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
mlx_tanh <- function() activation_layer("tanh")

#' @rdname activation_layers
#' @export
mlx_silu <- function() activation_layer("silu")

#' @rdname activation_layers
#' @export
mlx_leaky_relu <- function(negative_slope = 0.01) {
  check_number(negative_slope)
  activation_layer("leaky_relu", param = negative_slope)
}

#' @rdname activation_layers
#' @export
mlx_softmax_layer <- function() activation_layer("softmax")

#' Activation functions
#'
#' The functional activations: `mlx_act_<name>(x)` applies the activation of
#' the layer `mlx_<name>()` to an array, for forward passes written in R.
#' They are lazy like every MLX operation.
#'
#' @param x An MLX array, or an R array converted with [as_mlx()].
#' @param negative_slope For `mlx_act_leaky_relu()`. Default: `0.01`.
#' @param axis For `mlx_act_softmax()`: the axis, 1-based, negative from the
#'   end. Default: `-1`, the last axis.
#' @return An MLX array of the shape of `x`.
#' @examples
#' x <- as_mlx(c(-2, 0, 3))
#' mlx_act_relu(x)
#' mlx_act_gelu_approx(x)
#' mlx_act_softmax(as_mlx(matrix(1:6, 2, 3)), axis = 2)
#' @name activation_functions
NULL

apply_activation <- function(name, x, param = 0, axis = -1L) {
  if (!inherits(x, "mlx_array")) x <- as_mlx(x)
  nn_activation_(name, x, param, axis)
}

#' @rdname activation_functions
#' @export
mlx_act_relu <- function(x) apply_activation("relu", x)

#' @rdname activation_functions
#' @export
mlx_act_gelu <- function(x) apply_activation("gelu", x)

#' @rdname activation_functions
#' @export
mlx_act_gelu_approx <- function(x) apply_activation("gelu_approx", x)

#' @rdname activation_functions
#' @export
mlx_act_gelu_fast_approx <- function(x) apply_activation("gelu_fast_approx", x)

#' @rdname activation_functions
#' @export
mlx_act_sigmoid <- function(x) apply_activation("sigmoid", x)

#' @rdname activation_functions
#' @export
mlx_act_tanh <- function(x) apply_activation("tanh", x)

#' @rdname activation_functions
#' @export
mlx_act_silu <- function(x) apply_activation("silu", x)

#' @rdname activation_functions
#' @export
mlx_act_leaky_relu <- function(x, negative_slope = 0.01) {
  check_number(negative_slope)
  apply_activation("leaky_relu", x, param = negative_slope)
}

#' @rdname activation_functions
#' @export
mlx_act_softmax <- function(x, axis = -1) {
  if (!inherits(x, "mlx_array")) x <- as_mlx(x)
  apply_activation("softmax", x, axis = mlx_axis(axis, length(dim(x))))
}
