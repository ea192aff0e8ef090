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

# Checks the size arguments of a layer over `dims` spatial dimensions: each
# is one whole number, or (for 2 or 3 dimensions) one per dimension. Returns
# them as integer vectors; a NULL argument named in `optional` becomes
# integer(0), which the C++ layer reads as its default.
check_sizes <- function(sizes, dims, call, optional = character()) {
  allowed <- if (dims == 1) 1 else c(1, dims)
  rule <- if (dims == 1) {
    "one whole number"
  } else {
    paste("one or", dims, "whole numbers")
  }
  for (name in names(sizes)) {
    value <- sizes[[name]]
    if (is.null(value) && name %in% optional) {
      sizes[[name]] <- integer(0)
      next
    }
    if (!is.numeric(value) || !length(value) %in% allowed || anyNA(value) ||
        any(value != trunc(value)) || any(abs(value) > .Machine$integer.max)) {
      received <- describe_value(value)
      abort_invalid(
        "{.arg {name}} must be {rule}.",
        "You supplied {received}.", call
      )
    }
    sizes[[name]] <- as.integer(value)
  }
  sizes
}
