#' Rotary positional encoding
#'
#' Rotates pairs of features by an angle proportional to their position, as
#' MLX Python's `RoPE` with MLX's fused `rope` kernel: feature pair \eqn{i}
#' at position \eqn{p} turns by \eqn{p \cdot scale \cdot base^{-2i/dims}}.
#' Positions count along the second-to-last axis from `offset`, which
#' [mlx_forward()] takes as its second input (`mlx_forward(rope, x,
#' offset = 5)`) for decoding one step at a time. Features after the first
#' `dims` pass through unchanged. The layer has no parameters.
#'
#' @param dims Number of features to rotate; even.
#' @param traditional If `TRUE`, rotate consecutive pairs of features
#'   (\eqn{x_{2i}, x_{2i+1}}); if `FALSE` (the default), pair feature
#'   \eqn{i} with \eqn{i + dims / 2}.
#' @param base Base of the frequencies. Default: `10000`.
#' @param scale Factor applied to the positions. Default: `1`.
#' @section Shape:
#' Input `(..., L, D)` with `D >= dims`, output the same.
#' @return An MLX module of class `mlx_rope`.
#' @examples
#' rope <- mlx_rope(4)
#' x <- array(1, c(1, 3, 4))
#' mlx_forward(rope, x)
#' mlx_forward(rope, x, offset = 2)
#' @export
mlx_rope <- function(dims, traditional = FALSE, base = 10000, scale = 1) {
  check_count(dims, min = 2)
  if (dims %% 2 != 0) {
    abort_invalid("{.arg dims} must be even.", "You supplied {dims}.",
                  rlang::current_env())
  }
  check_bool(traditional)
  check_positive(base)
  check_number(scale)
  new_module_object(nn_rope_(dims, traditional, base, scale))
}

#' Sinusoidal positional encoding
#'
#' Maps each value \eqn{p} (usually a position) to \eqn{[\sin(p s_k),
#' \cos(p s_k)] \cdot scale} over `dims / 2` frequencies \eqn{s_k} that fall
#' geometrically from `max_freq` to `min_freq`, as MLX Python's
#' `SinusoidalPositionalEncoding`. The layer has no parameters.
#'
#' @param dims Length of each encoding; even.
#' @param min_freq,max_freq The lowest and highest frequency. Default:
#'   `1e-4` and `1`.
#' @param scale Factor applied to the encoding. Default: `NULL`, meaning
#'   \eqn{\sqrt{2 / dims}}.
#' @param cos_first If `TRUE`, put the cosines first. Default: `FALSE`.
#' @param full_turns If `TRUE`, multiply the frequencies by \eqn{2\pi}.
#'   Default: `FALSE`.
#' @section Shape:
#' Input any shape, output `(..., dims)`.
#' @return An MLX module of class `mlx_sinusoidal_positional_encoding`.
#' @examples
#' pe <- mlx_sinusoidal_positional_encoding(8)
#' dim(mlx_forward(pe, 0:4))
#' @export
mlx_sinusoidal_positional_encoding <- function(dims, min_freq = 1e-4,
                                               max_freq = 1, scale = NULL,
                                               cos_first = FALSE,
                                               full_turns = FALSE) {
  check_count(dims, min = 2)
  if (dims %% 2 != 0) {
    abort_invalid("{.arg dims} must be even.", "You supplied {dims}.",
                  rlang::current_env())
  }
  check_positive(min_freq)
  check_positive(max_freq)
  if (!is.null(scale)) check_number(scale)
  check_bool(cos_first)
  check_bool(full_turns)
  new_module_object(nn_sinusoidal_positional_encoding_(
    dims, min_freq, max_freq, if (is.null(scale)) NA_real_ else scale,
    cos_first, full_turns
  ))
}

#' Attention with linear biases
#'
#' `mlx_alibi()` returns a layer that adds \eqn{-m_h |i - j|} to the
#' attention scores of head \eqn{h}, query position \eqn{i} (counted from
#' `offset`) and key position \eqn{j}, as MLX Python's `ALiBi`; the slopes
#' \eqn{m_h} form MLX's geometric series over the heads. [mlx_forward()]
#' takes `attention_scores` `(N, heads, L, S)`, an optional `offset` and an
#' optional additive `mask`. `mlx_create_alibi_matrix()` returns the bias
#' itself. Neither has parameters.
#'
#' @param q_sequence_length Number of query positions plus `offset`.
#' @param k_sequence_length Number of key positions.
#' @param num_heads Number of heads.
#' @param offset Position of the first query. Default: `0`.
#' @param dtype Floating-point dtype of the result. Default: `"float32"`.
#' @return `mlx_alibi()`: an MLX module of class `mlx_alibi`.
#'   `mlx_create_alibi_matrix()`: an MLX array of shape
#'   `(1, num_heads, q_sequence_length - offset, k_sequence_length)`.
#' @examples
#' scores <- array(0, c(1, 2, 3, 3))
#' mlx_forward(mlx_alibi(), scores)
#' mlx_create_alibi_matrix(3, 3, num_heads = 2)
#' @export
mlx_alibi <- function() {
  new_module_object(nn_alibi_())
}

#' @rdname mlx_alibi
#' @export
mlx_create_alibi_matrix <- function(q_sequence_length, k_sequence_length,
                                    num_heads, offset = 0,
                                    dtype = "float32") {
  check_count(q_sequence_length)
  check_count(k_sequence_length)
  check_count(num_heads, min = 1)
  check_count(offset)
  check_dtype(dtype)
  with_cpp_errors(nn_alibi_matrix_(
    q_sequence_length, k_sequence_length, num_heads, offset, dtype
  ))
}
