#' Quantized linear and embedding layers
#'
#' Layers whose weight is stored quantized, as MLX Python's
#' `nn.QuantizedLinear` and `nn.QuantizedEmbedding` store it: the parameters
#' `weight` (uint32, `bits` values packed in each element), `scales`,
#' `biases` (affine mode only) and, for the linear layer, the float `bias`.
#' Weights saved from these layers load in MLX Python and back. The packed
#' parameters are frozen; the bias of a layer made by [mlx_to_quantized()]
#' stays trainable, as in MLX Python.
#'
#' `mlx_quantized_linear()` and `mlx_quantized_embedding()` draw a float
#' weight as [mlx_linear()] and [mlx_embedding()] do and quantize it.
#' [mlx_to_quantized()] quantizes an existing layer.
#'
#' The modes of MLX 0.32.4:
#'
#' \tabular{llll}{
#'   mode \tab group_size \tab bits \tab biases \cr
#'   affine \tab 32, 64 (default), 128 \tab 1, 2, 3, 4 (default), 5, 6, 8 \tab yes \cr
#'   mxfp4 \tab 32 \tab 4 \tab no \cr
#'   nvfp4 \tab 16 \tab 4 \tab no \cr
#'   mxfp8 \tab 32 \tab 8 \tab no
#' }
#'
#' @param input_dims Size of each input's last dimension; a multiple of
#'   `group_size`.
#' @param output_dims Size of each output's last dimension.
#' @param bias If `TRUE` (the default), the layer has a bias (zeros).
#' @param num_embeddings Number of rows of the table.
#' @param dims Length of each embedding vector; a multiple of `group_size`.
#' @param group_size Number of consecutive weights that share a scale (and
#'   bias). Default `NULL`: the mode's default.
#' @param bits Bits per weight. Default `NULL`: the mode's default.
#' @param mode One of `"affine"` (the default), `"mxfp4"`, `"nvfp4"` and
#'   `"mxfp8"`.
#' @section Shape:
#' Linear: input `(..., input_dims)`, output `(..., output_dims)`.
#' Embedding: input any shape of 1-based indices, output `(..., dims)`.
#' @return An MLX module of class `mlx_quantized_linear` or
#'   `mlx_quantized_embedding`.
#' @examples
#' layer <- mlx_quantized_linear(64, 8)
#' mlx_forward(layer, matrix(1, 2, 64))
#' emb <- mlx_quantized_embedding(10, 32, group_size = 32, bits = 8)
#' mlx_forward(emb, c(1L, 10L))
#' @export
mlx_quantized_linear <- function(input_dims, output_dims, bias = TRUE,
                                 group_size = NULL, bits = NULL,
                                 mode = "affine") {
  check_count(input_dims, min = 1)
  check_count(output_dims, min = 1)
  check_bool(bias)
  settings <- check_quantization(group_size, bits, mode)
  check_group_multiple(input_dims, settings)
  sync_mlx_seed()
  new_module_object(with_cpp_errors(nn_quantized_linear_(
    input_dims, output_dims, bias, settings$group_size, settings$bits, mode
  )))
}

#' @rdname mlx_quantized_linear
#' @export
mlx_quantized_embedding <- function(num_embeddings, dims, group_size = NULL,
                                    bits = NULL, mode = "affine") {
  check_count(num_embeddings, min = 1)
  check_count(dims, min = 1)
  settings <- check_quantization(group_size, bits, mode)
  check_group_multiple(dims, settings)
  sync_mlx_seed()
  new_module_object(with_cpp_errors(nn_quantized_embedding_(
    num_embeddings, dims, settings$group_size, settings$bits, mode
  )))
}

