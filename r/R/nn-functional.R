#' Functional convolutions
#'
#' `mlx_fn_<layer>()` applies the convolution of the layer `mlx_<layer>()`
#' to arrays given as arguments, for forward passes written in R (see
#' [mlx_module()]) without a layer object. `mlx_fn_conv1d()` ...
#' `mlx_fn_conv3d()` convolve as MLX Python's `mx.conv1d()` ...
#' `mx.conv3d()`, and `mlx_fn_conv_transpose1d()` ...
#' `mlx_fn_conv_transpose3d()` as `mx.conv_transpose1d()` ...
#' `mx.conv_transpose3d()`; then they add the bias. Data is channels last,
#' as for the layers.
#'
#' Sizes (`stride`, `padding`, `dilation`, `output_padding`) take one whole
#' number for every spatial dimension or one per dimension. MLX 0.32.4
#' supports `groups` above 1 only for 1 and 2 spatial dimensions, and
#' rejects it for 3.
#'
#' @param x The input, `(N, L, C)`, `(N, H, W, C)` or `(N, D, H, W, C)`: an
#'   MLX array, or an R array converted to float32.
#' @param weight The weight, `(out_channels, kernel..., in_channels /
#'   groups)` as in the layers (`C` is `in_channels`): an MLX array or an R
#'   array.
#' @param bias `NULL` (the default) for no bias, or a vector of length
#'   `out_channels`, added to each output position.
#' @param stride Step of the kernel. Default: 1.
#' @param padding Zeros added on each side of each spatial dimension.
#'   Default: 0.
#' @param dilation Spacing of the kernel's taps. Default: 1.
#' @param output_padding For the transposed convolutions: extra rows added
#'   to one side of the output, each smaller than the stride or the dilation
#'   of its dimension. Default: 0.
#' @param groups Number of groups of channels convolved separately. It must
#'   divide `out_channels`, and `x` must have `groups` times as many
#'   channels as the last dimension of `weight`. Default: 1.
#' @section Shape:
#' Input `(N, spatial..., in_channels)`, output `(N, spatial...,
#' out_channels)`.
#' @return An MLX array.
#' @examples
#' x <- array(rnorm(2 * 5 * 5 * 3), c(2, 5, 5, 3))
#' weight <- array(rnorm(8 * 3 * 3 * 3), c(8, 3, 3, 3))
#' dim(mlx_fn_conv2d(x, weight, bias = rep(0.1, 8), padding = 1))
#' up <- array(rnorm(2 * 3 * 4), c(2, 3, 4))
#' dim(mlx_fn_conv_transpose1d(array(1, c(1, 6, 4)), up, stride = 2))
#' @name convolution_functions
NULL

# Converts an input of a functional layer: MLX arrays pass through, and R
# data becomes float32, as mlx_forward() converts it.
as_input_array <- function(x, arg = rlang::caller_arg(x),
                           call = rlang::caller_env()) {
  if (inherits(x, "mlx_array")) {
    return(x)
  }
  check_convertible(x, arg = arg, call = call)
  as_mlx(x, dtype = "float32")
}

spatial_layouts <- c("(N, L, C)", "(N, H, W, C)", "(N, D, H, W, C)")

describe_dim <- function(dims) {
  if (length(dims) == 0) {
    return("a 0-d array")
  }
  if (length(dims) == 1) {
    return(paste("a 1-d array of length", dims))
  }
  paste("an array of dim", paste(dims, collapse = " x "))
}

# Checks that every value of each size in `sizes` is at least its minimum
# in `minimums`, as the constructors of the convolution layers do.
check_size_minimums <- function(sizes, minimums, call) {
  for (name in names(minimums)) {
    value <- sizes[[name]]
    if (any(value < minimums[[name]])) {
      rule <- if (minimums[[name]] > 0) "positive" else "non-negative"
      received <- paste(value, collapse = ", ")
      abort_invalid(
        "{.arg {name}} must contain {rule} whole numbers.",
        "You supplied {received}.", call
      )
    }
  }
}

