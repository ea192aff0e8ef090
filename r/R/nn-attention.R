#' Multi-head attention
#'
#' Scaled dot-product attention with `num_heads` heads, as MLX Python's
#' `MultiHeadAttention`: the queries, keys and values are projected by the
#' child layers `query_proj`, `key_proj` and `value_proj`, split into heads,
#' combined by \eqn{softmax(Q K^T / \sqrt{d} + M) V} with MLX's fused
#' `scaled_dot_product_attention`, and projected by `out_proj`. The
#' projections have no bias unless `bias = TRUE`, as in MLX.
#'
#' [mlx_forward()] takes `queries`, `keys`, `values` and an optional `mask`
#' that broadcasts to `(batch, heads, queries, keys)`. A floating-point mask
#' is added to the scores (use [mlx_create_additive_causal_mask()] for a
#' causal one). A logical mask, an R logical matrix or a `bool` MLX array,
#' selects the pairs that may attend: `TRUE` attends, the reverse of
#' PyTorch's boolean `attn_mask`.
#'
#' @param dims Size of the queries and keys after projection; the default
#'   size of every input and of the output.
#' @param num_heads Number of heads; must divide `dims` and `value_dims`.
#' @param query_input_dims,key_input_dims Sizes of the query and key inputs.
#'   Default: `dims`.
#' @param value_input_dims Size of the value input. Default:
#'   `key_input_dims`.
#' @param value_dims Size of the values after projection. Default: `dims`.
#' @param value_output_dims Size of the output. Default: `dims`.
#' @param bias If `TRUE`, the four projections have biases. Default:
#'   `FALSE`.
#' @param rope `NULL` (the default) or a layer from [mlx_rope()], applied to
#'   the queries and keys of each head after projection. MLX Python's layer
#'   has no such option; the RoPE layer adds no parameters, so the weights
#'   still load in MLX Python, where they give the same results only in a
#'   model that applies the same RoPE.
#' @section Shape:
#' `queries` `(N, L, query_input_dims)`, `keys` `(N, S, key_input_dims)`,
#' `values` `(N, S, value_input_dims)`, output `(N, L, value_output_dims)`.
#' @return An MLX module of class `mlx_multi_head_attention`.
#' @seealso [mlx_kv_cache()] to decode one step at a time.
#' @examples
#' attention <- mlx_multi_head_attention(8, 2)
#' x <- array(rnorm(2 * 5 * 8), c(2, 5, 8))
#' y <- mlx_forward(attention, x, x, x, mlx_create_additive_causal_mask(5))
#' dim(y)
#' @export
mlx_multi_head_attention <- function(dims, num_heads, query_input_dims = NULL,
                                     key_input_dims = NULL,
                                     value_input_dims = NULL,
                                     value_dims = NULL,
                                     value_output_dims = NULL,
                                     bias = FALSE, rope = NULL) {
  check_count(dims, min = 1)
  check_count(num_heads, min = 1)
  sizes <- list(
    query_input_dims = query_input_dims, key_input_dims = key_input_dims,
    value_input_dims = value_input_dims, value_dims = value_dims,
    value_output_dims = value_output_dims
  )
  for (name in names(sizes)) {
    if (!is.null(sizes[[name]])) check_count(sizes[[name]], min = 1, arg = name)
  }
  check_bool(bias)
  check_rope(rope)
  check_divisible(dims, num_heads)
  check_divisible(value_dims %||% dims, num_heads, arg = "value_dims")
  sync_mlx_seed()
  object <- with_cpp_errors(new_module_object(nn_multi_head_attention_(
    dims, num_heads, optional_count(query_input_dims),
    optional_count(key_input_dims), optional_count(value_input_dims),
    optional_count(value_dims), optional_count(value_output_dims), bias,
    if (is.null(rope)) NULL else module_ptr(rope)
  )))
  object
}

#' Additive causal mask
#'
#' Returns the `n x n` mask that lets position \eqn{i} attend only to
#' positions \eqn{j \le i}: 0 on and below the diagonal and the lowest
#' finite value of `dtype` above it, as MLX Python's
#' `MultiHeadAttention.create_additive_causal_mask()`. Since the blocked
#' entries are finite, `"float16"` and `"bfloat16"` masks give no `NaN`.
#'
#' @param n Number of positions.
#' @param dtype A floating-point dtype name. Default: `"float32"`.
#' @return An MLX array of shape `(n, n)`.
#' @examples
#' mlx_create_additive_causal_mask(3)
#' @export
mlx_create_additive_causal_mask <- function(n, dtype = "float32") {
  check_count(n)
  check_dtype(dtype)
  if (!dtype %in% c("float16", "bfloat16", "float32", "float64")) {
    abort_invalid(
      "{.arg dtype} must be a floating-point dtype.",
      "You supplied {.val {dtype}}.",
      rlang::current_env()
    )
  }
  nn_create_additive_causal_mask_(n, dtype)
}

