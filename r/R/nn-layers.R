#' Linear layer
#'
#' Applies an affine map \eqn{y = x W^T + b}. The weight \eqn{W} has shape
#' `output_dims x input_dims` and, like the bias, is drawn from
#' \eqn{U(-k, k)} with \eqn{k = 1 / \sqrt{input\_dims}}, as MLX Python does.
#'
#' @param input_dims Size of each input's last dimension.
#' @param output_dims Size of each output's last dimension.
#' @param bias If `TRUE` (the default), the layer has a bias.
#' @section Shape:
#' Input `(..., input_dims)`, output `(..., output_dims)`.
#' @return An MLX module of class `mlx_linear`.
#' @examples
#' layer <- mlx_linear(3, 2)
#' mlx_forward(layer, matrix(1, 4, 3))
#' @export
mlx_linear <- function(input_dims, output_dims, bias = TRUE) {
  check_count(input_dims, min = 1)
  check_count(output_dims, min = 1)
  check_bool(bias)
  sync_mlx_seed()
  new_module_object(nn_linear_(input_dims, output_dims, bias))
}

#' Bilinear layer
#'
#' Applies a bilinear map to two inputs, \eqn{y_i = x_2^T W_i x_1 + b_i}.
#' The weight \eqn{W} has shape `output_dims x input2_dims x input1_dims`,
#' as in MLX Python; PyTorch's `nn.Bilinear` stores it with the two input
#' axes swapped. The weight and bias are drawn from \eqn{U(-k, k)} with
#' \eqn{k = 1 / \sqrt{input1\_dims}}.
#'
#' @param input1_dims Size of the first input's last dimension.
#' @param input2_dims Size of the second input's last dimension.
#' @param output_dims Size of each output's last dimension.
#' @param bias If `TRUE` (the default), the layer has a bias.
#' @section Shape:
#' Inputs `x1` of shape `(..., input1_dims)` and `x2` of shape
#' `(..., input2_dims)` with the same leading axes, output
#' `(..., output_dims)`. Call it as `mlx_forward(layer, x1, x2)`.
#' @return An MLX module of class `mlx_bilinear`.
#' @examples
#' layer <- mlx_bilinear(2, 3, 4)
#' mlx_forward(layer, matrix(1, 5, 2), matrix(1, 5, 3))
#' @export
mlx_bilinear <- function(input1_dims, input2_dims, output_dims, bias = TRUE) {
  check_count(input1_dims, min = 1)
  check_count(input2_dims, min = 1)
  check_count(output_dims, min = 1)
  check_bool(bias)
  sync_mlx_seed()
  new_module_object(nn_bilinear_(input1_dims, input2_dims, output_dims, bias))
}

#' Identity layer
#'
#' Returns its input unchanged.
#'
#' @return An MLX module of class `mlx_identity`.
#' @examples
#' mlx_forward(mlx_identity(), 1:3)
#' @export
mlx_identity <- function() {
  new_module_object(nn_identity_())
}

#' Embedding layer
#'
#' A lookup table of `num_embeddings` vectors of length `dims`, drawn from
#' \eqn{N(0, 1 / dims)} as MLX Python does. Indices are 1-based in R,
#' however the layer is reached; indices saved by Python are 0-based and
#' need 1 added. [mlx_forward()] checks the range of indices given as R
#' vectors, matrices or factors. MLX integer arrays cannot be checked without
#' forcing their evaluation, so an index outside `[1, num_embeddings]` there
#' gives a row of `NaN` (MLX Python reads outside the table instead).
#'
#' @param num_embeddings Number of rows of the table.
#' @param dims Length of each embedding vector.
#' @return An MLX module of class `mlx_embedding`.
#' @section Shape:
#' Input any shape of indices, output `(..., dims)`.
#' @examples
#' emb <- mlx_embedding(10, 4)
#' mlx_forward(emb, c(1L, 10L))
#' @export
mlx_embedding <- function(num_embeddings, dims) {
  check_count(num_embeddings, min = 1)
  check_count(dims, min = 1)
  sync_mlx_seed()
  new_module_object(nn_embedding_(num_embeddings, dims))
}

#' Use an embedding as an output layer
#'
#' Multiplies `x` by the transposed embedding table, as tied input and output
#' embeddings in language models do. A quantized embedding multiplies by its
#' quantized table without dequantizing it.
#'
#' @param embedding An embedding layer, [mlx_embedding()] or
#'   [mlx_quantized_embedding()].
#' @param x An MLX array of shape `(..., dims)`.
#' @return An MLX array of shape `(..., num_embeddings)`.
#' @examples
#' emb <- mlx_embedding(5, 2)
#' mlx_as_linear(emb, as_mlx(matrix(1, 3, 2)))
#' @export
mlx_as_linear <- function(embedding, x) {
  check_module(embedding)
  if (!inherits(x, "mlx_array")) x <- as_mlx(x)
  nn_embedding_as_linear_(module_ptr(embedding), x)
}