# Checks the shapes of a convolution's arrays against each other, so that a
# mismatch names the argument instead of failing inside MLX.
check_conv_shapes <- function(x, weight, bias, dims, groups, call) {
  rank <- dims + 2
  x_dim <- dim(x)
  if (length(x_dim) != rank) {
    layout <- spatial_layouts[[dims]]
    received <- describe_dim(x_dim)
    abort_invalid(
      "{.arg x} must be a {rank}-d array of shape {layout}.",
      "You supplied {received}.", call
    )
  }
  weight_dim <- dim(weight)
  if (length(weight_dim) != rank) {
    received <- describe_dim(weight_dim)
    abort_invalid(
      "{.arg weight} must be a {rank}-d array of shape (out_channels, kernel..., in_channels / groups).",
      "You supplied {received}.", call
    )
  }
  in_channels <- x_dim[[rank]]
  if (in_channels != weight_dim[[rank]] * groups) {
    per_group <- weight_dim[[rank]]
    abort_invalid(
      "The last dimension of {.arg x} must equal the last dimension of {.arg weight} times {.arg groups}.",
      "You supplied {in_channels} input channels, {per_group} per group in {.arg weight} and groups = {groups}.",
      call
    )
  }
  out_channels <- weight_dim[[1]]
  if (out_channels %% groups != 0) {
    abort_invalid(
      "The first dimension of {.arg weight} (out_channels) must be divisible by {.arg groups}.",
      "You supplied {out_channels} output channels and groups = {groups}.",
      call
    )
  }
  if (!is.null(bias) && !identical(dim(bias), as.integer(out_channels))) {
    received <- describe_dim(dim(bias))
    abort_invalid(
      "{.arg bias} must be a vector of length {out_channels}, the first dimension of {.arg weight}.",
      "You supplied {received}.", call
    )
  }
}

conv_function <- function(dims, transpose, x, weight, bias, stride, padding,
                          dilation, output_padding, groups,
                          call = rlang::caller_env()) {
  x <- as_input_array(x, call = call)
  weight <- as_input_array(weight, call = call)
  if (!is.null(bias)) {
    bias <- as_input_array(bias, call = call)
  }
  check_count(groups, min = 1, call = call)
  sizes <- check_sizes(list(
    stride = stride, padding = padding, dilation = dilation,
    output_padding = output_padding
  ), dims, call)
  check_size_minimums(
    sizes, c(stride = 1, padding = 0, dilation = 1, output_padding = 0), call
  )
  sizes <- lapply(sizes, rep_len, dims)
  too_large <- sizes$output_padding >= sizes$stride &
    sizes$output_padding >= sizes$dilation
  if (any(too_large)) {
    received <- paste0(
      "output_padding = ", paste(sizes$output_padding, collapse = ", "),
      ", stride = ", paste(sizes$stride, collapse = ", "),
      " and dilation = ", paste(sizes$dilation, collapse = ", ")
    )
    abort_invalid(
      "Each value of {.arg output_padding} must be smaller than the stride or the dilation of its dimension.",
      "You supplied {received}.", call
    )
  }
  check_conv_shapes(x, weight, bias, dims, groups, call)
  with_cpp_errors(nn_fn_conv_(
    transpose, x, weight, bias, sizes$stride, sizes$padding,
    sizes$dilation, sizes$output_padding, as.integer(groups)
  ), call = call)
}

#' @rdname convolution_functions
#' @export
mlx_fn_conv1d <- function(x, weight, bias = NULL, stride = 1, padding = 0,
                          dilation = 1, groups = 1) {
  conv_function(1, FALSE, x, weight, bias, stride, padding, dilation, 0,
                groups)
}