#' Key-value cache for step-by-step decoding
#'
#' `mlx_kv_cache()` creates an empty cache. `mlx_forward_cached()` runs a
#' self-attention layer, a transformer encoder or decoder, or one of their
#' layers, on new positions only: the projected keys and values of earlier
#' calls are kept in the cache, so each step attends to everything seen
#' before without recomputing it. A RoPE given to the layers counts
#' positions from the number of cached steps. The outputs equal those of
#' one [mlx_forward()] over the whole sequence with a causal mask.
#'
#' Pass the first chunk (the prompt) with
#' `mask = mlx_create_additive_causal_mask(length)`; a single new step needs
#' no mask. A decoder's cross-attention projects `memory` on every call.
#' The cache belongs to one model and one batch; use a new cache for a new
#' sequence. Passing the cache to another module is an error, and a call
#' that fails leaves the cache unchanged.
#'
#' @param module A module from [mlx_multi_head_attention()] (used as
#'   self-attention), [mlx_transformer_encoder()],
#'   [mlx_transformer_encoder_layer()], [mlx_transformer_decoder()] or
#'   [mlx_transformer_decoder_layer()].
#' @param x The new positions, `(N, L, dims)`.
#' @param mask Optional mask of the new positions' queries against every
#'   cached and new key, `(L, cached + L)`.
#' @param memory,memory_mask For decoders: the encoder output and its
#'   optional mask.
#' @param cache A cache from `mlx_kv_cache()`, updated in place.
#' @return `mlx_kv_cache()`: a cache object. `mlx_forward_cached()`: the
#'   output for the new positions, an MLX array. `mlx_kv_cache_length()`:
#'   the number of cached steps.
#' @examples
#' encoder <- mlx_transformer_encoder(2, 16, 4, rope = mlx_rope(4))
#' mlx_set_training(encoder, FALSE)
#' cache <- mlx_kv_cache()
#' x <- array(rnorm(1 * 4 * 16), c(1, 4, 16))
#' y <- mlx_forward_cached(encoder, x, mlx_create_additive_causal_mask(4),
#'                         cache = cache)
#' step <- array(rnorm(16), c(1, 1, 16))
#' y2 <- mlx_forward_cached(encoder, step, cache = cache)
#' mlx_kv_cache_length(cache)
#' @name kv_cache
NULL

#' @rdname kv_cache
#' @export
mlx_kv_cache <- function() {
  structure(list(ptr = nn_kv_cache_()), class = "mlx_kv_cache")
}

#' @rdname kv_cache
#' @export
mlx_kv_cache_length <- function(cache) {
  check_kv_cache(cache)
  nn_kv_cache_offset_(cache$ptr)
}

#' @rdname kv_cache
#' @export
mlx_forward_cached <- function(module, x, mask = NULL, memory = NULL,
                               memory_mask = NULL, cache) {
  check_module(module)
  check_kv_cache(cache)
  as_input <- function(value) {
    if (is.null(value) || inherits(value, "mlx_array")) value else as_mlx(value)
  }
  with_cpp_errors(nn_forward_cached_(
    module_ptr(module), as_input(x), as_input(mask), as_input(memory),
    as_input(memory_mask), cache$ptr
  ))
}

#' @export
print.mlx_kv_cache <- function(x, ...) {
  steps <- tryCatch(nn_kv_cache_offset_(x$ptr), error = function(e) NULL)
  if (is.null(steps)) {
    cat("<mlx_kv_cache> that no longer exists (restored by readRDS()?).",
        "Create a new cache with mlx_kv_cache().\n")
    return(invisible(x))
  }
  cat(sprintf("<mlx_kv_cache> %d cached steps\n", steps))
  invisible(x)
}

check_kv_cache <- function(x, arg = rlang::caller_arg(x),
                           call = rlang::caller_env()) {
  if (!inherits(x, "mlx_kv_cache")) {
    received <- describe_value(x)
    abort_invalid("{.arg {arg}} must be a cache from {.fn mlx_kv_cache}.",
                  "You supplied {received}.", call)
  }
  invisible(x)
}

check_rope <- function(x, arg = rlang::caller_arg(x),
                       call = rlang::caller_env()) {
  if (!is.null(x) && !inherits(x, "mlx_rope")) {
    received <- describe_value(x)
    abort_invalid("{.arg {arg}} must be NULL or a layer from {.fn mlx_rope}.",
                  "You supplied {received}.", call)
  }
  invisible(x)
}

check_divisible <- function(x, by, arg = rlang::caller_arg(x),
                            call = rlang::caller_env()) {
  if (x %% by != 0) {
    abort_invalid(
      "{.arg {arg}} must be divisible by {.arg num_heads}.",
      "{.arg {arg}} is {x} and {.arg num_heads} is {by}.", call
    )
  }
  invisible(x)
}

# 0 stands for a size left to its default in the bindings.
optional_count <- function(x) if (is.null(x)) 0L else as.integer(x)
