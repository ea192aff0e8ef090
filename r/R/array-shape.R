# Reshaping, permuting, joining and subsetting MLX arrays.

#' Reshape, permute and join MLX arrays
#'
#' `mlx_reshape()` gives `x` the shape `dim` with R's element order, so
#' `as.array(mlx_reshape(x, dim))` equals `array(as.array(x), dim)`.
#' `mlx_transpose()` and `aperm()` permute the axes; `perm` is 1-based as in
#' [aperm()], and `NULL` reverses the axes. `mlx_concatenate()` joins arrays
#' along an existing axis and `mlx_stack()` along a new axis at position
#' `axis` of the result.
#'
#' @param x,a An MLX array.
#' @param dim The new shape, in R's order; its product must equal
#'   `length(x)`.
#' @param perm A permutation of the axes `1:length(dim(x))`, or `NULL`.
#'   Default: `NULL`.
#' @param arrays A non-empty list of MLX arrays or R arrays with the same
#'   dtype family; R arrays are converted with [as_mlx()].
#' @param axis The axis (1-based; negative counts from the end). Default: 1.
#' @param ... Ignored.
#' @return An MLX array.
#' @examples
#' x <- as_mlx(1:6)
#' mlx_reshape(x, c(2, 3))
#' m <- as_mlx(matrix(1:6, 2))
#' mlx_transpose(m)
#' mlx_concatenate(list(m, m), axis = 2)
#' mlx_stack(list(m, m), axis = 3)
#' @name mlx_shape_ops
NULL

#' @rdname mlx_shape_ops
#' @export
mlx_reshape <- function(x, dim) {
  check_mlx_array(x)
  check_counts(dim)
  if (prod(dim) != length(x)) {
    abort_invalid(
      "{.arg dim} must have a product equal to {.code length(x)} ({length(x)}).",
      "You supplied {paste(dim, collapse = ' x ')}, with product {prod(dim)}.",
      rlang::current_env()
    )
  }
  mlx_reshape_(x, as.integer(dim))
}

#' @rdname mlx_shape_ops
#' @export
mlx_transpose <- function(x, perm = NULL) {
  check_mlx_array(x)
  ndim <- length(mlx_shape_(x))
  if (is.null(perm)) {
    return(mlx_transpose_(x, rev(seq_len(ndim)) - 1L))
  }
  if (length(perm) != ndim) {
    abort_invalid(
      "{.arg perm} must have one entry per axis of {.arg x} ({ndim}).",
      "You supplied {length(perm)} entr{?y/ies}.",
      rlang::current_env()
    )
  }
  mlx_transpose_(x, mlx_axes(perm, ndim))
}

#' @rdname mlx_shape_ops
#' @export
aperm.mlx_array <- function(a, perm = NULL, ...) {
  mlx_transpose(a, perm)
}

check_array_list <- function(arrays, call) {
  if (!is.list(arrays) || length(arrays) == 0) {
    received <- describe_value(arrays)
    abort_invalid(
      "{.arg arrays} must be a non-empty list of arrays.",
      "You supplied {received}.",
      call
    )
  }
  lapply(arrays, as_mlx)
}

#' @rdname mlx_shape_ops
#' @export
mlx_concatenate <- function(arrays, axis = 1) {
  arrays <- check_array_list(arrays, rlang::current_env())
  ndim <- length(mlx_shape_(arrays[[1]]))
  mlx_concatenate_(arrays, mlx_axis(axis, ndim))
}

#' @rdname mlx_shape_ops
#' @export
mlx_stack <- function(arrays, axis = 1) {
  arrays <- check_array_list(arrays, rlang::current_env())
  ndim <- length(mlx_shape_(arrays[[1]]))
  mlx_stack_(arrays, mlx_axis(axis, ndim + 1))
}

#' Subset an MLX array
#'
#' `x[i, j, ...]` selects positions along each axis with R's rules for
#' positive, negative and logical indices (1-based, negative indices exclude,
#' logical indices recycle, 0 is dropped) and returns an MLX array. With
#' `drop = TRUE` every axis of extent 1 in the result is removed; a result
#' with all axes removed is a 1-D array of length 1. A single index on an
#' array of rank 2 or more indexes the elements in column-major order, as in
#' R. Assignment with `[<-` is not supported.
#'
#' @param x An MLX array.
#' @param ... One index per axis; an empty index selects the whole axis.
#' @param drop Whether to remove axes of extent 1. Default: `TRUE`.
#' @return An MLX array.
#' @examples
#' x <- as_mlx(array(1:24, c(2, 3, 4)))
#' x[2, , 1]
#' x[, -1, 1:2, drop = FALSE]
#' x[c(TRUE, FALSE), 3, ]
#' @name mlx_subset
NULL

