#' Regression losses
#'
#' The smooth L1, Huber, log cosh and Gaussian negative log likelihood
#' losses of MLX Python's `mlx.nn.losses`, with the same arguments and
#' defaults. `reduction` is `"none"` (one value per element), `"mean"` or
#' `"sum"`. With \eqn{d = |x - t|}:
#'
#' - `mlx_smooth_l1_loss()`: \eqn{0.5 d^2 / \beta} where \eqn{d < \beta},
#'   \eqn{d - 0.5 \beta} elsewhere. `beta = 0` gives the L1 loss, as in
#'   PyTorch (MLX Python's gradient is `NaN` there). Default reduction
#'   `"mean"`.
#' - `mlx_huber_loss()`: \eqn{0.5 d^2} where \eqn{d \le \delta},
#'   \eqn{\delta (d - 0.5 \delta)} elsewhere. Default reduction `"none"`.
#' - `mlx_log_cosh_loss()`: \eqn{\log(\cosh(x - t))}, finite for every
#'   finite error and accurate to a few units in the last place from
#'   \eqn{10^{-6}} to \eqn{10^{38}} in float32. MLX Python computes
#'   \eqn{\mathrm{logaddexp}(d, -d) - \log 2}, which cancels for small
#'   errors: it returns 0 for \eqn{d = 10^{-4}}, where the loss is
#'   \eqn{5 \cdot 10^{-9}}. Default reduction `"none"`.
#' - `mlx_gaussian_nll_loss()`: \eqn{0.5 (\log v + (t - x)^2 / v)} with
#'   \eqn{v = \max(\mathrm{vars}, \epsilon)}, plus \eqn{0.5 \log(2 \pi)} when
#'   `full`. Variances below `eps` get no gradient, as in MLX Python (PyTorch
#'   passes the gradient through its clamp). Default reduction `"mean"`.
#'
#' All arguments of a loss must have the same shape; MLX Python broadcasts
#' those of `huber_loss` and `log_cosh_loss`.
#'
#' @param predictions,inputs Predictions (for `mlx_gaussian_nll_loss()`, the
#'   means): an MLX array or R array.
#' @param targets Targets of the same shape.
#' @param vars For `mlx_gaussian_nll_loss()`: the predicted variances, of
#'   the same shape.
#' @param beta For `mlx_smooth_l1_loss()`: the error at which the loss turns
#'   from quadratic to linear, a finite number of at least 0. Default: 1.
#' @param delta For `mlx_huber_loss()`: the error at which the loss turns
#'   from quadratic to linear, a finite number greater than 0. Default: 1.
#' @param full For `mlx_gaussian_nll_loss()`: whether to add the constant
#'   \eqn{0.5 \log(2 \pi)}. Default: `FALSE`.
#' @param eps For `mlx_gaussian_nll_loss()`: the smallest variance used, a
#'   finite number greater than 0. Default: `1e-6`.
#' @param reduction `"none"`, `"mean"` or `"sum"`.
#' @return An MLX array: a scalar for `"mean"` and `"sum"`.
#' @examples
#' p <- as_mlx(c(0, 1.5, -3))
#' t <- as_mlx(c(0.5, 1, 3))
#' mlx_smooth_l1_loss(p, t, beta = 0.5, reduction = "none")
#' mlx_huber_loss(p, t, delta = 2)
#' mlx_log_cosh_loss(p, t, reduction = "sum")
#' mlx_gaussian_nll_loss(p, t, as_mlx(c(1, 0.5, 2)), full = TRUE)
#' @name regression_losses
NULL

#' @rdname regression_losses
#' @export
mlx_smooth_l1_loss <- function(predictions, targets, beta = 1,
                               reduction = c("mean", "none", "sum")) {
  reduction <- rlang::arg_match(reduction)
  check_loss_option(beta, lower = 0, inclusive = TRUE)
  with_cpp_errors(nn_smooth_l1_loss_(
    as_loss_input(predictions), as_loss_input(targets), beta, reduction
  ))
}

#' @rdname regression_losses
#' @export
mlx_huber_loss <- function(inputs, targets, delta = 1,
                           reduction = c("none", "mean", "sum")) {
  reduction <- rlang::arg_match(reduction)
  check_loss_option(delta, lower = 0)
  with_cpp_errors(nn_huber_loss_(
    as_loss_input(inputs), as_loss_input(targets), delta, reduction
  ))
}

#' @rdname regression_losses
#' @export
mlx_log_cosh_loss <- function(inputs, targets,
                              reduction = c("none", "mean", "sum")) {
  reduction <- rlang::arg_match(reduction)
  with_cpp_errors(nn_log_cosh_loss_(
    as_loss_input(inputs), as_loss_input(targets), reduction
  ))
}

#' @rdname regression_losses
#' @export
mlx_gaussian_nll_loss <- function(inputs, targets, vars, full = FALSE,
                                  eps = 1e-6,
                                  reduction = c("mean", "none", "sum")) {
  reduction <- rlang::arg_match(reduction)
  check_bool(full)
  check_loss_option(eps, lower = 0)
  with_cpp_errors(nn_gaussian_nll_loss_(
    as_loss_input(inputs), as_loss_input(targets), as_loss_input(vars),
    full, eps, reduction
  ))
}
