# Initializers of mlx.nn.init and the re-initialisation of a module's
# parameters.

#' Initializers
#'
#' The initializers of MLX Python's `mlx.nn.init`. Each returns a function
#' of class `mlx_initializer` that takes an array (an MLX array or an R
#' array; only its shape is used) and returns a new MLX array of that
#' shape. Random initializers draw from MLX's key stream, which follows
#' [set.seed()]; after [mlx_random_seed()] they draw the numbers MLX Python
#' draws after `mx.random.seed()`. Unlike MLX Python, where `gain` and
#' `mode` are arguments of the returned function, they are arguments of
#' the factory here.
#'
#' Glorot and He initializers read the fans from the shape as MLX does:
#' `fan_in` is the last dimension and `fan_out` the first, each times the
#' product of the dimensions in between.
#'
#' @param value The fill value.
#' @param mean,std Mean and standard deviation of the normal distribution.
#' @param low,high Bounds of the uniform distribution.
#' @param gain Scale factor. Default: 1.
#' @param mode `"fan_in"` (the default) or `"fan_out"`: the fan He
#'   initializers divide by.
#' @param sparsity The fraction of each row set to zero, in \[0, 1\]
#'   (rounded up to whole entries).
#' @param dtype The dtype of the result. Default: `"float32"`.
#' @return A function `f(x)` of class `mlx_initializer`.
#' @examples
#' init <- mlx_init_he_normal(mode = "fan_out")
#' w <- init(matrix(0, 4, 3))
#' dim(w)
#' @name initializers
NULL

new_initializer <- function(kind, options, dtype, call = rlang::caller_env()) {
  check_dtype(dtype, call = call)
  force(options)
  fn <- function(x) {
    shape <- if (inherits(x, "mlx_array")) mlx_shape(x) else dim(x) %||% length(x)
    sync_mlx_seed()
    with_cpp_errors(init_array_(kind, as.integer(shape), options, dtype))
  }
  attr(fn, "kind") <- kind
  attr(fn, "options") <- options
  class(fn) <- c("mlx_initializer", "function")
  fn
}

check_mode <- function(mode, call = rlang::caller_env()) {
  if (!is.character(mode) || length(mode) != 1 ||
      !mode %in% c("fan_in", "fan_out")) {
    received <- describe_value(mode)
    abort_invalid("{.arg mode} must be \"fan_in\" or \"fan_out\".",
                  "You supplied {received}.", call)
  }
}

#' @rdname initializers
#' @export
mlx_init_constant <- function(value, dtype = "float32") {
  check_number(value)
  new_initializer("constant", list(value = value), dtype)
}

#' @rdname initializers
#' @export
mlx_init_normal <- function(mean = 0, std = 1, dtype = "float32") {
  check_number(mean)
  check_number(std)
  new_initializer("normal", list(mean = mean, std = std), dtype)
}

#' @rdname initializers
#' @export
mlx_init_uniform <- function(low = 0, high = 1, dtype = "float32") {
  check_number(low)
  check_number(high)
  new_initializer("uniform", list(low = low, high = high), dtype)
}

#' @rdname initializers
#' @export
mlx_init_identity <- function(dtype = "float32") {
  new_initializer("identity", list(), dtype)
}

#' @rdname initializers
#' @export
mlx_init_glorot_normal <- function(gain = 1, dtype = "float32") {
  check_number(gain)
  new_initializer("glorot_normal", list(gain = gain), dtype)
}

#' @rdname initializers
#' @export
mlx_init_glorot_uniform <- function(gain = 1, dtype = "float32") {
  check_number(gain)
  new_initializer("glorot_uniform", list(gain = gain), dtype)
}

#' @rdname initializers
#' @export
mlx_init_he_normal <- function(mode = "fan_in", gain = 1, dtype = "float32") {
  check_mode(mode)
  check_number(gain)
  new_initializer("he_normal", list(mode = mode, gain = gain), dtype)
}

#' @rdname initializers
#' @export
mlx_init_he_uniform <- function(mode = "fan_in", gain = 1, dtype = "float32") {
  check_mode(mode)
  check_number(gain)
  new_initializer("he_uniform", list(mode = mode, gain = gain), dtype)
}