#' @rdname mlx_subset
#' @export
`[.mlx_array` <- function(x, ..., drop = TRUE) {
  call <- rlang::current_env()
  check_bool(drop)
  index_exprs <- as.list(sys.call())[-c(1, 2)]
  index_exprs <- index_exprs[names(index_exprs) %||% rep("", length(index_exprs)) != "drop"]
  shape <- mlx_shape_(x)
  is_empty <- vapply(index_exprs, identical, logical(1), quote(expr = ))
  if (length(index_exprs) == 0 || (length(index_exprs) == 1 && is_empty)) {
    return(x)
  }
  if (length(index_exprs) == 1 && length(shape) != 1) {
    # Linear indexing over the column-major element order.
    x <- mlx_flatten_(x)
    shape <- length(x)
  } else if (length(index_exprs) != length(shape)) {
    abort_invalid(
      "The number of indices must equal the rank of {.arg x} ({length(shape)}).",
      "You supplied {length(index_exprs)} ind{?ex/ices}.",
      call
    )
  }
  env <- parent.frame()
  positions <- vector("list", length(shape))
  for (axis in seq_along(shape)) {
    if (is_empty[[axis]]) {
      next
    }
    index <- eval(index_exprs[[axis]], env)
    positions[axis] <- list(index_positions(index, shape[[axis]], axis, call))
  }
  result <- mlx_take_(x, positions)
  if (!drop) {
    return(result)
  }
  new_shape <- mlx_shape_(result)
  kept <- new_shape[new_shape != 1L]
  if (length(kept) == length(new_shape)) {
    return(result)
  }
  if (length(kept) == 0) {
    kept <- 1L
  }
  mlx_reshape_rowmajor_(result, kept)
}

# Returns the 0-based positions that `index` selects along an axis of
# `extent` elements, or NULL when it selects the whole axis in order.
index_positions <- function(index, extent, axis, call) {
  if (inherits(index, "mlx_array")) {
    index <- as.vector(index)
  }
  if (is.null(index)) {
    index <- integer(0)
  }
  if (!(is.numeric(index) || is.logical(index)) || is.object(index)) {
    received <- describe_value(index)
    abort_invalid(
      "The index for axis {axis} must be numeric or logical.",
      "You supplied {received}.",
      call
    )
  }
  if (anyNA(index)) {
    abort_invalid(
      "The index for axis {axis} must not contain NA.",
      "Element {which(is.na(index))[[1]]} is NA.",
      call
    )
  }
  if (is.logical(index)) {
    if (length(index) > extent) {
      abort_invalid(
        "The logical index for axis {axis} must not be longer than the axis ({extent}).",
        "You supplied {length(index)} values.",
        call
      )
    }
    selected <- which(rep_len(index, extent))
  } else {
    index <- trunc(index)
    index <- index[index != 0]
    if (any(index < 0) && any(index > 0)) {
      abort_invalid(
        "The index for axis {axis} must not mix positive and negative values.",
        "You supplied {paste(head(index, 10), collapse = ', ')}.",
        call
      )
    }
    out_of_range <- abs(index) > extent
    if (any(out_of_range)) {
      abort_invalid(
        "The index for axis {axis} must be between 1 and {extent}.",
        "You supplied {index[out_of_range][[1]]}.",
        call,
        class = "rmlx_error_subscript"
      )
    }
    selected <- if (all(index < 0) && length(index) > 0) {
      setdiff(seq_len(extent), -index)
    } else {
      index
    }
  }
  if (length(selected) == extent && all(selected == seq_len(extent))) {
    return(NULL)
  }
  as.integer(selected - 1)
}

#' @export
`[<-.mlx_array` <- function(x, ..., value) {
  abort_invalid(
    "MLX arrays cannot be modified in place.",
    "Convert with {.fn as.array}, change the R array and convert back with {.fn as_mlx}, or build the new values with MLX operations.",
    rlang::current_env()
  )
}

#' Flatten axes of an array
#'
#' Merges the axes `start_axis` to `end_axis` into one, in MLX's row-major
#' order, as `mx.flatten()` and `nn.Flatten` do in MLX Python. Use it between
#' convolution and linear layers so that weights move between R and Python:
#' element `[n, h, w, c]` of an `(N, H, W, C)` array goes to column
#' `((h - 1) * W + (w - 1)) * C + c`. This order differs from R's
#' column-major `dim<-` and from [mlx_reshape()], which keep R's.
#'
#' @param x An MLX array.
#' @param start_axis First axis to merge, 1-based; negative counts from the
#'   end. Default: 2, so the batch axis stays.
#' @param end_axis Last axis to merge. Default: -1, the last axis.
#' @return An MLX array.
#' @examples
#' x <- as_mlx(array(1:24, c(2, 3, 4)))
#' dim(mlx_flatten(x))
#' @export
mlx_flatten <- function(x, start_axis = 2, end_axis = -1) {
  check_mlx_array(x)
  ndim <- length(mlx_shape_(x))
  start <- mlx_axis(start_axis, ndim)
  end <- mlx_axis(end_axis, ndim)
  if (start > end) {
    abort_invalid(
      "{.arg start_axis} must not come after {.arg end_axis}.",
      "You supplied axes {start_axis} and {end_axis} of a rank-{ndim} array.",
      rlang::current_env()
    )
  }
  mlx_flatten_axes_(x, start, end)
}
