# Translation of R's 1-based axis numbers to MLX's 0-based ones. Axes count
# from 1; negative axes count from the end (-1 is the last axis); 0 and axes
# beyond the rank are errors.

# Returns the 0-based MLX axis for the R axis `axis` of an array of rank
# `ndim`.
mlx_axis <- function(axis, ndim, arg = rlang::caller_arg(axis),
                     call = rlang::caller_env()) {
  if (!is.numeric(axis) || length(axis) != 1 || is.na(axis) ||
    axis != trunc(axis)) {
    received <- describe_value(axis)
    abort_invalid(
      "{.arg {arg}} must be a single whole number.",
      "You supplied {received}.",
      call
    )
  }
  mlx_axes(axis, ndim, arg = arg, call = call)
}

# Returns the 0-based MLX axes for the distinct R axes `axes`.
mlx_axes <- function(axes, ndim, arg = rlang::caller_arg(axes),
                     call = rlang::caller_env()) {
  if (!is.numeric(axes) || anyNA(axes) || any(axes != trunc(axes))) {
    received <- describe_value(axes)
    abort_invalid(
      "{.arg {arg}} must contain whole numbers.",
      "You supplied {received}.",
      call
    )
  }
  bad <- axes == 0 | abs(axes) > ndim
  if (any(bad)) {
    value <- axes[bad][[1]]
    if (ndim == 0) {
      abort_invalid(
        "{.arg {arg}} cannot name an axis of a 0-d array.",
        "You supplied {value}.",
        call,
        class = "rmlx_error_axis"
      )
    }
    abort_invalid(
      "{.arg {arg}} must be between 1 and {ndim}, or between -{ndim} and -1.",
      "You supplied {value}.",
      call,
      class = "rmlx_error_axis"
    )
  }
  zero_based <- as.integer(ifelse(axes > 0, axes - 1, ndim + axes))
  if (anyDuplicated(zero_based)) {
    abort_invalid(
      "{.arg {arg}} must not name the same axis twice.",
      "You supplied {paste(axes, collapse = ', ')}.",
      call,
      class = "rmlx_error_axis"
    )
  }
  zero_based
}
