# Arithmetic, math functions, reductions, shape operations and subsetting
# for MLX arrays. All of them build MLX graph nodes without evaluating.

float_dtypes <- c("float16", "bfloat16", "float32", "float64")

# Converts the R operand `value` of a binary operator whose other operand is
# the MLX array `other`. A length-1 R value without dim becomes a 0-d array
# that takes the other operand's dtype where the value fits it, as MLX
# Python's scalars do: `x * 2` keeps a float16 `x` float16 and an int32 `x`
# int32, while `x * 2.5` on an int32 `x` gives float32.
ops_operand <- function(value, other, op, call) {
  if (inherits(value, "mlx_array")) {
    return(value)
  }
  if (!typeof(value) %in% c("double", "integer", "logical") || is.object(value)) {
    received <- describe_value(value)
    abort_invalid(
      "Both operands of {.code {op}} must be MLX arrays or double, integer or logical values.",
      "One operand is {received}.",
      call
    )
  }
  if (length(value) != 1 || !is.null(dim(value))) {
    return(as_mlx(value))
  }
  other_dtype <- mlx_dtype_(other)
  other_is_float <- other_dtype %in% float_dtypes
  other_is_integer <- !other_is_float && other_dtype %in%
    names(integer_dtype_range)
  dtype <- switch(typeof(value),
    double = if (other_is_float) {
      other_dtype
    } else if (other_is_integer && is.finite(value) && value == trunc(value)) {
      other_dtype
    } else {
      "float32"
    },
    integer = if (other_dtype == "bool") "int32" else other_dtype,
    logical = other_dtype
  )
  if (dtype == "complex64") {
    dtype <- "float32"
  }
  as_mlx_scalar(value, dtype, call = call)
}

as_bool_array <- function(x) {
  if (mlx_dtype_(x) == "bool") x else mlx_astype_(x, "bool")
}

#' Arithmetic, comparison and math on MLX arrays
#'
#' The `Ops` group (`+ - * / ^ %% %/% == != < <= > >= & | !`) and the `Math`
#' group (`abs`, `sign`, `sqrt`, `floor`, `ceiling`, `trunc`, `round`, `exp`,
#' `expm1`, `log`, `log2`, `log10`, `log1p`, trigonometric and hyperbolic
#' functions and their inverses, `cumsum`, `cumprod`, `cummax`, `cummin`)
#' work elementwise on MLX arrays and return new, unevaluated MLX arrays.
#' `x %*% y` is the matrix product.
#'
#' Before R 4.4, `%*%` dispatches only on S4 classes, so Rmlx exports a
#' `%*%` that masks base R's: it calls MLX when either operand is an MLX
#' array and `base::%*%` otherwise. From R 4.4 on, an S3 method of the
#' `matrixOps` group also handles `base::%*%`.
#'
#' @section Operands:
#' One operand may be an R vector, matrix or array, converted with
#' [as_mlx()]. A single R number without `dim` becomes a 0-d array that keeps
#' the dtype of the MLX operand when the number fits it: `x * 2` stays
#' float16 for a float16 `x`, and `x + 1` stays int32 for an int32 `x`, but
#' `x * 2.5` on an int32 `x` is float32. Other dtypes combine by MLX's type
#' promotion rules, so `/` on integers gives float32.
#'
#' @section Broadcasting:
#' MLX arrays keep R's shape (`dim(x)` is the MLX shape), and operands
#' broadcast as in MLX and NumPy: shapes are aligned at their last axes and an
#' axis of extent 1 stretches to match. Unlike R, a shorter operand is never
#' recycled. For a 2 x 3 matrix `m`, `m + v` needs `v` of length 3 (added to
#' each row, `v[j]` to column `j`) or a 2 x 1 matrix (added to each column);
#' a length-2 vector is an error. Arrays of equal rank broadcast axis by axis.
#'
#' @section Other details:
#' `cumsum()` and the other cumulative functions flatten the array in R's
#' column-major order first and return a 1-D array, as R does. `round(x,
#' digits)` rounds halves to even. `%*%` follows R for vectors: a vector on
#' the left is a row vector, a vector on the right a column vector, and the
#' product of two vectors is a 1 x 1 matrix. MLX multiplies only
#' floating-point arrays, so two integer or bool operands are converted to
#' float32 first.
#'
#' @param e1,e2,x,y MLX arrays, or R values as described under Operands.
#' @param ... `digits` for `round()` and `base` for `log()`.
#' @return An MLX array.
#' @examples
#' x <- as_mlx(matrix(1:6, 2))
#' x * 2 + 1
#' x > 3
#' sqrt(x)
#' x %*% t(x)
#' cumsum(x)
#' @name mlx_ops
NULL

