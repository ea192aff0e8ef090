#' Use Rmlx's own CPU kernels or MLX's operations
#'
#' On the CPU, Rmlx computes float32 convolutions with one group as an
#' unfold of the input windows plus one matrix product (grouped ones with
#' at least eight output channels per group as one product per group; 2-D
#' 3x3 kernels at stride 1 with at least eight input and output channels by
#' Winograd's F(2x2, 3x3) algorithm, which needs 2.25 times fewer
#' multiplications, unless the environment variable `RMLX_WINOGRAD` is
#' `"0"`),
#' transposed convolutions as a matrix product plus a fold, pooling with
#' its own kernels, and the whole recurrence of [mlx_lstm()] and
#' [mlx_gru()] (also each layer and direction of the stacked layers) as one
#' kernel forward and one backward, with vectorized sigmoid and tanh, and
#' the attention of [mlx_multi_head_attention()] (without a key-value
#' cache) as one kernel over the heads in place, with a vectorized
#' softmax, and [mlx_layer_norm()] as one kernel. Their values equal those of MLX's operations up to float32
#' rounding (except that the Winograd path turns an infinite input value
#' into `NaN` at most of the outputs it reaches, where MLX gives `Inf`), and their gradients are several times faster on MLX 0.32.4's
#' CPU backend. `mlx_custom_kernels(FALSE)` switches back to the
#' operations MLX Python uses, for example to compare the two.
#'
#' The choice is made when a layer builds its part of the graph, so a step
#' compiled by [mlx_train_step()] keeps the path it was first traced with:
#' create the step after changing the setting.
#'
#' @param enabled `TRUE` to use Rmlx's kernels (the default when the
#'   package loads), `FALSE` for MLX's operations, or `NULL` to only report
#'   the setting.
#' @return The setting before the call, invisibly when it was changed.
#' @examples
#' old <- mlx_custom_kernels(FALSE)
#' mlx_custom_kernels()
#' mlx_custom_kernels(old)
#' @export
mlx_custom_kernels <- function(enabled = NULL) {
  if (is.null(enabled)) {
    return(mlx_custom_kernels_enabled_())
  }
  check_bool(enabled)
  invisible(mlx_set_custom_kernels_(enabled))
}
