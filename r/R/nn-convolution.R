#' Convolution layers
#'
#' Convolutions over 1, 2 or 3 spatial dimensions, and their transposes, as
#' MLX Python's `Conv1d` ... `ConvTranspose3d`. Data is channels last, as in
#' MLX: inputs are `(N, L, C)`, `(N, H, W, C)` or `(N, D, H, W, C)` arrays,
#' and weights are `(out_channels, kernel..., in_channels / groups)`. The
#' weights are drawn from \eqn{U(-k, k)} with \eqn{k = 1 / \sqrt{\mathrm{fan}_{in}}}
#' as MLX 0.32.4 does, and the bias starts at zero.
#'
#' Sizes (`kernel_size`, `stride`, `padding`, `dilation`, `output_padding`)
#' take one whole number for every spatial dimension or one per dimension
#' (the 1-d layers take one).
#'
#' @param in_channels,out_channels Channels of the input and the output.
#' @param kernel_size Size of the kernel.
#' @param stride Step of the kernel. Default: 1.
#' @param padding Zeros added on each side of each spatial dimension.
#'   Default: 0.
#' @param dilation Spacing of the kernel's taps. Default: 1.
#' @param groups Number of groups of channels convolved separately; both
#'   channel counts must be divisible by it. Default: 1. MLX's `Conv3d` has
#'   no groups.
#' @param output_padding For the transposed layers: extra rows added to one
#'   side of the output, smaller than the stride or the dilation. Default: 0.
#'   MLX 0.32.4's own gradient is wrong for a non-zero value, so the layer
#'   computes it through a cropped transposed convolution instead, with the
#'   same outputs.
#' @param bias If `TRUE` (the default), add a learned bias.
#' @section Shape:
#' Input `(N, spatial..., in_channels)`, output `(N, spatial..., out_channels)`.
#' @return An MLX module.
#' @examples
#' conv <- mlx_conv2d(3, 8, kernel_size = 3, padding = 1)
#' x <- array(rnorm(2 * 5 * 5 * 3), c(2, 5, 5, 3))
#' dim(mlx_forward(conv, x))
#' up <- mlx_conv_transpose1d(4, 2, kernel_size = 3, stride = 2)
#' dim(mlx_forward(up, array(1, c(1, 6, 4))))
#' @name convolution_layers
NULL

conv_layer <- function(dims, transpose, in_channels, out_channels, kernel_size,
                       stride, padding, dilation, output_padding, groups, bias,
                       call = rlang::caller_env()) {
  check_count(in_channels, min = 1, call = call)
  check_count(out_channels, min = 1, call = call)
  check_count(groups, min = 1, call = call)
  check_bool(bias, call = call)
  sizes <- check_sizes(list(
    kernel_size = kernel_size, stride = stride, padding = padding,
    dilation = dilation, output_padding = output_padding
  ), dims, call)
  sync_mlx_seed()
  with_cpp_errors(new_module_object(nn_conv_(
    dims, transpose, in_channels, out_channels, sizes$kernel_size,
    sizes$stride, sizes$padding, sizes$dilation, sizes$output_padding,
    groups, bias
  )), call = call)
}

#' @rdname convolution_layers
#' @export
mlx_conv1d <- function(in_channels, out_channels, kernel_size, stride = 1,
                       padding = 0, dilation = 1, groups = 1, bias = TRUE) {
  conv_layer(1, FALSE, in_channels, out_channels, kernel_size, stride,
             padding, dilation, 0, groups, bias)
}

#' @rdname convolution_layers
#' @export
mlx_conv2d <- function(in_channels, out_channels, kernel_size, stride = 1,
                       padding = 0, dilation = 1, groups = 1, bias = TRUE) {
  conv_layer(2, FALSE, in_channels, out_channels, kernel_size, stride,
             padding, dilation, 0, groups, bias)
}

#' @rdname convolution_layers
#' @export
mlx_conv3d <- function(in_channels, out_channels, kernel_size, stride = 1,
                       padding = 0, dilation = 1, bias = TRUE) {
  conv_layer(3, FALSE, in_channels, out_channels, kernel_size, stride,
             padding, dilation, 0, 1, bias)
}

#' @rdname convolution_layers
#' @export
mlx_conv_transpose1d <- function(in_channels, out_channels, kernel_size,
                                 stride = 1, padding = 0, dilation = 1,
                                 output_padding = 0, bias = TRUE) {
  conv_layer(1, TRUE, in_channels, out_channels, kernel_size, stride,
             padding, dilation, output_padding, 1, bias)
}

#' @rdname convolution_layers
#' @export
mlx_conv_transpose2d <- function(in_channels, out_channels, kernel_size,
                                 stride = 1, padding = 0, dilation = 1,
                                 output_padding = 0, bias = TRUE) {
  conv_layer(2, TRUE, in_channels, out_channels, kernel_size, stride,
             padding, dilation, output_padding, 1, bias)
}

#' @rdname convolution_layers
#' @export
mlx_conv_transpose3d <- function(in_channels, out_channels, kernel_size,
                                 stride = 1, padding = 0, dilation = 1,
                                 output_padding = 0, bias = TRUE) {
  conv_layer(3, TRUE, in_channels, out_channels, kernel_size, stride,
             padding, dilation, output_padding, 1, bias)
}
