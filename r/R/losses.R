#' Loss functions
#'
#' The losses of MLX Python's `mlx.nn.losses`, with the same arguments and
#' defaults. `reduction` is `"none"` (one value per element or sample),
#' `"mean"` or `"sum"`.
#'
#' - `mlx_mse_loss()`: \eqn{(p - t)^2}. Default reduction `"mean"`.
#' - `mlx_l1_loss()`: \eqn{|p - t|}. Default reduction `"mean"`.
#' - `mlx_binary_cross_entropy()`: with `with_logits = TRUE` (the default),
#'   \eqn{\log(1 + e^x) - x t}, computed as \eqn{(1 - t) \log(1 + e^x) + t
#'   \log(1 + e^{-x})} so that it keeps its precision: MLX Python returns 0
#'   for \eqn{x = 20, t = 1} (the loss is 2.1e-9) and `NaN` for
#'   \eqn{x = \infty, t = 0} (the loss is `Inf`). Otherwise the inputs are
#'   probabilities, and each log is clipped below at -100. Default reduction
#'   `"mean"`.
#' - `mlx_cross_entropy()`: \eqn{\mathrm{logsumexp}(x) - x_t}, with label
#'   smoothing \eqn{s}: \eqn{\mathrm{logsumexp}(x) - (1 - s) x_t - s
#'   \bar{x}}. Default reduction `"none"`, as in MLX Python. With probability
#'   targets, a class of probability 0 adds nothing even if its logit is
#'   `-Inf` (a masked class), where MLX Python returns `NaN`.
#' - `mlx_nll_loss()`: \eqn{-x_t} for log probabilities `inputs` and class
#'   labels `targets`. Default reduction `"none"`.
#' - `mlx_kl_div_loss()`: \eqn{\sum_c e^{t_c} (t_c - x_c)} along `axis`,
#'   where `inputs` and `targets` are log probabilities of the same shape. A
#'   class with \eqn{t_c = -\infty} adds 0 (`NaN` if its input is `NaN`),
#'   where MLX Python returns `NaN`. Default reduction `"none"`.
#'
#' Inputs of large magnitude (such as \eqn{\pm 10^4} in float32) give finite,
#' accurate losses wherever the loss itself is finite.
#'
#' Class labels in `targets` (for `mlx_cross_entropy()` and
#' `mlx_nll_loss()`) are 1-based, as R's are: a factor, or whole
#' numbers in `[1, C]`; they are checked when given as R data to these
#' functions (a training step converts its arguments first: see
#' [mlx_train_step()]). An MLX array
#' is taken as 1-based labels (converted to integers if it is floating
#' point) and cannot be checked without forcing its evaluation, which a
#' compiled training step cannot do: a label outside `[1, C]` gives a `NaN`
#' loss for that sample (MLX Python reads outside the logits instead).
#' Targets of the same shape as `logits` are class probabilities.
#'
#' @param predictions,inputs,logits Predictions: an MLX array (or R array).
#'   For `mlx_nll_loss()` and `mlx_kl_div_loss()`, log probabilities.
#' @param targets Targets, see Details.
#' @param weights Optional weights of the loss's shape, multiplying it
#'   elementwise before the reduction. Default: `NULL`.
#' @param with_logits For `mlx_binary_cross_entropy()`: whether `inputs` are
#'   logits (the default) or probabilities.
#' @param axis For `mlx_cross_entropy()`, `mlx_nll_loss()` and
#'   `mlx_kl_div_loss()`: the class axis, 1-based, negative from the end.
#'   Default: `-1`.
#' @param label_smoothing For `mlx_cross_entropy()`: in `[0, 1)`. Default: 0.
#' @param reduction `"none"`, `"mean"` or `"sum"`.
#' @return An MLX array: a scalar for `"mean"` and `"sum"`.
#' @examples
#' logits <- as_mlx(matrix(c(2, 0, 0, 1, 3, 0), 2, 3))
#' mlx_cross_entropy(logits, factor(c("a", "b"), levels = c("a", "b", "c")))
#' mlx_mse_loss(as_mlx(c(1, 2)), as_mlx(c(1, 4)))
#' log_probs <- log(matrix(c(0.7, 0.2, 0.1, 0.1, 0.3, 0.6), 2, 3, byrow = TRUE))
#' mlx_nll_loss(log_probs, c(1, 3))
#' mlx_kl_div_loss(log_probs, log_probs[2:1, ])
#' @name losses
NULL

as_loss_input <- function(x) if (inherits(x, "mlx_array")) x else as_mlx(x)

optional_weights <- function(weights) {
  if (is.null(weights)) NULL else as_loss_input(weights)
}

#' @rdname losses
#' @export
mlx_mse_loss <- function(predictions, targets, reduction = c("mean", "none", "sum")) {
  reduction <- rlang::arg_match(reduction)
  with_cpp_errors(
    nn_mse_loss_(as_loss_input(predictions), as_loss_input(targets), reduction)
  )
}

