#' Recurrent layers
#'
#' MLX Python's `RNN`, `GRU` and `LSTM`: each runs over a sequence and
#' returns its hidden state at every step, with the parameters,
#' initialisation and outputs of MLX Python, so that after
#' [mlx_random_seed()] with the same seed the weights and outputs are equal.
#' For several layers, both directions, final states or sequences of
#' different lengths in one batch, see [mlx_stacked_lstm()] and its
#' siblings.
#'
#' - `mlx_rnn()`: \eqn{h_t = f(W_{xh} x_t + W_{hh} h_{t-1} + b)}, with
#'   parameters `Wxh`, `Whh` and `bias`.
#' - `mlx_gru()`: \eqn{r = \sigma(W_{xr} x + W_{hr} h + b_r)},
#'   \eqn{z = \sigma(W_{xz} x + W_{hz} h + b_z)},
#'   \eqn{n = \tanh(W_{xn} x + b_n + r (W_{hn} h + b_{hn}))},
#'   \eqn{h' = (1 - z) n + z h}, with parameters `Wx` and `Wh` (gates in the
#'   order r, z, n), `b` and `bhn`. PyTorch's GRU is the same function: its
#'   two biases add up to `b` for r and z, and its hidden bias of n is `bhn`.
#' - `mlx_lstm()`: input, forget and output gates
#'   \eqn{\sigma(W_x x + W_h h + b)}, candidate \eqn{g} with tanh,
#'   \eqn{c' = f c + i g}, \eqn{h' = o \tanh(c')}, with parameters `Wx` and
#'   `Wh` (gates in the order i, f, g, o as in PyTorch) and `bias`.
#'
#' Every parameter is drawn from \eqn{U(-k, k)} with
#' \eqn{k = 1 / \sqrt{hidden\_size}}. [mlx_forward()] takes the input `x`
#' and optionally the initial `hidden` state (and `cell` for the LSTM);
#' a missing state starts at zero.
#'
#' @param input_size Number of features of each step of the input.
#' @param hidden_size Number of features of the hidden state.
#' @param bias If `TRUE` (the default), the layer has biases.
#' @param nonlinearity For `mlx_rnn()`: the activation \eqn{f}. `NULL` (the
#'   default) is tanh. Give an activation function of this package (such as
#'   [mlx_act_relu], used as in MLX Python), its name (`"relu"`), a layer
#'   (such as `mlx_leaky_relu(0.2)`, stored as the child `nonlinearity`), or
#'   any function of an MLX array (wrapped in a layer of class
#'   `RFunction`). MLX Python 0.32.4 ignores a layer without parameters
#'   (such as `nn.ReLU()`) and uses tanh; Rmlx uses the layer.
#' @section Shape:
#' Input `(N, L, input_size)` or `(L, input_size)`. `hidden` and `cell`:
#' `(N, hidden_size)` or `(hidden_size)`. Output: `(N, L, hidden_size)` or
#' `(L, hidden_size)`; for the LSTM a list of the hidden and the cell states
#' of that shape.
#' @return An MLX module of class `mlx_rnn`, `mlx_gru` or `mlx_lstm`.
#' @examples
#' lstm <- mlx_lstm(3, 8)
#' x <- array(rnorm(2 * 5 * 3), c(2, 5, 3))
#' out <- mlx_forward(lstm, x)
#' dim(out[[1]])
#' rnn <- mlx_rnn(3, 8, nonlinearity = mlx_act_relu)
#' rnn
#' @name recurrent_layers
NULL

#' @rdname recurrent_layers
#' @export
mlx_rnn <- function(input_size, hidden_size, bias = TRUE, nonlinearity = NULL) {
  check_recurrent_sizes(input_size, hidden_size)
  check_bool(bias)
  activation <- rnn_nonlinearity(nonlinearity)
  sync_mlx_seed()
  object <- with_cpp_errors(new_module_object(nn_rnn_(
    input_size, hidden_size, bias, activation$name,
    if (is.null(activation$module)) NULL else module_ptr(activation$module)
  )))
  keep_nonlinearity(object, activation)
}

#' @rdname recurrent_layers
#' @export
mlx_gru <- function(input_size, hidden_size, bias = TRUE) {
  check_recurrent_sizes(input_size, hidden_size)
  check_bool(bias)
  sync_mlx_seed()
  new_module_object(nn_gru_(input_size, hidden_size, bias))
}

#' @rdname recurrent_layers
#' @export
mlx_lstm <- function(input_size, hidden_size, bias = TRUE) {
  check_recurrent_sizes(input_size, hidden_size)
  check_bool(bias)
  sync_mlx_seed()
  new_module_object(nn_lstm_(input_size, hidden_size, bias))
}

