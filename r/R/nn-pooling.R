#' Pooling layers
#'
#' Maximum and average pooling over 1, 2 or 3 spatial dimensions of
#' channels-last inputs `(N, L, C)`, `(N, H, W, C)` or `(N, D, H, W, C)`, as
#' MLX Python's `MaxPool1d` ... `AvgPool3d`. Max pooling pads with `-Inf`
#' and average pooling with zeros, which count in the average (as PyTorch's
#' default `count_include_pad = TRUE`). Like MLX 0.32.4, and unlike
#' PyTorch, padding may exceed half the kernel; a window that covers only
#' padding gives `-Inf` (max) or 0 (average).
#'
#' @param kernel_size Size of the window: one whole number, or one per
#'   spatial dimension.
#' @param stride Step of the window, in the same form. Default: `NULL`, the
#'   kernel size.
#' @param padding Padding on each side of each spatial dimension. Default: 0.
#' @return An MLX module.
#' @examples
#' pool <- mlx_max_pool2d(2)
#' x <- array(rnorm(1 * 4 * 4 * 3), c(1, 4, 4, 3))
#' dim(mlx_forward(pool, x))
#' @name pooling_layers
NULL

# Checks the sizes of a pooling layer or function. A NULL stride becomes
# integer(0), which the C++ layer reads as the kernel size.
check_pool_sizes <- function(kernel_size, stride, padding, dims, call) {
  check_sizes(
    list(kernel_size = kernel_size, stride = stride, padding = padding),
    dims, call, optional = "stride"
  )
}

pool_layer <- function(dims, max, kernel_size, stride, padding,
                       call = rlang::caller_env()) {
  sizes <- check_pool_sizes(kernel_size, stride, padding, dims, call)
  with_cpp_errors(new_module_object(nn_pool_(
    dims, max, sizes$kernel_size, sizes$stride, sizes$padding
  )), call = call)
}

#' @rdname pooling_layers
#' @export
mlx_max_pool1d <- function(kernel_size, stride = NULL, padding = 0) {
  pool_layer(1, TRUE, kernel_size, stride, padding)
}

#' @rdname pooling_layers
#' @export
mlx_max_pool2d <- function(kernel_size, stride = NULL, padding = 0) {
  pool_layer(2, TRUE, kernel_size, stride, padding)
}

#' @rdname pooling_layers
#' @export
mlx_max_pool3d <- function(kernel_size, stride = NULL, padding = 0) {
  pool_layer(3, TRUE, kernel_size, stride, padding)
}

#' @rdname pooling_layers
#' @export
mlx_avg_pool1d <- function(kernel_size, stride = NULL, padding = 0) {
  pool_layer(1, FALSE, kernel_size, stride, padding)
}

#' @rdname pooling_layers
#' @export
mlx_avg_pool2d <- function(kernel_size, stride = NULL, padding = 0) {
  pool_layer(2, FALSE, kernel_size, stride, padding)
}

#' @rdname pooling_layers
#' @export
mlx_avg_pool3d <- function(kernel_size, stride = NULL, padding = 0) {
  pool_layer(3, FALSE, kernel_size, stride, padding)
}

#' Upsampling layer
#'
#' Scales the spatial dimensions of a channels-last input, as MLX Python's
#' `Upsample`. The numbers follow MLX 0.32.4, which differs from PyTorch for
#' "nearest" with a scale that is not a whole number and for "linear" when
#' scale times size is not a whole number.
#'
#' @param scale_factor One positive scale for every spatial dimension, or one
#'   per dimension.
#' @param mode `"nearest"` (the default), `"linear"` or `"cubic"`.
#' @param align_corners For "linear" and "cubic": align the corner pixels of
#'   input and output. Default: `FALSE`.
#' @param antialias For "linear" and "cubic" when downsampling: filter as
#'   MLX does. Default: `FALSE`.
#' @return An MLX module.
#' @examples
#' up <- mlx_upsample(2, mode = "linear")
#' dim(mlx_forward(up, array(1, c(1, 3, 3, 2))))
#' @export
mlx_upsample <- function(scale_factor, mode = c("nearest", "linear", "cubic"),
                         align_corners = FALSE, antialias = FALSE) {
  mode <- rlang::arg_match(mode)
  check_scale_factor(scale_factor)
  check_bool(align_corners)
  check_bool(antialias)
  with_cpp_errors(new_module_object(
    nn_upsample_(as.double(scale_factor), mode, align_corners, antialias)
  ))
}

check_scale_factor <- function(scale_factor, call = rlang::caller_env()) {
  if (!is.numeric(scale_factor) || length(scale_factor) < 1 ||
      any(!is.finite(scale_factor)) || any(scale_factor <= 0)) {
    received <- describe_value(scale_factor)
    abort_invalid("{.arg scale_factor} must be positive numbers.",
                  "You supplied {received}.", call)
  }
}

#' Channel dropout
#'
#' In training mode, zeroes whole channels with probability `p` and scales
#' the others by \eqn{1 / (1 - p)}, as MLX Python's `Dropout2d` (inputs
#' `(N, H, W, C)` or `(H, W, C)`) and `Dropout3d` (inputs `(N, D, H, W, C)`
#' or `(D, H, W, C)`); in evaluation mode, returns the input.
#'
#' @param p Probability of zeroing a channel, in `[0, 1)`. Default: 0.5.
#' @return An MLX module.
#' @examples
#' drop <- mlx_dropout2d(0.5)
#' dim(mlx_forward(drop, array(1, c(2, 3, 3, 4))))
#' @export
mlx_dropout2d <- function(p = 0.5) {
  check_probability(p)
  new_module_object(nn_channel_dropout_(2L, p))
}

#' @rdname mlx_dropout2d
#' @export
mlx_dropout3d <- function(p = 0.5) {
  check_probability(p)
  new_module_object(nn_channel_dropout_(3L, p))
}
