#' Transformer layers
#'
#' The transformer of MLX Python's `mlx.nn`, with its parameter names, so
#' weights saved from R load in MLX Python and the reverse.
#'
#' - `mlx_transformer_encoder_layer()`: self-attention then an MLP
#'   (`linear1`, activation, `linear2`), each with a residual connection
#'   and layer normalization. Children `attention`, `ln1`, `ln2`,
#'   `linear1`, `linear2`, `dropout1`, `dropout2`. [mlx_forward()] takes
#'   `x` and an optional `mask`.
#' - `mlx_transformer_encoder()`: `num_layers` encoder layers (`layers.0`,
#'   ...) and a final layer norm `ln`. Inputs `x` and `mask`.
#' - `mlx_transformer_decoder_layer()`: self-attention, cross-attention to
#'   the encoder output `memory`, then the MLP. Children `self_attention`,
#'   `cross_attention`, `ln1` to `ln3`, `linear1`, `linear2`, `dropout1` to
#'   `dropout3`. Inputs `x`, `memory`, `x_mask`, `memory_mask`.
#' - `mlx_transformer_decoder()`: `num_layers` decoder layers and `ln`.
#' - `mlx_transformer()`: an `encoder` and a `decoder`. Inputs `src`, `tgt`,
#'   `src_mask`, `tgt_mask`, `memory_mask`.
#'
#' Masks are as for [mlx_multi_head_attention()]. As in MLX, the attention
#' projections have no bias, layers normalize first by default, and MLX
#' Python's layers take `mask` as a required argument where these accept
#' none.
#'
#' @param dims Number of features of the inputs and outputs.
#' @param num_heads Number of attention heads; must divide `dims`.
#' @param num_layers Number of layers of an encoder or decoder.
#' @param mlp_dims Hidden size of the MLP. Default: `NULL`, meaning
#'   `4 * dims`.
#' @param dropout Probability of dropout after each attention block and
#'   after the MLP activation. Default: `0`.
#' @param activation The MLP activation: an activation function of this
#'   package (the default, [mlx_act_relu], or [mlx_act_gelu] and its family,
#'   computed in C++), its name (`"gelu"`), a layer (such as `mlx_gelu()`,
#'   stored as the child `activation` of each layer, as MLX Python stores a
#'   module), or any R function of an MLX array (wrapped in a layer).
#' @param norm_first If `TRUE` (the default), normalize before attention and
#'   the MLP; if `FALSE`, after the residual additions.
#' @param checkpoint If `TRUE`, recompute each layer's intermediate values
#'   in the backward pass instead of storing them (gradient checkpointing),
#'   which saves memory at the cost of time. Each layer's parameters are
#'   inputs of its checkpointed function, so their gradients are exact.
#'   With `dropout > 0` the recomputation draws new dropout masks. Default:
#'   `FALSE`.
#' @param rope For `mlx_transformer_encoder()` and
#'   `mlx_transformer_encoder_layer()`: `NULL` (the default) or a layer from
#'   [mlx_rope()] applied to the queries and keys of every self-attention
#'   (see [mlx_multi_head_attention()]).
#' @param num_encoder_layers,num_decoder_layers For `mlx_transformer()`.
#'   Default: `6` each.
#' @param custom_encoder,custom_decoder For `mlx_transformer()`: modules to
#'   use in place of the standard encoder (called with `src`, `src_mask`) or
#'   decoder (called with `tgt`, `memory`, `tgt_mask`, `memory_mask`).
#' @section Shape:
#' `x`, `src`, `tgt`, `memory`: `(N, L, dims)`; output `(N, L, dims)`.
#' @return An MLX module.
#' @seealso [mlx_forward_cached()] for step-by-step decoding.
#' @examples
#' encoder <- mlx_transformer_encoder(2, dims = 16, num_heads = 4)
#' names(mlx_parameters(encoder))[1:3]
#' x <- array(rnorm(2 * 5 * 16), c(2, 5, 16))
#' y <- mlx_forward(encoder, x, mlx_create_additive_causal_mask(5))
#' dim(y)
#' @name transformer_layers
NULL

#' @rdname transformer_layers
#' @export
mlx_transformer_encoder_layer <- function(dims, num_heads, mlp_dims = NULL,
                                          dropout = 0,
                                          activation = mlx_act_relu,
                                          norm_first = TRUE, rope = NULL) {
  check_transformer_args(dims, num_heads, mlp_dims, dropout, norm_first)
  check_rope(rope)
  act <- transformer_activation(activation)
  sync_mlx_seed()
  object <- with_cpp_errors(new_module_object(nn_transformer_encoder_layer_(
    dims, num_heads, optional_count(mlp_dims), dropout, act$name,
    act$module_ptr, norm_first, if (is.null(rope)) NULL else module_ptr(rope)
  )))
  keep_nonlinearity(object, act)
}