#' Stacked and bidirectional recurrent layers
#'
#' Multi-layer, optionally bidirectional RNN, GRU and LSTM layers with the
#' arguments of R torch's `nn_rnn()`, `nn_gru()` and `nn_lstm()`, built from
#' MLX's cells ([mlx_lstm()] and its siblings). They also take the length of
#' each sequence of a padded batch.
#'
#' The cells are the list `layers`: cell \eqn{k D + d} (0-based) runs layer
#' \eqn{k} in direction \eqn{d} (0 forward, 1 backward), with \eqn{D = 2}
#' when bidirectional and 1 otherwise. So the parameters are named
#' `layers.0.Wx`, `layers.1.Wx`, ..., and row \eqn{k D + d + 1} of the final
#' states belongs to that cell, as in PyTorch's `h_n`. The cells are created
#' in that order with the initialisation of the MLX layers. Layer 0 reads
#' `input_size` features and each later layer the \eqn{D} `hidden_size`
#' outputs of the layer below.
#'
#' [mlx_forward()] takes `x`, optionally the initial states `hidden` (and
#' `cell` for the LSTM), and optionally `lengths`: the number of valid steps
#' of each sequence of a batch padded at the end. With `lengths`, each
#' sequence runs only over its own steps. Its backward direction starts at
#' its last valid step, its outputs at padded steps are zero and its final
#' state is the state after its last valid step, as with PyTorch's
#' `pack_padded_sequence()`. A length of 0 keeps the initial state. Lengths
#' given as R numbers are checked; lengths in an MLX array are not (that
#' would force their evaluation), and values outside `[0, L]` act as the
#' nearest bound.
#'
#' The output is a list: the last layer's hidden state at every step (the
#' forward direction's features first), then the final hidden states of
#' every cell and, for the LSTM, their final cell states. The last step's
#' state of the top layer is in the last \eqn{D} rows of the final hidden
#' states.
#'
#' @param input_size Number of features of each step of the input.
#' @param hidden_size Number of features of each cell's hidden state.
#' @param num_layers Number of stacked layers. Default: 1.
#' @param bias If `TRUE` (the default), every cell has biases.
#' @param dropout Probability of zeroing each output of every layer but the
#'   last, in training mode only (see [mlx_set_training()]). Default: 0.
#' @param bidirectional If `TRUE`, each layer also runs backwards over the
#'   sequence and concatenates both directions. Default: `FALSE`.
#' @param nonlinearity For `mlx_stacked_rnn()`: the activation of every
#'   cell, as for [mlx_rnn()]. Default: tanh.
#' @section Shape:
#' With \eqn{D} directions: input `(N, L, input_size)` or
#' `(L, input_size)`; `hidden` and `cell` `(num_layers * D, N, hidden_size)`
#' or `(num_layers * D, hidden_size)`; `lengths` a vector of `N` whole
#' numbers (batched input only). Outputs: `(N, L, D * hidden_size)` or
#' `(L, D * hidden_size)`, and final states of the shape of `hidden`.
#' @return An MLX module of class `mlx_stacked_rnn`, `mlx_stacked_gru` or
#'   `mlx_stacked_lstm`.
#' @examples
#' lstm <- mlx_stacked_lstm(3, 8, num_layers = 2, bidirectional = TRUE)
#' x <- array(rnorm(2 * 5 * 3), c(2, 5, 3))
#' out <- mlx_forward(lstm, x, lengths = c(5L, 3L))
#' dim(out[[1]]) # 2 5 16
#' dim(out[[2]]) # 4 2 8
#' lstm
#' @name stacked_recurrent_layers
NULL

#' @rdname stacked_recurrent_layers
#' @export
mlx_stacked_rnn <- function(input_size, hidden_size, num_layers = 1,
                            bias = TRUE, dropout = 0, bidirectional = FALSE,
                            nonlinearity = NULL) {
  activation <- rnn_nonlinearity(nonlinearity)
  object <- stacked_recurrent("rnn", input_size, hidden_size, num_layers,
                              bias, dropout, bidirectional, activation)
  keep_nonlinearity(object, activation)
}

#' @rdname stacked_recurrent_layers
#' @export
mlx_stacked_gru <- function(input_size, hidden_size, num_layers = 1,
                            bias = TRUE, dropout = 0, bidirectional = FALSE) {
  stacked_recurrent("gru", input_size, hidden_size, num_layers, bias,
                    dropout, bidirectional)
}

#' @rdname stacked_recurrent_layers
#' @export
mlx_stacked_lstm <- function(input_size, hidden_size, num_layers = 1,
                             bias = TRUE, dropout = 0, bidirectional = FALSE) {
  stacked_recurrent("lstm", input_size, hidden_size, num_layers, bias,
                    dropout, bidirectional)
}

stacked_recurrent <- function(kind, input_size, hidden_size, num_layers,
                              bias, dropout, bidirectional,
                              activation = list(name = "tanh"),
                              call = rlang::caller_env()) {
  check_recurrent_sizes(input_size, hidden_size, call = call)
  check_count(num_layers, min = 1, call = call)
  check_bool(bias, call = call)
  check_probability(dropout, call = call)
  check_bool(bidirectional, call = call)
  sync_mlx_seed()
  module <- if (is.null(activation$module)) NULL else module_ptr(activation$module)
  with_cpp_errors(new_module_object(nn_stacked_recurrent_(
    kind, input_size, hidden_size, num_layers, bias, dropout, bidirectional,
    activation$name, module
  )), call = call)
}