#' @rdname mlx_ops
#' @export
Ops.mlx_array <- function(e1, e2) {
  op <- .Generic
  # The common case, two MLX arrays and an arithmetic or comparison
  # operator, skips the operand checks below.
  if (!missing(e2) && inherits(e1, "mlx_array") && inherits(e2, "mlx_array") &&
      !op %in% c("&", "|")) {
    return(mlx_binary_(op, e1, e2))
  }
  call <- rlang::caller_env()
  if (missing(e2)) {
    return(switch(op,
      "+" = e1,
      "-" = mlx_unary_("negative", e1),
      "!" = mlx_unary_("logical_not", as_bool_array(e1))
    ))
  }
  if (inherits(e1, "mlx_array")) {
    e2 <- ops_operand(e2, e1, op, call)
  } else {
    e1 <- ops_operand(e1, e2, op, call)
  }
  if (op %in% c("&", "|")) {
    e1 <- as_bool_array(e1)
    e2 <- as_bool_array(e2)
  }
  mlx_binary_(op, e1, e2)
}

math_unary_ops <- c(
  "abs", "sign", "sqrt", "floor", "ceiling", "trunc", "exp", "expm1", "log2",
  "log10", "log1p", "sin", "cos", "tan", "asin", "acos", "atan", "sinh",
  "cosh", "tanh", "asinh", "acosh", "atanh"
)

#' @rdname mlx_ops
#' @export
Math.mlx_array <- function(x, ...) {
  op <- .Generic
  if (op %in% math_unary_ops) {
    return(mlx_unary_(op, x))
  }
  if (op == "log") {
    args <- list(...)
    result <- mlx_unary_("log", x)
    if (length(args) == 0) {
      return(result)
    }
    base <- args[[1]]
    check_number(base, arg = "base")
    return(result / log(base))
  }
  if (op == "round") {
    args <- list(...)
    digits <- if (length(args) == 0) 0 else args[[1]]
    check_count(digits, min = -.Machine$integer.max, arg = "digits")
    return(mlx_round_(x, as.integer(digits)))
  }
  if (op %in% c("cumsum", "cumprod", "cummax", "cummin")) {
    return(mlx_cumulative_(op, x))
  }
  cli::cli_abort(
    c(
      "{.fn {op}} is not supported for MLX arrays.",
      i = "Convert with {.code as.array(x)} and use base R."
    ),
    call = rlang::caller_env(),
    class = "rmlx_error_unsupported"
  )
}

#' @rdname mlx_ops
#' @export
t.mlx_array <- function(x) {
  shape <- mlx_shape_(x)
  if (length(shape) == 2) {
    return(mlx_transpose_(x, c(1L, 0L)))
  }
  if (length(shape) <= 1) {
    return(mlx_reshape_rowmajor_(x, c(1L, as.integer(prod(shape)))))
  }
  abort_invalid(
    "{.arg x} must be a vector or matrix.",
    "You supplied an array of shape {format_shape(shape)}.",
    rlang::current_env()
  )
}

mlx_matmul <- function(x, y) {
  x <- as_mlx(x)
  y <- as_mlx(y)
  x_rank <- length(mlx_shape_(x))
  y_rank <- length(mlx_shape_(y))
  if (x_rank == 0 || y_rank == 0) {
    abort_invalid(
      "Both operands of {.code %*%} must have at least one axis.",
      "You supplied a 0-d array.",
      rlang::caller_env()
    )
  }
  # MLX multiplies only floating-point matrices; R returns doubles for
  # integer and logical matrices too.
  if (!mlx_dtype_(x) %in% float_dtypes && !mlx_dtype_(y) %in% float_dtypes) {
    x <- mlx_astype_(x, "float32")
    y <- mlx_astype_(y, "float32")
  }
  if (x_rank == 1) {
    x <- mlx_reshape_rowmajor_(x, c(1L, length(x)))
  }
  if (y_rank == 1) {
    y <- mlx_reshape_rowmajor_(y, c(length(y), 1L))
  }
  mlx_matmul_(x, y)
}

#' @rdname mlx_ops
#' @export
`%*%` <- function(x, y) {
  if (inherits(x, "mlx_array") || inherits(y, "mlx_array")) {
    return(mlx_matmul(x, y))
  }
  base::`%*%`(x, y)
}

# The matrixOps group generic of R >= 4.4 dispatches `%*%` to this method
# even when base::`%*%` is called directly. .onLoad() registers it there.
matrixOps.mlx_array <- function(x, y) {
  mlx_matmul(x, y)
}