#' @rdname initializers
#' @export
mlx_init_sparse <- function(sparsity, mean = 0, std = 1, dtype = "float32") {
  check_number(sparsity)
  if (sparsity < 0 || sparsity > 1) {
    abort_invalid("{.arg sparsity} must be a fraction from 0 to 1.",
                  "You supplied {sparsity}.", rlang::current_env())
  }
  check_number(mean)
  check_number(std)
  new_initializer("sparse", list(sparsity = sparsity, mean = mean, std = std), dtype)
}

#' @rdname initializers
#' @export
mlx_init_orthogonal <- function(gain = 1, dtype = "float32") {
  check_number(gain)
  new_initializer("orthogonal", list(gain = gain), dtype)
}

#' @export
print.mlx_initializer <- function(x, ...) {
  options <- attr(x, "options")
  args <- paste(names(options), vapply(options, format, ""), sep = " = ",
                collapse = ", ")
  cat("<mlx_initializer> ", attr(x, "kind"), "(", args, ")\n", sep = "")
  invisible(x)
}

#' Re-initialise a module's parameters
#'
#' Replaces selected parameters of a module with new values from an
#' initializer, in the order of [mlx_parameters()]. With no selector every
#' parameter is replaced; the selectors given must all hold.
#'
#' @param module An MLX module.
#' @param initializer An initializer such as [mlx_init_glorot_uniform()], or
#'   any function that takes the current MLX array and returns a new value
#'   of the same shape.
#' @param names Exact dotted parameter names, e.g. `"layers.0.weight"`.
#' @param pattern A regular expression matched against the dotted names.
#' @param layer Module type names, e.g. `"Linear"`: only parameters that
#'   belong directly to a module of one of these types.
#' @param parameter Local parameter names, e.g. `"weight"` or `"bias"`.
#' @return The module, invisibly.
#' @examples
#' model <- mlx_sequential(mlx_linear(3, 4), mlx_relu(), mlx_linear(4, 1))
#' set.seed(1)
#' mlx_init_parameters(model, mlx_init_glorot_uniform(),
#'                     layer = "Linear", parameter = "weight")
#' mlx_init_parameters(model, mlx_init_constant(0), parameter = "bias")
#' @export
mlx_init_parameters <- function(module, initializer, names = NULL,
                                pattern = NULL, layer = NULL,
                                parameter = NULL) {
  check_module(module)
  if (!is.function(initializer)) {
    received <- describe_value(initializer)
    abort_invalid("{.arg initializer} must be a function such as {.fn mlx_init_normal}.",
                  "You supplied {received}.", rlang::current_env())
  }
  for (arg in c("names", "layer", "parameter")) {
    value <- get(arg)
    if (!is.null(value) && (!is.character(value) || anyNA(value))) {
      abort_invalid("{.arg {arg}} must be a character vector.",
                    "You supplied {describe_value(value)}.", rlang::current_env())
    }
  }
  if (!is.null(pattern)) check_string(pattern)

  params <- mlx_parameters(module)
  selected <- base::names(params)
  if (!is.null(names)) {
    unknown <- setdiff(names, selected)
    if (length(unknown)) {
      abort_invalid("Every name in {.arg names} must be a parameter.",
                    "Not found: {.val {unknown}}.", rlang::current_env())
    }
    selected <- intersect(selected, names)
  }
  if (!is.null(pattern)) selected <- selected[grepl(pattern, selected)]
  owner <- sub("\\.?[^.]*$", "", selected)
  if (!is.null(parameter)) {
    keep <- sub("^.*\\.", "", selected) %in% parameter
    selected <- selected[keep]
    owner <- owner[keep]
  }
  if (!is.null(layer)) {
    modules <- mlx_named_modules(module)
    types <- vapply(modules, function(m) module_type_(module_ptr(m)), "")
    keep <- types[owner] %in% layer
    selected <- selected[keep]
  }

  values <- list()
  for (name in selected) {
    value <- initializer(params[[name]])
    values[[name]] <- value
  }
  if (length(values)) mlx_param_set_values(module, values)
  invisible(module)
}