# The classes whose forward pass takes `lengths`, which mlx_forward() checks.
stacked_recurrent_classes <- c(
  "mlx_stacked_rnn", "mlx_stacked_gru", "mlx_stacked_lstm"
)

check_recurrent_sizes <- function(input_size, hidden_size,
                                  call = rlang::caller_env()) {
  check_count(input_size, min = 1, call = call)
  check_count(hidden_size, min = 1, call = call)
}

# The activation functions of this package that an RNN applies by name.
rnn_activation_names <- function() {
  list(
    tanh = mlx_act_tanh, relu = mlx_act_relu, leaky_relu = mlx_act_leaky_relu,
    sigmoid = mlx_act_sigmoid, silu = mlx_act_silu, gelu = mlx_act_gelu,
    gelu_approx = mlx_act_gelu_approx,
    gelu_fast_approx = mlx_act_gelu_fast_approx, softmax = mlx_act_softmax,
    celu = mlx_act_celu, elu = mlx_act_elu, hard_tanh = mlx_act_hard_tanh,
    hardswish = mlx_act_hardswish, log_sigmoid = mlx_act_log_sigmoid,
    mish = mlx_act_mish, relu2 = mlx_act_relu2, relu6 = mlx_act_relu6,
    selu = mlx_act_selu, softplus = mlx_act_softplus,
    softsign = mlx_act_softsign
  )
}

# Resolves an RNN's `nonlinearity` argument to list(name, module): a name
# that C++ applies, or a module (a layer, or any other R function wrapped
# in a module of class RFunction).
rnn_nonlinearity <- function(nonlinearity, arg = rlang::caller_arg(nonlinearity),
                             call = rlang::caller_env()) {
  known <- rnn_activation_names()
  if (is.null(nonlinearity)) {
    return(list(name = "tanh", module = NULL))
  }
  if (is_mlx_module(nonlinearity)) {
    return(list(name = "", module = nonlinearity))
  }
  if (is.character(nonlinearity) && length(nonlinearity) == 1 &&
      nonlinearity %in% names(known)) {
    return(list(name = nonlinearity, module = NULL))
  }
  if (is.function(nonlinearity)) {
    for (name in names(known)) {
      if (identical(nonlinearity, known[[name]])) {
        return(list(name = name, module = NULL))
      }
    }
    wrapper <- mlx_module(
      "RFunction",
      initialize = function(fn) self$fn <- fn,
      forward = function(x) self$fn(x)
    )
    return(list(name = "", module = wrapper(nonlinearity)))
  }
  received <- describe_value(nonlinearity)
  abort_invalid(
    paste(
      "{.arg {arg}} must be NULL, an activation function such as",
      "{.fn mlx_act_relu}, one of {.or {.val {names(known)}}}, or an MLX module."
    ),
    "You supplied {received}.",
    call
  )
}

# Keeps the R object of a nonlinearity module alive with the layer, since a
# module written in R stops working once its R object is collected.
keep_nonlinearity <- function(object, activation) {
  if (!is.null(activation$module)) {
    children <- get(".children", envir = object, inherits = FALSE)
    children$.nonlinearity <- list(activation$module)
    assign(".children", children, envir = object)
  }
  object
}

# Checks sequence lengths given as R numbers against the batched input `x`
# and converts them to an MLX int32 vector. MLX arrays pass through, since
# checking them would force their evaluation.
recurrent_lengths <- function(lengths, x, call = rlang::caller_env()) {
  if (inherits(lengths, "mlx_array")) {
    return(lengths)
  }
  shape <- dim(x) %||% length(x)
  if (length(shape) != 3) {
    abort_invalid(
      "{.arg lengths} needs a batched {.arg x} of shape (N, L, input_size).",
      "{.arg x} has shape ({paste(shape, collapse = ', ')}).",
      call
    )
  }
  if (!is.numeric(lengths) || length(dim(lengths)) > 1 || anyNA(lengths) ||
      any(lengths != trunc(lengths))) {
    received <- describe_value(lengths)
    abort_invalid(
      "{.arg lengths} must be a vector of whole numbers without NA.",
      "You supplied {received}.",
      call
    )
  }
  if (length(lengths) != shape[[1]]) {
    abort_invalid(
      "{.arg lengths} must have one entry per sequence of {.arg x}: {shape[[1]]}.",
      "It has {length(lengths)}.",
      call
    )
  }
  bad <- lengths < 0 | lengths > shape[[2]]
  if (any(bad)) {
    abort_invalid(
      "{.arg lengths} must be between 0 and the number of steps, {shape[[2]]}.",
      "Found {lengths[bad][[1]]} at position {which(bad)[[1]]}.",
      call
    )
  }
  as_mlx(as.integer(lengths), dtype = "int32")
}
