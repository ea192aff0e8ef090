# Creating MLX arrays from R, converting them back, and printing them.

#' Convert an R vector, matrix or array to an MLX array
#'
#' `as_mlx()` copies the values of `x` into a new MLX array with the same
#' shape: element `x[i, j, k]` of an R array is element `[i, j, k]` of the MLX
#' array. An R vector without `dim` becomes a 1-D array, so a length-1 vector
#' becomes a 1-D array of length 1, not a 0-d scalar.
#'
#' Default dtypes are `"float32"` for doubles, `"int32"` for integers and
#' `"bool"` for logicals. `NA` in a double vector becomes `NaN` in a float
#' dtype. `NA` in an integer or logical vector is an error, and so is a value
#' that does not fit an integer `dtype`.
#'
#' @param x A double, integer or logical vector, matrix or array, or an MLX
#'   array.
#' @param dtype Name of the MLX dtype, one of `"bool"`, `"uint8"`,
#'   `"uint16"`, `"uint32"`, `"uint64"`, `"int8"`, `"int16"`, `"int32"`,
#'   `"int64"`, `"float16"`, `"bfloat16"`, `"float32"` and `"float64"`.
#'   Default: `NULL`, which picks a dtype from the type of `x` (and keeps the
#'   dtype of an MLX array).
#' @param device `"cpu"`, `"gpu"` or `NULL` for MLX's default device.
#'   Default: `NULL`.
#' @return An object of class `mlx_array`.
#' @examples
#' x <- as_mlx(matrix(1:6, nrow = 2))
#' x
#' mlx_dtype(x)
#' as_mlx(c(0.5, NA), dtype = "float16")
#' @export
as_mlx <- function(x, dtype = NULL, device = NULL) {
  if (inherits(x, "mlx_array")) {
    if (is.null(dtype) || identical(dtype, mlx_dtype(x))) {
      return(x)
    }
    return(mlx_astype(x, dtype))
  }
  check_convertible(x)
  dtype <- dtype %||% default_dtype(x)
  check_dtype(dtype)
  check_device(device)
  check_values_fit(x, dtype)
  as_mlx_(x, dtype, FALSE, device)
}

`%||%` <- function(x, y) if (is.null(x)) y else x

default_dtype <- function(x) {
  switch(typeof(x),
    double = "float32",
    integer = "int32",
    logical = "bool"
  )
}

check_convertible <- function(x, arg = rlang::caller_arg(x),
                              call = rlang::caller_env()) {
  # Matrices and arrays are not objects; factors, dates and the like are.
  ok <- typeof(x) %in% c("double", "integer", "logical") && !is.object(x)
  if (!ok) {
    received <- describe_value(x)
    abort_invalid(
      "{.arg {arg}} must be a double, integer or logical vector, matrix or array.",
      "You supplied {received}.",
      call
    )
  }
}

integer_dtype_range <- list(
  uint8 = c(0, 255), uint16 = c(0, 65535), uint32 = c(0, 2^32 - 1),
  uint64 = c(0, 2^64), int8 = c(-128, 127), int16 = c(-32768, 32767),
  int32 = c(-2^31, 2^31 - 1), int64 = c(-2^63, 2^63)
)

# Checks that the values of `x` can be stored in `dtype`.
check_values_fit <- function(x, dtype, arg = rlang::caller_arg(x),
                             call = rlang::caller_env()) {
  if (dtype == "complex64") {
    abort_invalid(
      "{.arg dtype} must be a real dtype: conversion from R to complex64 is not supported.",
      "You supplied {.val {dtype}}.",
      call
    )
  }
  is_float <- dtype %in% c("float16", "bfloat16", "float32", "float64")
  missing_at <- which(is.na(x))
  if (length(missing_at) > 0 && (!is.double(x) || !is_float)) {
    abort_invalid(
      "{.arg {arg}} must not contain NA when converted to {dtype}.",
      "{cli::qty(length(missing_at))}Found NA at position{?s} {head(missing_at, 5)}.",
      call
    )
  }
  range <- integer_dtype_range[[dtype]]
  if (!is.null(range) && length(x) > 0) {
    bad <- which(!is.finite(x) | x < range[[1]] | x > range[[2]])
    if (length(bad) > 0) {
      abort_invalid(
        "{.arg {arg}} must contain finite values between {range[[1]]} and {range[[2]]} for dtype {dtype}.",
        "Element {bad[[1]]} is {x[[bad[[1]]]]}.",
        call
      )
    }
  }
  if (dtype == "bool" && is.double(x) && any(!is.finite(x))) {
    abort_invalid(
      "{.arg {arg}} must contain finite values for dtype bool.",
      "It contains {.val {x[!is.finite(x)][[1]]}}.",
      call
    )
  }
}