#' @rdname transformer_layers
#' @export
mlx_transformer_encoder <- function(num_layers, dims, num_heads,
                                    mlp_dims = NULL, dropout = 0,
                                    activation = mlx_act_relu,
                                    norm_first = TRUE, checkpoint = FALSE,
                                    rope = NULL) {
  check_count(num_layers)
  check_transformer_args(dims, num_heads, mlp_dims, dropout, norm_first)
  check_bool(checkpoint)
  check_rope(rope)
  act <- transformer_activation(activation)
  sync_mlx_seed()
  object <- with_cpp_errors(new_module_object(nn_transformer_encoder_(
    num_layers, dims, num_heads, optional_count(mlp_dims), dropout,
    act$name, act$module_ptr, norm_first, checkpoint,
    if (is.null(rope)) NULL else module_ptr(rope)
  )))
  keep_nonlinearity(object, act)
}

#' @rdname transformer_layers
#' @export
mlx_transformer_decoder_layer <- function(dims, num_heads, mlp_dims = NULL,
                                          dropout = 0,
                                          activation = mlx_act_relu,
                                          norm_first = TRUE) {
  check_transformer_args(dims, num_heads, mlp_dims, dropout, norm_first)
  act <- transformer_activation(activation)
  sync_mlx_seed()
  object <- with_cpp_errors(new_module_object(nn_transformer_decoder_layer_(
    dims, num_heads, optional_count(mlp_dims), dropout, act$name,
    act$module_ptr, norm_first
  )))
  keep_nonlinearity(object, act)
}

#' @rdname transformer_layers
#' @export
mlx_transformer_decoder <- function(num_layers, dims, num_heads,
                                    mlp_dims = NULL, dropout = 0,
                                    activation = mlx_act_relu,
                                    norm_first = TRUE, checkpoint = FALSE) {
  check_count(num_layers)
  check_transformer_args(dims, num_heads, mlp_dims, dropout, norm_first)
  check_bool(checkpoint)
  act <- transformer_activation(activation)
  sync_mlx_seed()
  object <- with_cpp_errors(new_module_object(nn_transformer_decoder_(
    num_layers, dims, num_heads, optional_count(mlp_dims), dropout,
    act$name, act$module_ptr, norm_first, checkpoint
  )))
  keep_nonlinearity(object, act)
}

#' @rdname transformer_layers
#' @export
mlx_transformer <- function(dims = 512, num_heads = 8, num_encoder_layers = 6,
                            num_decoder_layers = 6, mlp_dims = NULL,
                            dropout = 0, activation = mlx_act_relu,
                            custom_encoder = NULL, custom_decoder = NULL,
                            norm_first = TRUE, checkpoint = FALSE) {
  check_count(num_encoder_layers)
  check_count(num_decoder_layers)
  check_transformer_args(dims, num_heads, mlp_dims, dropout, norm_first)
  check_bool(checkpoint)
  if (!is.null(custom_encoder)) check_module(custom_encoder)
  if (!is.null(custom_decoder)) check_module(custom_decoder)
  act <- transformer_activation(activation)
  sync_mlx_seed()
  object <- with_cpp_errors(new_module_object(nn_transformer_(
    dims, num_heads, num_encoder_layers, num_decoder_layers,
    optional_count(mlp_dims), dropout, act$name, act$module_ptr,
    if (is.null(custom_encoder)) NULL else module_ptr(custom_encoder),
    if (is.null(custom_decoder)) NULL else module_ptr(custom_decoder),
    norm_first, checkpoint
  )))
  keep_nonlinearity(object, act)
}

check_transformer_args <- function(dims, num_heads, mlp_dims, dropout,
                                   norm_first, call = rlang::caller_env()) {
  check_count(dims, min = 1, call = call)
  check_count(num_heads, min = 1, call = call)
  if (!is.null(mlp_dims)) check_count(mlp_dims, min = 1, call = call)
  check_probability(dropout, call = call)
  check_bool(norm_first, call = call)
  check_divisible(dims, num_heads, arg = "dims", call = call)
}

# Resolves `activation` as an RNN's nonlinearity is resolved (a name that
# C++ applies, or a module), adding the module's pointer for the bindings.
transformer_activation <- function(activation,
                                   arg = rlang::caller_arg(activation),
                                   call = rlang::caller_env()) {
  if (is.null(activation)) {
    abort_invalid(
      "{.arg {arg}} must be an activation function, its name or a module.",
      "You supplied NULL.", call
    )
  }
  act <- rnn_nonlinearity(activation, arg = arg, call = call)
  act$module_ptr <- if (is.null(act$module)) NULL else module_ptr(act$module)
  act
}