#' @rdname convolution_functions
#' @export
mlx_fn_conv2d <- function(x, weight, bias = NULL, stride = 1, padding = 0,
                          dilation = 1, groups = 1) {
  conv_function(2, FALSE, x, weight, bias, stride, padding, dilation, 0,
                groups)
}

#' @rdname convolution_functions
#' @export
mlx_fn_conv3d <- function(x, weight, bias = NULL, stride = 1, padding = 0,
                          dilation = 1, groups = 1) {
  conv_function(3, FALSE, x, weight, bias, stride, padding, dilation, 0,
                groups)
}

#' @rdname convolution_functions
#' @export
mlx_fn_conv_transpose1d <- function(x, weight, bias = NULL, stride = 1,
                                    padding = 0, dilation = 1,
                                    output_padding = 0, groups = 1) {
  conv_function(1, TRUE, x, weight, bias, stride, padding, dilation,
                output_padding, groups)
}

#' @rdname convolution_functions
#' @export
mlx_fn_conv_transpose2d <- function(x, weight, bias = NULL, stride = 1,
                                    padding = 0, dilation = 1,
                                    output_padding = 0, groups = 1) {
  conv_function(2, TRUE, x, weight, bias, stride, padding, dilation,
                output_padding, groups)
}

#' @rdname convolution_functions
#' @export
mlx_fn_conv_transpose3d <- function(x, weight, bias = NULL, stride = 1,
                                    padding = 0, dilation = 1,
                                    output_padding = 0, groups = 1) {
  conv_function(3, TRUE, x, weight, bias, stride, padding, dilation,
                output_padding, groups)
}

#' Functional pooling
#'
#' `mlx_fn_max_pool1d()` ... `mlx_fn_avg_pool3d()` pool `x` as the layers
#' [mlx_max_pool1d()] ... [mlx_avg_pool3d()] do, for forward passes written
#' in R without a layer object. They take the same arguments and raise the
#' same errors.
#'
#' @param x The input, `(N, L, C)`, `(N, H, W, C)` or `(N, D, H, W, C)`: an
#'   MLX array, or an R array converted to float32.
#' @param kernel_size Size of the window: one whole number, or one per
#'   spatial dimension.
#' @param stride Step of the window, in the same form. Default: `NULL`, the
#'   kernel size.
#' @param padding Padding on each side of each spatial dimension. Default: 0.
#' @return An MLX array.
#' @examples
#' x <- array(rnorm(1 * 4 * 4 * 3), c(1, 4, 4, 3))
#' dim(mlx_fn_max_pool2d(x, 2))
#' dim(mlx_fn_avg_pool2d(x, 3, stride = 1, padding = 1))
#' @name pooling_functions
NULL

pool_function <- function(dims, max, x, kernel_size, stride, padding,
                          call = rlang::caller_env()) {
  x <- as_input_array(x, call = call)
  sizes <- check_pool_sizes(kernel_size, stride, padding, dims, call)
  with_cpp_errors(nn_fn_pool_(
    x, dims, max, sizes$kernel_size, sizes$stride, sizes$padding
  ), call = call)
}

#' @rdname pooling_functions
#' @export
mlx_fn_max_pool1d <- function(x, kernel_size, stride = NULL, padding = 0) {
  pool_function(1, TRUE, x, kernel_size, stride, padding)
}

#' @rdname pooling_functions
#' @export
mlx_fn_max_pool2d <- function(x, kernel_size, stride = NULL, padding = 0) {
  pool_function(2, TRUE, x, kernel_size, stride, padding)
}

#' @rdname pooling_functions
#' @export
mlx_fn_max_pool3d <- function(x, kernel_size, stride = NULL, padding = 0) {
  pool_function(3, TRUE, x, kernel_size, stride, padding)
}

#' @rdname pooling_functions
#' @export
mlx_fn_avg_pool1d <- function(x, kernel_size, stride = NULL, padding = 0) {
  pool_function(1, FALSE, x, kernel_size, stride, padding)
}