#' Quantize one layer
#'
#' Returns the quantized twin of a linear layer ([mlx_quantized_linear()])
#' or an embedding ([mlx_quantized_embedding()]), as `to_quantized()` does in
#' MLX Python. The original layer is unchanged.
#'
#' @param layer An [mlx_linear()] or [mlx_embedding()] layer.
#' @param group_size Number of consecutive weights that share a scale (and
#'   bias). Default `NULL`: the mode's default (64 for affine).
#' @param bits Bits per weight. Default `NULL`: the mode's default (4 for
#'   affine).
#' @param mode One of `"affine"` (the default), `"mxfp4"`, `"nvfp4"` and
#'   `"mxfp8"`; see [mlx_quantized_linear()] for the settings each takes.
#' @return A new MLX module.
#' @examples
#' layer <- mlx_linear(64, 4)
#' mlx_to_quantized(layer, bits = 8)
#' @export
mlx_to_quantized <- function(layer, group_size = NULL, bits = NULL,
                             mode = "affine") {
  check_module(layer)
  if (!inherits(layer, c("mlx_linear", "mlx_embedding"))) {
    abort_invalid(
      "{.arg layer} must be a linear or embedding layer.",
      "You supplied a module of class {.cls {class(layer)[[1]]}}.",
      rlang::current_env()
    )
  }
  settings <- check_quantization(group_size, bits, mode)
  check_group_multiple(quantization_input_dims(layer), settings, arg = "layer")
  sync_mlx_seed()
  new_module_object(with_cpp_errors(
    nn_to_quantized_(module_ptr(layer), settings$group_size, settings$bits, mode)
  ))
}

#' Quantize a model or an array
#'
#' For a module, replaces its linear and embedding layers in place with
#' quantized ones, as `nn.quantize()` does in MLX Python. A layer whose
#' input size is not a multiple of its group size is left as it is, with a
#' warning that names it (MLX Python raises an error instead). For an array,
#' quantizes it along its last axis, as `mx.quantize()` does.
#'
#' @param x A module, or an array (an MLX array or an R matrix or array) of
#'   at least 2 dimensions whose last dimension is a multiple of `group_size`.
#' @param group_size Number of consecutive weights that share a scale (and
#'   bias). Default `NULL`: the mode's default (64 for affine).
#' @param bits Bits per weight. Default `NULL`: the mode's default (4 for
#'   affine).
#' @param mode One of `"affine"` (the default), `"mxfp4"`, `"nvfp4"` and
#'   `"mxfp8"`; see [mlx_quantized_linear()] for the settings each takes.
#' @param class_predicate `NULL` (quantize every linear and embedding
#'   layer), or a function of the layer's dotted path (`"layers.0"`) and the
#'   layer, returning `TRUE` to quantize it with the settings given here,
#'   `FALSE` to leave it, or a list with any of `group_size`, `bits` and
#'   `mode` to quantize it with those settings.
#' @return For a module: the module, invisibly; for a single linear or
#'   embedding layer, which cannot change class in place, the new quantized
#'   layer. For an array: a named list of MLX arrays, `weight` and `scales`,
#'   plus `biases` in affine mode.
#' @seealso [mlx_dequantize()], [mlx_quantized_matmul()].
#' @examples
#' model <- mlx_sequential(mlx_linear(64, 32), mlx_relu(), mlx_linear(32, 3))
#' mlx_quantize(model, group_size = 32)
#' model
#' # Only the first layer, in 8 bits:
#' model <- mlx_sequential(mlx_linear(64, 32), mlx_relu(), mlx_linear(32, 3))
#' mlx_quantize(model, class_predicate = function(path, layer) {
#'   if (path == "layers.0") list(bits = 8) else FALSE
#' })
#' packed <- mlx_quantize(as_mlx(matrix(rnorm(128), 2, 64)))
#' names(packed)
#' @export
mlx_quantize <- function(x, group_size = NULL, bits = NULL, mode = "affine",
                         class_predicate = NULL) {
  if (is.numeric(x) && !is.null(dim(x))) {
    x <- as_mlx(x)
  }
  if (inherits(x, "mlx_array")) {
    settings <- check_quantization(group_size, bits, mode)
    return(with_cpp_errors(quantize_(x, settings$group_size, settings$bits, mode)))
  }
  if (!is_mlx_module(x)) {
    received <- describe_value(x)
    abort_invalid("{.arg x} must be an MLX module or an MLX array.",
                  "You supplied {received}.", rlang::current_env())
  }
  defaults <- check_quantization(group_size, bits, mode)
  if (!is.null(class_predicate) && !is.function(class_predicate)) {
    received <- describe_value(class_predicate)
    abort_invalid("{.arg class_predicate} must be a function or NULL.",
                  "You supplied {received}.", rlang::current_env())
  }
  if (inherits(x, c("mlx_linear", "mlx_embedding"))) {
    chosen <- is.null(class_predicate) ||
      !isFALSE(quantize_choice(class_predicate, "", x, defaults, mode, "", rlang::current_env()))
    if (!chosen) {
      return(invisible(x))
    }
    return(mlx_to_quantized(x, group_size, bits, mode))
  }
  plan <- quantize_plan(x, defaults, mode, class_predicate, rlang::current_env())
  if (length(plan$skipped)) {
    cli::cli_warn(c(
      "Left {length(plan$skipped)} layer{?s} unquantized: the input size is not a multiple of the group size.",
      set_names_bullets(plan$skipped)
    ))
  }
  if (length(plan$path)) {
    sync_mlx_seed()
    with_cpp_errors(module_quantize_paths_(
      module_ptr(x), plan$path, plan$group_size, plan$bits, plan$mode
    ))
  }
  invisible(x)
}