# Converts a length-1 R value to a 0-d MLX array of `dtype`.
as_mlx_scalar <- function(x, dtype, call = rlang::caller_env()) {
  check_values_fit(x, dtype, arg = "value", call = call)
  as_mlx_(x, dtype, TRUE, NULL)
}

#' Convert an MLX array to an R array or vector
#'
#' These methods evaluate `x` and copy its values into R with the same shape
#' and element positions. Float dtypes become doubles and bool becomes
#' logical. Integer dtypes become R integers, except that an array with a
#' value outside R's integer range (beyond +/-2147483647, which can happen in
#' uint32, int64 and uint64) becomes a double vector. A 0-d array becomes a
#' vector of length 1 without `dim`.
#'
#' @param x An MLX array.
#' @param mode,... Passed on to the base function applied to the result of
#'   `as.array()`.
#' @return `as.array()` returns an R array with `dim(x)` (or a length-1
#'   vector for a 0-d array); the others return what the base function
#'   returns for that array.
#' @examples
#' x <- as_mlx(matrix(c(1.5, 2, 3, 4), 2))
#' as.array(x)
#' as.vector(x)
#' as.integer(x)
#' as.logical(x > 2)
#' @name mlx_convert
NULL

#' @rdname mlx_convert
#' @export
as.array.mlx_array <- function(x, ...) {
  as_r_(x)
}

#' @rdname mlx_convert
#' @export
as.matrix.mlx_array <- function(x, ...) {
  as.matrix(as_r_(x), ...)
}

#' @rdname mlx_convert
#' @export
as.vector.mlx_array <- function(x, mode = "any") {
  as.vector(as_r_(x), mode)
}

#' @rdname mlx_convert
#' @export
as.double.mlx_array <- function(x, ...) {
  as.double(as_r_(x))
}

#' @rdname mlx_convert
#' @export
as.integer.mlx_array <- function(x, ...) {
  as.integer(as_r_(x))
}

#' @rdname mlx_convert
#' @export
as.logical.mlx_array <- function(x, ...) {
  as.logical(as_r_(x))
}

#' Dtype, shape and evaluation of MLX arrays
#'
#' `mlx_dtype()` returns the dtype name, `mlx_astype()` converts to another
#' dtype (lazily), and `mlx_shape()` returns the shape as an integer vector,
#' `integer(0)` for a 0-d array. `dim()` returns the same shape, or `NULL`
#' for a 0-d array, and `length()` the number of elements. `mlx_eval()`
#' evaluates its arguments, which MLX otherwise does only when values are
#' needed.
#'
#' @param x An MLX array.
#' @param dtype Name of the target dtype; see [as_mlx()] for the list.
#' @param ... MLX arrays to evaluate.
#' @return `mlx_dtype()`: a string. `mlx_astype()`: an MLX array.
#'   `mlx_shape()`: an integer vector. `mlx_eval()`: `NULL`, invisibly.
#' @examples
#' x <- as_mlx(matrix(1:6, 2))
#' mlx_dtype(x)
#' mlx_shape(x)
#' y <- mlx_astype(x, "float16") * 2
#' mlx_eval(y)
#' y
#' @name mlx_dtype
NULL

#' @rdname mlx_dtype
#' @export
mlx_dtype <- function(x) {
  check_mlx_array(x)
  mlx_dtype_(x)
}

#' @rdname mlx_dtype
#' @export
mlx_astype <- function(x, dtype) {
  check_mlx_array(x)
  check_dtype(dtype)
  mlx_astype_(x, dtype)
}

#' @rdname mlx_dtype
#' @export
mlx_shape <- function(x) {
  check_mlx_array(x)
  mlx_shape_(x)
}