#' Sequential container
#'
#' Chains modules: the output of each is the input of the next. The modules
#' are stored as the list `layers`, so parameters are named
#' `layers.0.weight`, `layers.1.weight`, ... as in MLX Python (0-based, as
#' the names of files shared with Python must be).
#'
#' @param ... MLX modules, in order.
#' @return An MLX module of class `mlx_sequential`.
#' @examples
#' model <- mlx_sequential(mlx_linear(4, 8), mlx_relu(), mlx_linear(8, 2))
#' model
#' @export
mlx_sequential <- function(...) {
  modules <- list(...)
  for (i in seq_along(modules)) {
    check_module(modules[[i]], arg = sprintf("..%d", i))
  }
  object <- new_module_object(nn_sequential_(lapply(modules, module_ptr)))
  assign(".children", list(layers = unname(modules)), envir = object)
  object
}

#' Layer normalization
#'
#' Normalizes over the last axis, \eqn{y = (x - E[x]) / \sqrt{Var[x] +
#' \epsilon} \cdot \gamma + \beta}, with MLX's fused kernel.
#'
#' @param dims Size of the last axis.
#' @param eps Added to the variance. Default: `1e-5`.
#' @param affine If `TRUE` (the default), learn a scale `weight` (ones).
#' @param bias If `TRUE` (the default) and `affine`, learn a shift `bias`
#'   (zeros).
#' @return An MLX module of class `mlx_layer_norm`.
#' @examples
#' mlx_forward(mlx_layer_norm(3), matrix(1:6, 2, 3))
#' @export
mlx_layer_norm <- function(dims, eps = 1e-5, affine = TRUE, bias = TRUE) {
  check_count(dims, min = 1)
  check_positive(eps)
  check_bool(affine)
  check_bool(bias)
  new_module_object(nn_layer_norm_(dims, eps, affine, bias))
}

#' Group normalization
#'
#' Splits the features (the last axis) into `num_groups` groups and
#' normalizes each group of each sample over its features and every axis
#' between the first and the last, \eqn{y = (x - E[x]) / \sqrt{Var[x] +
#' \epsilon} \cdot \gamma + \beta}, with MLX's fused layer-norm kernel.
#'
#' As in MLX Python, the default grouping puts feature \eqn{c} (0-based)
#' into group \eqn{c \bmod num\_groups}; `pytorch_compatible = TRUE` groups
#' consecutive features instead, as PyTorch's `GroupNorm` does. Statistics
#' are accumulated in float32 for both. MLX Python 0.32.4 computes the
#' default grouping's variance in the input's type, so in float16 it
#' overflows for values above about 256 and the output becomes 0.
#'
#' @param num_groups Number of groups; `dims` must be a multiple of it.
#' @param dims Size of the last axis.
#' @param eps Added to the variance. Default: `1e-5`.
#' @param affine If `TRUE` (the default), learn a scale `weight` (ones) and
#'   a shift `bias` (zeros) per feature.
#' @param pytorch_compatible If `TRUE`, group consecutive features as
#'   PyTorch does. Default: `FALSE`.
#' @section Shape:
#' Input `(N, ..., dims)` with at least 2 axes; output of the same shape.
#' @return An MLX module of class `mlx_group_norm`.
#' @examples
#' gn <- mlx_group_norm(2, 4)
#' mlx_forward(gn, array(rnorm(24), c(2, 3, 4)))
#' @export
mlx_group_norm <- function(num_groups, dims, eps = 1e-5, affine = TRUE,
                           pytorch_compatible = FALSE) {
  check_count(num_groups, min = 1)
  check_count(dims, min = 1)
  if (dims %% num_groups != 0) {
    abort_invalid(
      "{.arg dims} must be a multiple of {.arg num_groups}.",
      "You supplied dims = {dims} and num_groups = {num_groups}.",
      rlang::current_env()
    )
  }
  check_positive(eps)
  check_bool(affine)
  check_bool(pytorch_compatible)
  new_module_object(nn_group_norm_(
    num_groups, dims, eps, affine, pytorch_compatible
  ))
}

#' Instance normalization
#'
#' Normalizes each feature (the last axis) of each sample over the axes
#' between the first and the last, with MLX's fused layer-norm kernel.
#'
#' @param dims Size of the last axis.
#' @param eps Added to the variance. Default: `1e-5`.
#' @param affine If `TRUE`, learn a scale `weight` (ones) and a shift
#'   `bias` (zeros) per feature. Default: `FALSE`, as in MLX Python.
#' @section Shape:
#' Input `(N, ..., dims)` with at least 3 axes; output of the same shape.
#' @return An MLX module of class `mlx_instance_norm`.
#' @examples
#' inorm <- mlx_instance_norm(4)
#' mlx_forward(inorm, array(rnorm(24), c(2, 3, 4)))
#' @export
mlx_instance_norm <- function(dims, eps = 1e-5, affine = FALSE) {
  check_count(dims, min = 1)
  check_positive(eps)
  check_bool(affine)
  new_module_object(nn_instance_norm_(dims, eps, affine))
}