#' Dequantize a model or an array
#'
#' For a module, replaces every quantized linear and embedding layer in
#' place with a float [mlx_linear()] or [mlx_embedding()] holding the
#' dequantized weight. For an array, reverses [mlx_quantize()], as
#' `mx.dequantize()` does.
#'
#' @param x A module, the packed `weight` array from [mlx_quantize()], or
#'   the whole list that [mlx_quantize()] returns for an array (its
#'   `scales` and `biases` then fill in `scales` and `biases`).
#' @param scales,biases The `scales` and (affine mode only) `biases` arrays
#'   from [mlx_quantize()]. Not used for a module.
#' @param group_size Number of consecutive weights that share a scale (and
#'   bias). Default `NULL`: the mode's default (64 for affine).
#' @param bits Bits per weight. Default `NULL`: the mode's default (4 for
#'   affine).
#' @param mode One of `"affine"` (the default), `"mxfp4"`, `"nvfp4"` and
#'   `"mxfp8"`; see [mlx_quantized_linear()] for the settings each takes.
#' @param dtype The dtype of the result, as a string. Default `NULL`: the
#'   dtype of `scales` in affine mode, float16 in the other modes.
#' @return For a module: the module, invisibly; for a single quantized
#'   layer, the new float layer. For an array: an MLX array.
#' @examples
#' packed <- mlx_quantize(as_mlx(matrix(rnorm(128), 2, 64)))
#' w <- mlx_dequantize(packed$weight, packed$scales, packed$biases)
#' dim(w)
#' model <- mlx_sequential(mlx_linear(64, 32))
#' mlx_quantize(model)
#' mlx_dequantize(model)
#' @export
mlx_dequantize <- function(x, scales = NULL, biases = NULL, group_size = NULL,
                           bits = NULL, mode = "affine", dtype = NULL) {
  # The list that mlx_quantize() returns for an array: its packed matrix,
  # scales and biases.
  if (is.list(x) && !is_mlx_module(x) && inherits(x$weight, "mlx_array") &&
      inherits(x$scales, "mlx_array")) {
    if (is.null(scales)) scales <- x$scales
    if (is.null(biases)) biases <- x$biases
    x <- x$weight
  }
  if (inherits(x, "mlx_array")) {
    settings <- check_quantization(group_size, bits, mode)
    check_mlx_array(scales)
    check_quantization_biases(biases, mode)
    if (!is.null(dtype)) check_dtype(dtype)
    return(with_cpp_errors(dequantize_(
      x, scales, biases, settings$group_size, settings$bits, mode, dtype
    )))
  }
  if (!is_mlx_module(x)) {
    received <- describe_value(x)
    abort_invalid("{.arg x} must be an MLX module or an MLX array.",
                  "You supplied {received}.", rlang::current_env())
  }
  if (inherits(x, c("mlx_quantized_linear", "mlx_quantized_embedding"))) {
    return(new_module_object(with_cpp_errors(nn_to_dequantized_(module_ptr(x)))))
  }
  with_cpp_errors(module_dequantize_(module_ptr(x)))
  invisible(x)
}