#' @rdname mlx_dtype
#' @export
mlx_eval <- function(...) {
  arrays <- list(...)
  for (i in seq_along(arrays)) {
    if (!inherits(arrays[[i]], "mlx_array")) {
      received <- describe_value(arrays[[i]])
      abort_invalid(
        "Every argument to {.fn mlx_eval} must be an MLX array.",
        "Argument {i} is {received}.",
        rlang::current_env()
      )
    }
  }
  collect_array_garbage("mlx_eval")
  mlx_eval_(arrays)
  invisible(NULL)
}

#' @rdname mlx_dtype
#' @export
dim.mlx_array <- function(x) {
  shape <- mlx_shape_(x)
  if (length(shape) == 0) NULL else shape
}

#' @rdname mlx_dtype
#' @param value The new shape, as for [mlx_reshape()].
#' @export
`dim<-.mlx_array` <- function(x, value) {
  mlx_reshape(x, value)
}

#' @rdname mlx_dtype
#' @export
length.mlx_array <- function(x) {
  size <- mlx_size_(x)
  if (size <= .Machine$integer.max) as.integer(size) else size
}

format_shape <- function(shape) {
  if (length(shape) == 0) "[scalar]" else paste0("[", paste(shape, collapse = " x "), "]")
}

#' Print an MLX array
#'
#' `print()` evaluates `x` and prints a header with its dtype and shape
#' followed by the values laid out as R prints the same array. Arrays with
#' more than `getOption("rmlx.print_max", 1000)` elements are shown in part:
#' the first 100 elements of a 1-D array, else the first 10 positions of the
#' first two axes and the first 2 of each further axis. `format()` returns the
#' header alone and `str()` a one-line summary.
#'
#' @param x,object An MLX array.
#' @param ... Passed on to [print()] for the values; ignored by `format()`
#'   and `str()`.
#' @return `print()` returns `x` invisibly, `format()` a string, and `str()`
#'   `NULL` invisibly.
#' @examples
#' x <- as_mlx(matrix(1:6, 2))
#' print(x)
#' format(x)
#' str(x)
#' @name mlx_print
NULL

#' @rdname mlx_print
#' @export
format.mlx_array <- function(x, ...) {
  paste0("<mlx_array ", mlx_dtype(x), " ", format_shape(mlx_shape_(x)), ">")
}

#' @rdname mlx_print
#' @export
print.mlx_array <- function(x, ...) {
  cat(format(x), "\n", sep = "")
  shape <- mlx_shape_(x)
  limit <- getOption("rmlx.print_max", 1000)
  if (prod(shape) <= limit) {
    print(as_r_(x), ...)
    return(invisible(x))
  }
  keep <- if (length(shape) == 1) {
    min(shape, 100L)
  } else {
    pmin(shape, c(10L, 10L, rep(2L, length(shape) - 2)))
  }
  indices <- lapply(keep, function(k) seq_len(k) - 1L)
  print(as_r_(mlx_take_(x, indices)), ...)
  cat("# showing ", format_shape(keep), " of ", format_shape(shape),
    "; use as.array() for all values\n",
    sep = ""
  )
  invisible(x)
}

#' @rdname mlx_print
#' @export
str.mlx_array <- function(object, ...) {
  size <- length(object)
  shown <- min(size, 10)
  flat <- mlx_flatten_(object)
  values <- as_r_(mlx_take_(flat, list(seq_len(shown) - 1L)))
  cat(
    " mlx_array ", mlx_dtype(object), " ", format_shape(mlx_shape_(object)),
    " ", paste(format(values), collapse = " "),
    if (size > shown) " ...", "\n",
    sep = ""
  )
  invisible(NULL)
}

