#' Margin and similarity losses
#'
#' The hinge, margin ranking, triplet and cosine similarity losses of MLX
#' Python's `mlx.nn.losses`, with the same arguments and defaults. Each has
#' the default reduction `"none"`; `reduction` may also be `"mean"` or
#' `"sum"`.
#'
#' - `mlx_hinge_loss()`: \eqn{\max(0, 1 - x t)} for targets in \{-1, 1\}.
#' - `mlx_margin_ranking_loss()`: \eqn{\max(0, -t (x_1 - x_2) +
#'   \mathrm{margin})} for targets in \{-1, 1\}: 1 where `inputs1` should
#'   rank higher.
#' - `mlx_triplet_loss()`: \eqn{\max(d(a, p) - d(a, n) + \mathrm{margin},
#'   0)} with \eqn{d(x, y) = (\sum |x - y|^p + \epsilon)^{1/p}} along `axis`.
#'   PyTorch adds \eqn{\epsilon} to the difference instead, so the two agree
#'   at `eps = 0`.
#' - `mlx_cosine_similarity_loss()`: \eqn{x_1 \cdot x_2 / \max(\|x_1\|
#'   \|x_2\|, \epsilon)} along `axis`. It returns the similarity itself, as
#'   MLX Python does, not one minus it. It is computed on vectors scaled by
#'   their largest element, so elements of \eqn{10^{20}} in float32 give the
#'   right value where MLX Python's product of norms overflows to `NaN`.
#'
#' All the inputs of a loss must have the same shape; MLX Python broadcasts
#' those of `hinge_loss`. `margin` must be positive for `mlx_triplet_loss()`
#' (PyTorch's rule; MLX Python takes any margin).
#'
#' @param inputs,inputs1,inputs2 Scores: MLX arrays or R arrays.
#' @param targets Labels in \{-1, 1\}, of the same shape.
#' @param anchors,positives,negatives For `mlx_triplet_loss()`: the
#'   embeddings, all of the same shape.
#' @param x1,x2 For `mlx_cosine_similarity_loss()`: the embeddings, of the
#'   same shape.
#' @param axis The embedding axis, 1-based, negative from the end. Default:
#'   `-1` for `mlx_triplet_loss()` and `2` (MLX Python's axis 1) for
#'   `mlx_cosine_similarity_loss()`.
#' @param p For `mlx_triplet_loss()`: the norm degree, a number greater
#'   than 0. Default: 2.
#' @param margin The margin: any finite number for
#'   `mlx_margin_ranking_loss()` (default 0), a finite number greater than 0
#'   for `mlx_triplet_loss()` (default 1).
#' @param eps For `mlx_triplet_loss()`: added to the sum of powers, at least
#'   0 (default `1e-6`). For `mlx_cosine_similarity_loss()`: the smallest
#'   denominator, greater than 0 (default `1e-8`).
#' @param reduction `"none"`, `"mean"` or `"sum"`.
#' @return An MLX array: a scalar for `"mean"` and `"sum"`.
#' @examples
#' mlx_hinge_loss(as_mlx(c(0.5, -2, 3)), as_mlx(c(1, -1, -1)))
#' mlx_margin_ranking_loss(as_mlx(c(1, 2)), as_mlx(c(2, 1)), as_mlx(c(1, 1)),
#'                         margin = 0.5)
#' a <- matrix(c(0, 1, 2, 1), 2, 2)
#' mlx_triplet_loss(a, a + 0.1, -a)
#' mlx_cosine_similarity_loss(a, a[, 2:1])
#' @name margin_losses
NULL

#' @rdname margin_losses
#' @export
mlx_hinge_loss <- function(inputs, targets,
                           reduction = c("none", "mean", "sum")) {
  reduction <- rlang::arg_match(reduction)
  with_cpp_errors(nn_hinge_loss_(
    as_loss_input(inputs), as_loss_input(targets), reduction
  ))
}

#' @rdname margin_losses
#' @export
mlx_margin_ranking_loss <- function(inputs1, inputs2, targets, margin = 0,
                                    reduction = c("none", "mean", "sum")) {
  reduction <- rlang::arg_match(reduction)
  check_loss_option(margin)
  with_cpp_errors(nn_margin_ranking_loss_(
    as_loss_input(inputs1), as_loss_input(inputs2), as_loss_input(targets),
    margin, reduction
  ))
}

#' @rdname margin_losses
#' @export
mlx_triplet_loss <- function(anchors, positives, negatives, axis = -1, p = 2,
                             margin = 1, eps = 1e-6,
                             reduction = c("none", "mean", "sum")) {
  reduction <- rlang::arg_match(reduction)
  anchors <- as_loss_input(anchors)
  cpp_axis <- mlx_axis(axis, length(dim(anchors)))
  check_loss_option(p, lower = 0)
  check_loss_option(margin, lower = 0)
  check_loss_option(eps, lower = 0, inclusive = TRUE)
  with_cpp_errors(nn_triplet_loss_(
    anchors, as_loss_input(positives), as_loss_input(negatives), cpp_axis,
    p, margin, eps, reduction
  ))
}

#' @rdname margin_losses
#' @export
mlx_cosine_similarity_loss <- function(x1, x2, axis = 2, eps = 1e-8,
                                       reduction = c("none", "mean", "sum")) {
  reduction <- rlang::arg_match(reduction)
  x1 <- as_loss_input(x1)
  cpp_axis <- mlx_axis(axis, length(dim(x1)))
  check_loss_option(eps, lower = 0)
  with_cpp_errors(nn_cosine_similarity_loss_(
    x1, as_loss_input(x2), cpp_axis, eps, reduction
  ))
}