#' Matrix product with a quantized matrix
#'
#' `mlx_quantized_matmul()` computes `x %*% t(W)` (or `x %*% W` with
#' `transpose = FALSE`) where `W` is the matrix that [mlx_quantize()] packed
#' into `w`, `scales` and `biases`, without dequantizing it first, as
#' `mx.quantized_matmul()` does. `mlx_gather_qmm()` does the same for a
#' stack of quantized matrices, choosing one per batch entry, as
#' `mx.gather_qmm()` does.
#'
#' @param x An MLX array (R arrays are converted to float32).
#' @param w,scales,biases The outputs of [mlx_quantize()]; `biases` only in
#'   affine mode.
#' @param transpose If `TRUE` (the default), multiply by the transpose of
#'   the quantized matrix, as a linear layer does.
#' @param group_size Number of consecutive weights that share a scale (and
#'   bias). Default `NULL`: the mode's default (64 for affine).
#' @param bits Bits per weight. Default `NULL`: the mode's default (4 for
#'   affine).
#' @param mode One of `"affine"` (the default), `"mxfp4"`, `"nvfp4"` and
#'   `"mxfp8"`; see [mlx_quantized_linear()] for the settings each takes.
#' @param lhs_indices,rhs_indices `NULL` or 1-based indices into the batch
#'   dimensions of `x` and `w`. R vectors are checked against the batch
#'   size; MLX integer arrays are shifted without a check.
#' @param sorted_indices If `TRUE`, `rhs_indices` are sorted, which lets MLX
#'   pick a faster kernel. Default `FALSE`.
#' @return An MLX array.
#' @examples
#' packed <- mlx_quantize(as_mlx(matrix(rnorm(4 * 64), 4, 64)))
#' x <- as_mlx(matrix(rnorm(2 * 64), 2, 64))
#' mlx_quantized_matmul(x, packed$weight, packed$scales, packed$biases)
#' @export
mlx_quantized_matmul <- function(x, w, scales, biases = NULL, transpose = TRUE,
                                 group_size = NULL, bits = NULL,
                                 mode = "affine") {
  if (!inherits(x, "mlx_array")) x <- as_mlx(x, dtype = "float32")
  check_mlx_array(w)
  check_mlx_array(scales)
  check_quantization_biases(biases, mode)
  check_bool(transpose)
  settings <- check_quantization(group_size, bits, mode)
  with_cpp_errors(quantized_matmul_(
    x, w, scales, biases, transpose, settings$group_size, settings$bits, mode
  ))
}

#' @rdname mlx_quantized_matmul
#' @export
mlx_gather_qmm <- function(x, w, scales, biases = NULL, lhs_indices = NULL,
                           rhs_indices = NULL, transpose = TRUE,
                           group_size = NULL, bits = NULL, mode = "affine",
                           sorted_indices = FALSE) {
  if (!inherits(x, "mlx_array")) x <- as_mlx(x, dtype = "float32")
  check_mlx_array(w)
  check_mlx_array(scales)
  check_quantization_biases(biases, mode)
  check_bool(transpose)
  check_bool(sorted_indices)
  settings <- check_quantization(group_size, bits, mode)
  batch_size <- function(a) prod(utils::head(dim(a), -2))
  if (!is.null(lhs_indices)) {
    lhs_indices <- gather_indices(lhs_indices, batch_size(x), "lhs_indices")
  }
  if (!is.null(rhs_indices)) {
    rhs_indices <- gather_indices(rhs_indices, batch_size(w), "rhs_indices")
  }
  with_cpp_errors(gather_qmm_(
    x, w, scales, biases, lhs_indices, rhs_indices, transpose,
    settings$group_size, settings$bits, mode, sorted_indices
  ))
}

quantization_modes <- c("affine", "mxfp4", "nvfp4", "mxfp8")

# Checks the quantization arguments and returns them as a list with
# NA_integer_ for a NULL group size or bit width (the mode's default, which
# the C++ side fills in).
check_quantization <- function(group_size, bits, mode,
                               call = rlang::caller_env()) {
  if (!is.null(group_size)) check_count(group_size, min = 1, call = call)
  if (!is.null(bits)) check_count(bits, min = 1, call = call)
  if (!is.character(mode) || length(mode) != 1 || !mode %in% quantization_modes) {
    received <- describe_value(mode)
    abort_invalid("{.arg mode} must be one of {.val {quantization_modes}}.",
                  "You supplied {received}.", call)
  }
  settings <- tryCatch(
    quantization_settings_(
      if (is.null(group_size)) NA_integer_ else as.integer(group_size),
      if (is.null(bits)) NA_integer_ else as.integer(bits),
      mode
    ),
    error = function(e) {
      message <- sub("^\\[quantize\\] ", "", conditionMessage(e))
      abort_invalid("{.arg group_size} and {.arg bits} must suit mode {.val {mode}}.",
                    "{message}", call)
    }
  )
  list(group_size = settings[[1]], bits = settings[[2]])
}