#' Reductions over MLX arrays
#'
#' `mlx_sum()`, `mlx_mean()`, `mlx_max()` and `mlx_min()` reduce over the
#' axes `axis`, or over the whole array when `axis` is `NULL`. `mlx_argmax()`
#' and `mlx_argmin()` return 1-based int32 positions of the maximum and
#' minimum along one axis; with `axis = NULL` they return the column-major
#' position in the whole array, like [which.max()]. The `Summary` group
#' (`sum`, `prod`, `max`, `min`, `range`, `all`, `any`) and `mean()` reduce
#' the whole array to a 0-d MLX array (`range()` to a 1-D array of length 2).
#'
#' Axes are 1-based and negative axes count from the end (-1 is the last).
#'
#' @param x An MLX array.
#' @param axis Axes to reduce, or `NULL` for all. `mlx_argmax()` and
#'   `mlx_argmin()` take one axis. Default: `NULL`.
#' @param keepdims Whether reduced axes are kept with extent 1. Default:
#'   `FALSE`.
#' @param ... For the `Summary` group, the one MLX array to reduce; other
#'   arguments are errors. Ignored by `mean()`.
#' @param na.rm Must be `FALSE`, because MLX arrays have no `NA`. Default:
#'   `FALSE`.
#' @return An MLX array.
#' @examples
#' x <- as_mlx(matrix(c(1, 5, 3, 2, 8, 4), 2))
#' mlx_sum(x, axis = 1)
#' mlx_mean(x, axis = 2, keepdims = TRUE)
#' mlx_argmax(x, axis = 2)
#' sum(x)
#' mean(x)
#' @name mlx_reduce
NULL

reduce <- function(op, x, axis, keepdims, call) {
  check_mlx_array(x, call = call)
  check_bool(keepdims, call = call)
  axes <- if (is.null(axis)) NULL else mlx_axes(axis, length(mlx_shape_(x)),
    arg = "axis", call = call
  )
  mlx_reduce_(op, x, axes, keepdims)
}

#' @rdname mlx_reduce
#' @export
mlx_sum <- function(x, axis = NULL, keepdims = FALSE) {
  reduce("sum", x, axis, keepdims, rlang::current_env())
}

#' @rdname mlx_reduce
#' @export
mlx_mean <- function(x, axis = NULL, keepdims = FALSE) {
  reduce("mean", x, axis, keepdims, rlang::current_env())
}

#' @rdname mlx_reduce
#' @export
mlx_max <- function(x, axis = NULL, keepdims = FALSE) {
  reduce("max", x, axis, keepdims, rlang::current_env())
}

#' @rdname mlx_reduce
#' @export
mlx_min <- function(x, axis = NULL, keepdims = FALSE) {
  reduce("min", x, axis, keepdims, rlang::current_env())
}

argreduce <- function(op, x, axis, keepdims, call) {
  check_mlx_array(x, call = call)
  check_bool(keepdims, call = call)
  axis <- if (is.null(axis)) NA_integer_ else mlx_axis(axis,
    length(mlx_shape_(x)),
    arg = "axis", call = call
  )
  if (length(x) == 0) {
    abort_invalid(
      "{.arg x} must have at least one element.",
      "You supplied an array of shape {format_shape(mlx_shape_(x))}.",
      call
    )
  }
  mlx_argreduce_(op, x, axis, keepdims)
}

#' @rdname mlx_reduce
#' @export
mlx_argmax <- function(x, axis = NULL, keepdims = FALSE) {
  argreduce("argmax", x, axis, keepdims, rlang::current_env())
}

#' @rdname mlx_reduce
#' @export
mlx_argmin <- function(x, axis = NULL, keepdims = FALSE) {
  argreduce("argmin", x, axis, keepdims, rlang::current_env())
}

#' @rdname mlx_reduce
#' @export
Summary.mlx_array <- function(..., na.rm = FALSE) {
  call <- rlang::caller_env()
  op <- .Generic
  args <- list(...)
  if (length(args) != 1) {
    abort_invalid(
      "{.fn {op}} takes exactly one MLX array.",
      "You supplied {length(args)} arguments.",
      call
    )
  }
  if (!isFALSE(na.rm)) {
    abort_invalid(
      "{.arg na.rm} must be FALSE: MLX arrays have no NA.",
      "You supplied {.val {na.rm}}.",
      call
    )
  }
  x <- args[[1]]
  if (op %in% c("all", "any")) {
    x <- as_bool_array(x)
  }
  if (op %in% c("max", "min", "range") && length(x) == 0) {
    abort_invalid(
      "{.arg x} must have at least one element for {.fn {op}}.",
      "You supplied an array of shape {format_shape(mlx_shape_(x))}.",
      call
    )
  }
  if (op == "range") {
    return(mlx_stack_(list(mlx_reduce_("min", x, NULL, FALSE),
      mlx_reduce_("max", x, NULL, FALSE)), 0L))
  }
  mlx_reduce_(op, x, NULL, FALSE)
}

#' @rdname mlx_reduce
#' @export
mean.mlx_array <- function(x, ...) {
  mlx_reduce_("mean", x, NULL, FALSE)
}