#' Create MLX arrays filled with a value or a range
#'
#' `mlx_zeros()`, `mlx_ones()` and `mlx_full()` create arrays of shape `dim`.
#' `mlx_arange()` creates the 1-D array `start, start + step, ...` up to but
#' excluding `stop`, as MLX and NumPy do; with `stop = NULL` it counts from 0
#' to `start`.
#'
#' @param dim Shape of the array, in R's order. `integer(0)` gives a 0-d
#'   array.
#' @param value A single number or logical, or a 0-d MLX array.
#' @param dtype Name of the dtype; see [as_mlx()]. Default: `"float32"` for
#'   `mlx_zeros()` and `mlx_ones()`. For `mlx_full()` the default `NULL`
#'   follows the type of `value` as [as_mlx()] does. For `mlx_arange()` the
#'   default `NULL` picks `"int32"` when `start`, `stop` and `step` are whole
#'   numbers, else `"float32"`.
#' @param start,stop,step Range bounds and increment. Default: `stop = NULL`,
#'   `step = 1`.
#' @param device `"cpu"`, `"gpu"` or `NULL` for MLX's default device.
#'   Default: `NULL`.
#' @return An MLX array.
#' @examples
#' mlx_zeros(c(2, 3))
#' mlx_ones(3, dtype = "int32")
#' mlx_full(c(2, 2), 7.5)
#' mlx_arange(5)
#' mlx_arange(0, 1, 0.25)
#' @name mlx_creation
NULL

#' @rdname mlx_creation
#' @export
mlx_zeros <- function(dim, dtype = "float32", device = NULL) {
  mlx_full(dim, 0, dtype = dtype, device = device)
}

#' @rdname mlx_creation
#' @export
mlx_ones <- function(dim, dtype = "float32", device = NULL) {
  mlx_full(dim, 1, dtype = dtype, device = device)
}

#' @rdname mlx_creation
#' @export
mlx_full <- function(dim, value, dtype = NULL, device = NULL) {
  check_counts(dim)
  if (inherits(value, "mlx_array")) {
    if (length(mlx_shape_(value)) != 0) {
      abort_invalid(
        "{.arg value} must be a single value or a 0-d MLX array.",
        "You supplied an MLX array of shape {format_shape(mlx_shape_(value))}.",
        rlang::current_env()
      )
    }
    dtype <- dtype %||% mlx_dtype(value)
  } else {
    if (!(is.numeric(value) || is.logical(value)) || length(value) != 1) {
      received <- describe_value(value)
      abort_invalid(
        "{.arg value} must be a single number or logical value.",
        "You supplied {received}.",
        rlang::current_env()
      )
    }
    dtype <- dtype %||% default_dtype(value)
    check_dtype(dtype)
    value <- as_mlx_scalar(value, if (dtype == "complex64") "float32" else dtype)
  }
  check_dtype(dtype)
  check_device(device)
  mlx_full_(as.integer(dim), value, dtype, device)
}

#' @rdname mlx_creation
#' @export
mlx_arange <- function(start, stop = NULL, step = 1, dtype = NULL,
                       device = NULL) {
  check_number(start)
  if (is.null(stop)) {
    stop <- start
    start <- 0
  }
  check_number(stop)
  check_number(step)
  if (step == 0) {
    abort_invalid("{.arg step} must not be 0.", "You supplied 0.",
      rlang::current_env()
    )
  }
  if (is.null(dtype)) {
    whole <- all(c(start, stop, step) == trunc(c(start, stop, step)))
    dtype <- if (whole) "int32" else "float32"
  }
  check_dtype(dtype)
  check_device(device)
  mlx_arange_(start, stop, step, dtype, device)
}

#' Report which BLAS MLX uses
#'
#' MLX on Linux calls `cblas_sgemm` for float32 matrix products. When
#' configure finds OpenBLAS, Rmlx loads it into the global symbol scope before
#' its own library, so OpenBLAS's `cblas_sgemm` is used in place of the
#' reference BLAS that the MLX wheel ships.
#'
#' @return A list with `cblas_sgemm` (the resolved path, symbolic links
#'   followed, of the library whose `cblas_sgemm` the loader binds, or `""`
#'   when none), `configured` (the
#'   BLAS path recorded at install time, or `""`) and `mlx_version`.
#' @examples
#' mlx_blas_info()
#' @export
mlx_blas_info <- function() {
  resolved <- mlx_blas_library_()
  list(
    cblas_sgemm = if (nzchar(resolved)) normalizePath(resolved) else "",
    configured = installed_config()[["blas"]] %||% "",
    mlx_version = mlx_version_()
  )
}