#' Root-mean-square normalization
#'
#' Normalizes over the last axis, \eqn{y = x / \sqrt{E[x^2] + \epsilon}
#' \cdot \gamma}, with MLX's fused kernel, which accumulates in float32.
#' The scale `weight` starts at ones.
#'
#' @param dims Size of the last axis.
#' @param eps Added to the mean square. Default: `1e-5`.
#' @section Shape:
#' Input `(..., dims)`; output of the same shape.
#' @return An MLX module of class `mlx_rms_norm`.
#' @examples
#' mlx_forward(mlx_rms_norm(3), matrix(1:6, 2, 3))
#' @export
mlx_rms_norm <- function(dims, eps = 1e-5) {
  check_count(dims, min = 1)
  check_positive(eps)
  new_module_object(nn_rms_norm_(dims, eps))
}

#' Batch normalization
#'
#' Normalizes each feature (the last axis) over all other axes. In training
#' mode it uses the batch statistics and updates `running_mean` and
#' `running_var` as \eqn{r \leftarrow (1 - m) r + m s}; in evaluation mode it
#' uses the running statistics. As in MLX 0.32.4 and PyTorch, the running
#' variance takes the unbiased batch variance while the batch is normalized
#' with the biased one. The running statistics are parameters (so they are
#' saved with the weights) that stay frozen.
#'
#' @param num_features Size of the last axis.
#' @param eps Added to the variance. Default: `1e-5`.
#' @param momentum Weight \eqn{m} of the batch statistic in the running
#'   average. Default: `0.1`.
#' @param affine If `TRUE` (the default), learn `weight` and `bias`.
#' @param track_running_stats If `TRUE` (the default), keep running
#'   statistics for evaluation mode.
#' @section Shape:
#' Input `(N, C)`, `(N, L, C)` or `(N, H, W, C)`.
#' @return An MLX module of class `mlx_batch_norm`.
#' @examples
#' bn <- mlx_batch_norm(3)
#' mlx_forward(bn, matrix(rnorm(12), 4, 3))
#' @export
mlx_batch_norm <- function(num_features, eps = 1e-5, momentum = 0.1,
                           affine = TRUE, track_running_stats = TRUE) {
  check_count(num_features, min = 1)
  check_positive(eps)
  check_number(momentum)
  check_bool(affine)
  check_bool(track_running_stats)
  new_module_object(nn_batch_norm_(
    num_features, eps, momentum, affine, track_running_stats
  ))
}

#' Dropout
#'
#' In training mode, zeroes each element with probability `p` and scales the
#' others by \eqn{1 / (1 - p)}; in evaluation mode, returns its input. Masks
#' follow [set.seed()] (see [mlx_random_seed()]).
#'
#' @param p Probability of zeroing an element, in `[0, 1)`. Default: `0.5`.
#' @return An MLX module of class `mlx_dropout`.
#' @examples
#' drop <- mlx_dropout(0.5)
#' mlx_forward(drop, matrix(1, 2, 4))
#' @export
mlx_dropout <- function(p = 0.5) {
  check_probability(p)
  new_module_object(nn_dropout_(p))
}

check_positive <- function(x, arg = rlang::caller_arg(x),
                           call = rlang::caller_env()) {
  if (!is.numeric(x) || length(x) != 1 || !is.finite(x) || x <= 0) {
    received <- describe_value(x)
    abort_invalid("{.arg {arg}} must be a positive number.",
                  "You supplied {received}.", call)
  }
  invisible(x)
}

check_probability <- function(x, arg = rlang::caller_arg(x),
                              call = rlang::caller_env()) {
  if (!is.numeric(x) || length(x) != 1 || !is.finite(x) || x < 0 || x >= 1) {
    received <- describe_value(x)
    abort_invalid("{.arg {arg}} must be a probability in [0, 1).",
                  "You supplied {received}.", call)
  }
  invisible(x)
}

# Checks 1-based R indices against `n` and converts them to an MLX int32
# array; `shift` subtracts 1 to give MLX's 0-based indices. MLX arrays pass
# through unchecked (shifted when `shift`).
one_based_indices <- function(x, n, shift = FALSE, arg = rlang::caller_arg(x),
                              call = rlang::caller_env()) {
  force(arg)
  if (inherits(x, "mlx_array")) {
    return(if (shift) x - 1L else x)
  }
  if (is.factor(x)) {
    x <- as.integer(x)
  }
  if (!is.numeric(x) || anyNA(x) || any(x != trunc(x))) {
    received <- describe_value(x)
    abort_invalid("{.arg {arg}} must hold whole-number indices without NA.",
                  "You supplied {received}.", call)
  }
  bad <- x < 1 | x > n
  if (any(bad)) {
    value <- x[bad][[1]]
    abort_invalid(
      "{.arg {arg}} must hold 1-based indices in [1, {n}].",
      "Found {value} at position {which(bad)[[1]]}.", call,
      class = "rmlx_error_index"
    )
  }
  values <- if (shift) x - 1L else x
  storage.mode(values) <- "integer"
  as_mlx(values, dtype = "int32")
}
