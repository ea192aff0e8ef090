#' Loss functions
#'
#' The losses of MLX Python's `mlx.nn.losses`, with the same arguments and
#' defaults. `reduction` is `"none"` (one value per element or sample),
#' `"mean"` or `"sum"`.
#'
#' - `mlx_mse_loss()`: \eqn{(p - t)^2}. Default reduction `"mean"`.
#' - `mlx_l1_loss()`: \eqn{|p - t|}. Default reduction `"mean"`.
#' - `mlx_binary_cross_entropy()`: with `with_logits = TRUE` (the default),
#'   \eqn{\log(1 + e^x) - x t} computed stably; otherwise the inputs are
#'   probabilities and each log is clipped below at -100. Default reduction
#'   `"mean"`.
#' - `mlx_cross_entropy()`: \eqn{\mathrm{logsumexp}(x) - x_t}, with label
#'   smoothing \eqn{s}: \eqn{\mathrm{logsumexp}(x) - (1 - s) x_t - s
#'   \bar{x}}. Default reduction `"none"`, as in MLX Python.
#'
#' Class labels in `targets` are 1-based, as R's are: a factor, or whole
#' numbers in `[1, C]`; they are checked when given as R data to this
#' function (a training step converts its arguments first: see
#' [mlx_train_step()]). An MLX array
#' is taken as 1-based labels (converted to integers if it is floating
#' point) and cannot be checked without forcing its evaluation, which a
#' compiled training step cannot do: a label outside `[1, C]` gives a `NaN`
#' loss for that sample (MLX Python reads outside the logits instead).
#' Targets of the same shape as `logits` are class probabilities.
#'
#' @param predictions,inputs,logits Predictions: an MLX array (or R array).
#' @param targets Targets, see Details.
#' @param weights Optional weights of the loss's shape, multiplying it
#'   elementwise before the reduction. Default: `NULL`.
#' @param with_logits For `mlx_binary_cross_entropy()`: whether `inputs` are
#'   logits (the default) or probabilities.
#' @param axis For `mlx_cross_entropy()`: the class axis, 1-based, negative
#'   from the end. Default: `-1`.
#' @param label_smoothing For `mlx_cross_entropy()`: in `[0, 1)`. Default: 0.
#' @param reduction `"none"`, `"mean"` or `"sum"`.
#' @return An MLX array: a scalar for `"mean"` and `"sum"`.
#' @examples
#' logits <- as_mlx(matrix(c(2, 0, 0, 1, 3, 0), 2, 3))
#' mlx_cross_entropy(logits, factor(c("a", "b"), levels = c("a", "b", "c")))
#' mlx_mse_loss(as_mlx(c(1, 2)), as_mlx(c(1, 4)))
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
  } else if (inherits(targets, "mlx_array")) {
    if (!mlx_dtype(targets) %in% c("int8", "int16", "int32", "int64",
                                    "uint8", "uint16", "uint32", "uint64")) {
      targets <- mlx_astype(targets, "int32")
    }
    targets <- targets - 1L
  } else {
    targets <- one_based_indices(targets, classes, shift = TRUE)
  }
  with_cpp_errors(nn_cross_entropy_(
    logits, targets, optional_weights(weights), cpp_axis, label_smoothing,
    reduction
  ))
}
