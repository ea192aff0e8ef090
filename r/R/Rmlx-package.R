#' Rmlx: arrays and neural networks on Apple's MLX
#'
#' Rmlx wraps MLX arrays as `mlx_array` objects. Operations on them are lazy:
#' they build an MLX graph that runs when values are converted back to R
#' ([as.array()]), printed, or evaluated with [mlx_eval()]. Start with
#' [as_mlx()].
#'
#' @keywords internal
"_PACKAGE"