check_quantization_biases <- function(biases, mode, call = rlang::caller_env()) {
  if (mode == "affine") {
    if (!inherits(biases, "mlx_array")) {
      received <- describe_value(biases)
      abort_invalid("{.arg biases} must be an MLX array in affine mode.",
                    "You supplied {received}.", call)
    }
  } else if (!is.null(biases)) {
    abort_invalid("{.arg biases} must be NULL in mode {.val {mode}}.",
                  "Only affine quantization has biases.", call)
  }
}

check_group_multiple <- function(dims, settings, arg = NULL,
                                 call = rlang::caller_env()) {
  if (dims %% settings$group_size != 0) {
    what <- if (is.null(arg)) "The input size" else paste0("The input size of {.arg ", arg, "}")
    abort_invalid(paste(what, "must be a multiple of {.arg group_size} ({settings$group_size})."),
                  "It is {dims}.", call)
  }
}

# The size of the axis a linear or embedding layer quantizes along.
quantization_input_dims <- function(layer) {
  dim(mlx_parameters(layer)$weight)[[2]]
}

# Calls the user's predicate and returns FALSE or the settings for a layer.
quantize_choice <- function(predicate, path, layer, defaults, mode, type, call) {
  choice <- predicate(path, layer)
  if (isFALSE(choice)) {
    return(FALSE)
  }
  if (isTRUE(choice)) {
    return(c(defaults, mode = mode))
  }
  if (is.list(choice) && !is.null(names(choice)) &&
      all(names(choice) %in% c("group_size", "bits", "mode"))) {
    layer_mode <- choice$mode %||% mode
    settings <- check_quantization(choice$group_size, choice$bits, layer_mode, call = call)
    return(c(settings, mode = layer_mode))
  }
  received <- describe_value(choice)
  abort_invalid(
    "{.arg class_predicate} must return TRUE, FALSE or a list with {.field group_size}, {.field bits} or {.field mode}.",
    "For layer {.val {path}} it returned {received}.", call
  )
}

# Decides which leaf layers mlx_quantize() replaces, with which settings.
quantize_plan <- function(model, defaults, mode, predicate, call) {
  candidates <- module_quantize_candidates_(module_ptr(model))
  plan <- list(path = character(), group_size = integer(), bits = integer(),
               mode = character(), skipped = character())
  for (i in seq_along(candidates$path)) {
    path <- candidates$path[[i]]
    dims <- candidates$input_dims[[i]]
    quantizable <- dims > 0
    if (is.null(predicate)) {
      if (!quantizable) next
      settings <- c(defaults, mode = mode)
    } else {
      layer <- if (path == "") model else resolve_path(model, path)
      settings <- quantize_choice(predicate, path, layer, defaults, mode,
                                  candidates$type[[i]], call)
      if (isFALSE(settings)) next
      if (!quantizable) {
        abort_invalid(
          "{.arg class_predicate} may choose only linear and embedding layers.",
          "It chose {.val {path}}, a {.cls {candidates$type[[i]]}}.", call
        )
      }
    }
    if (dims %% settings$group_size != 0) {
      plan$skipped <- c(plan$skipped, sprintf(
        "%s (%s, input size %d, group size %d)",
        path, candidates$type[[i]], dims, settings$group_size
      ))
      next
    }
    plan$path <- c(plan$path, path)
    plan$group_size <- c(plan$group_size, as.integer(settings$group_size))
    plan$bits <- c(plan$bits, as.integer(settings$bits))
    plan$mode <- c(plan$mode, settings$mode)
  }
  plan
}

set_names_bullets <- function(lines) {
  stats::setNames(lines, rep("*", length(lines)))
}

# Converts 1-based gather indices to MLX's 0-based uint32 ones.
gather_indices <- function(indices, n, arg, call = rlang::caller_env()) {
  zero_based <- one_based_indices(indices, n, shift = TRUE, arg = arg, call = call)
  mlx_astype(zero_based, "uint32")
}