#' @rdname losses
#' @export
mlx_l1_loss <- function(predictions, targets, reduction = c("mean", "none", "sum")) {
  reduction <- rlang::arg_match(reduction)
  with_cpp_errors(
    nn_l1_loss_(as_loss_input(predictions), as_loss_input(targets), reduction)
  )
}

#' @rdname losses
#' @export
mlx_binary_cross_entropy <- function(inputs, targets, weights = NULL,
                                     with_logits = TRUE,
                                     reduction = c("mean", "none", "sum")) {
  reduction <- rlang::arg_match(reduction)
  check_bool(with_logits)
  inputs <- as_loss_input(inputs)
  if (is.logical(targets) || is.factor(targets)) {
    targets <- as.numeric(if (is.factor(targets)) as.integer(targets) - 1L else targets)
  }
  targets <- as_loss_input(targets)
  with_cpp_errors(nn_binary_cross_entropy_(
    inputs, targets, optional_weights(weights), with_logits, reduction
  ))
}

#' @rdname losses
#' @export
mlx_cross_entropy <- function(logits, targets, weights = NULL, axis = -1,
                              label_smoothing = 0,
                              reduction = c("none", "mean", "sum")) {
  reduction <- rlang::arg_match(reduction)
  logits <- as_loss_input(logits)
  shape <- dim(logits)
  cpp_axis <- mlx_axis(axis, length(shape))
  if (!is.numeric(label_smoothing) || length(label_smoothing) != 1 ||
      is.na(label_smoothing) || label_smoothing < 0 || label_smoothing >= 1) {
    received <- describe_value(label_smoothing)
    abort_invalid("{.arg label_smoothing} must be a number in [0, 1).",
                  "You supplied {received}.", rlang::current_env())
  }
  classes <- shape[[cpp_axis + 1L]]
  is_probabilities <- if (inherits(targets, "mlx_array")) {
    length(dim(targets)) == length(shape)
  } else {
    !is.factor(targets) && length(dim(targets)) == length(shape) &&
      length(shape) > 1
  }
  if (is_probabilities) {
    targets <- as_loss_input(targets)
  } else {
    targets <- zero_based_labels(targets, classes)
  }
  with_cpp_errors(nn_cross_entropy_(
    logits, targets, optional_weights(weights), cpp_axis, label_smoothing,
    reduction
  ))
}

# 1-based class labels (a factor, whole numbers, or an MLX array) as 0-based
# MLX integers. R labels are range-checked here; the binding turns an MLX
# label out of range into a NaN loss.
zero_based_labels <- function(targets, classes, arg = rlang::caller_arg(targets),
                              call = rlang::caller_env()) {
  if (inherits(targets, "mlx_array")) {
    if (!mlx_dtype(targets) %in% c("int8", "int16", "int32", "int64",
                                    "uint8", "uint16", "uint32", "uint64")) {
      targets <- mlx_astype(targets, "int32")
    }
    return(targets - 1L)
  }
  one_based_indices(targets, classes, shift = TRUE, arg = arg, call = call)
}

#' @rdname losses
#' @export
mlx_nll_loss <- function(inputs, targets, axis = -1,
                         reduction = c("none", "mean", "sum")) {
  reduction <- rlang::arg_match(reduction)
  inputs <- as_loss_input(inputs)
  shape <- dim(inputs)
  cpp_axis <- mlx_axis(axis, length(shape))
  targets <- zero_based_labels(targets, shape[[cpp_axis + 1L]])
  with_cpp_errors(nn_nll_loss_(inputs, targets, cpp_axis, reduction))
}

#' @rdname losses
#' @export
mlx_kl_div_loss <- function(inputs, targets, axis = -1,
                            reduction = c("none", "mean", "sum")) {
  reduction <- rlang::arg_match(reduction)
  inputs <- as_loss_input(inputs)
  cpp_axis <- mlx_axis(axis, length(dim(inputs)))
  with_cpp_errors(
    nn_kl_div_loss_(inputs, as_loss_input(targets), cpp_axis, reduction)
  )
}

# Checks a loss option: a finite number above `lower`, or at least `lower`
# when `inclusive`.
check_loss_option <- function(x, lower = -Inf, inclusive = FALSE,
                              arg = rlang::caller_arg(x),
                              call = rlang::caller_env()) {
  ok <- is.numeric(x) && length(x) == 1 && is.finite(x) &&
    (if (inclusive) x >= lower else x > lower)
  if (!ok) {
    received <- describe_value(x)
    rule <- if (is.infinite(lower)) {
      "a finite number"
    } else if (inclusive) {
      paste("a finite number of at least", lower)
    } else {
      paste("a finite number greater than", lower)
    }
    abort_invalid("{.arg {arg}} must be {rule}.", "You supplied {received}.",
                  call)
  }
  invisible(x)
}