#' @rdname pooling_functions
#' @export
mlx_fn_avg_pool2d <- function(x, kernel_size, stride = NULL, padding = 0) {
  pool_function(2, FALSE, x, kernel_size, stride, padding)
}

#' @rdname pooling_functions
#' @export
mlx_fn_avg_pool3d <- function(x, kernel_size, stride = NULL, padding = 0) {
  pool_function(3, FALSE, x, kernel_size, stride, padding)
}

#' Functional upsampling
#'
#' Scales the spatial dimensions of `x` as the layer [mlx_upsample()] does,
#' for forward passes written in R without a layer object. It takes the
#' same options and raises the same errors.
#'
#' @param x The channels-last input `(N, spatial..., C)`: an MLX array, or
#'   an R array converted to float32.
#' @param scale_factor One positive scale for every spatial dimension, or one
#'   per dimension.
#' @param mode `"nearest"` (the default), `"linear"` or `"cubic"`.
#' @param align_corners For "linear" and "cubic": align the corner pixels of
#'   input and output. Default: `FALSE`.
#' @param antialias For "linear" and "cubic" when downsampling: filter as
#'   MLX does. Default: `FALSE`.
#' @return An MLX array.
#' @examples
#' x <- array(1:18, c(1, 3, 3, 2))
#' dim(mlx_fn_upsample(x, 2, mode = "linear"))
#' @export
mlx_fn_upsample <- function(x, scale_factor,
                            mode = c("nearest", "linear", "cubic"),
                            align_corners = FALSE, antialias = FALSE) {
  x <- as_input_array(x)
  mode <- rlang::arg_match(mode)
  check_scale_factor(scale_factor)
  check_bool(align_corners)
  check_bool(antialias)
  with_cpp_errors(nn_fn_upsample_(
    x, as.double(scale_factor), mode, align_corners, antialias
  ))
}

#' Functional channel dropout
#'
#' When `training` is `TRUE`, zeroes whole channels of `x` with probability
#' `p` and scales the others by \eqn{1 / (1 - p)}, as the layers
#' [mlx_dropout2d()] and [mlx_dropout3d()] do in training mode; otherwise
#' returns `x`. Masks follow [set.seed()], as the layers' do.
#'
#' @param x The input, `(N, H, W, C)` or `(H, W, C)` for
#'   `mlx_fn_dropout2d()`, `(N, D, H, W, C)` or `(D, H, W, C)` for
#'   `mlx_fn_dropout3d()`: an MLX array, or an R array converted to float32.
#'   The rank is checked in both modes.
#' @param p Probability of zeroing a channel, in `[0, 1)`. Default: 0.5.
#' @param training `TRUE` (the default) to drop channels, `FALSE` to return
#'   `x` as it is.
#' @return An MLX array of the shape of `x`.
#' @examples
#' x <- array(1, c(2, 3, 3, 4))
#' out <- mlx_fn_dropout2d(x, p = 0.5)
#' as.array(out)[1, 1, 1, ]
#' @export
mlx_fn_dropout2d <- function(x, p = 0.5, training = TRUE) {
  channel_dropout_function(2L, x, p, training)
}

#' @rdname mlx_fn_dropout2d
#' @export
mlx_fn_dropout3d <- function(x, p = 0.5, training = TRUE) {
  channel_dropout_function(3L, x, p, training)
}

channel_dropout_function <- function(dims, x, p, training,
                                     call = rlang::caller_env()) {
  x <- as_input_array(x, call = call)
  check_probability(p, call = call)
  check_bool(training, call = call)
  if (training) {
    # Reseeding MLX draws a number from R's RNG. Evaluation mode draws no
    # mask, so it skips the reseed and leaves R's RNG state alone.
    sync_mlx_seed()
  }
  with_cpp_errors(nn_fn_channel_dropout_(x, dims, p, training), call = call)
}
