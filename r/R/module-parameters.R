# Reading and changing the parameters of a module: values, freezing,
# training mode, dtype, and the modules of its tree.

#' Parameters of a module
#'
#' `mlx_parameters()` returns the parameters as MLX arrays, named by the
#' dotted names MLX Python uses (`"layers.0.weight"`). `mlx_param_values()`
#' returns them converted to R arrays, and `mlx_param_set_values()` replaces
#' some or all of them.
#'
#' @param module An MLX module.
#' @param trainable If `TRUE`, only the parameters that are not frozen.
#'   Default: `FALSE`.
#' @param values A named list of MLX arrays or R arrays, named by dotted
#'   parameter names. R arrays are converted to each parameter's dtype.
#' @param strict If `TRUE` (the default), a name that is not a parameter is
#'   an error; otherwise it is skipped.
#' @return `mlx_parameters()` and `mlx_param_values()`: a named list.
#'   `mlx_param_set_values()`: the module, invisibly.
#' @examples
#' layer <- mlx_linear(3, 2)
#' names(mlx_parameters(layer))
#' mlx_param_set_values(layer, list(bias = c(1, 2)))
#' mlx_param_values(layer)$bias
#' @export
mlx_parameters <- function(module, trainable = FALSE) {
  check_module(module)
  check_bool(trainable)
  module_parameters_(module_ptr(module), trainable)
}

#' @rdname mlx_parameters
#' @export
mlx_param_values <- function(module, trainable = FALSE) {
  lapply(mlx_parameters(module, trainable), as.array)
}

#' @rdname mlx_parameters
#' @export
mlx_param_set_values <- function(module, values, strict = TRUE) {
  check_module(module)
  check_bool(strict)
  values <- as_named_arrays(values, module, "values", rlang::current_env())
  params <- mlx_parameters(module)
  for (name in intersect(names(values), names(params))) {
    expected <- mlx_shape(params[[name]])
    received <- mlx_shape(values[[name]])
    if (!identical(as.integer(expected), as.integer(received))) {
      abort_invalid(
        "{.arg values} must keep each parameter's shape.",
        "{.val {name}} has shape ({paste(expected, collapse = ', ')}) but the new value has shape ({paste(received, collapse = ', ')}).",
        rlang::current_env()
      )
    }
  }
  with_cpp_errors(module_update_(module_ptr(module), values, strict))
  invisible(module)
}

# Converts a named list of R or MLX arrays to MLX arrays in the dtype of the
# parameter of the same name.
as_named_arrays <- function(values, module, arg, call) {
  if (!is.list(values) || (length(values) && (is.null(names(values)) ||
                                               any(names(values) == "")))) {
    cli::cli_abort(c(
      "{.arg {arg}} must be a list named by dotted parameter names.",
      "x" = "You supplied {describe_value(values)}{if (is.list(values)) ' with missing names' else ''}."
    ), call = call)
  }
  params <- mlx_parameters(module)
  out <- lapply(names(values), function(name) {
    v <- values[[name]]
    if (inherits(v, "mlx_array")) return(v)
    dtype <- if (!is.null(params[[name]])) mlx_dtype(params[[name]]) else NULL
    as_mlx(v, dtype = dtype)
  })
  names(out) <- names(values)
  out
}

#' Training mode, freezing and dtype of a module
#'
#' `mlx_set_training()` switches a module and all its children between
#' training mode (dropout active, batch statistics used) and evaluation mode.
#' `mlx_freeze()` excludes parameters from [mlx_parameters()] with
#' `trainable = TRUE`, and so from gradients and optimizer updates;
#' `mlx_unfreeze()` includes them again.
#'
#' @param module An MLX module.
#' @param mode `TRUE` for training mode, `FALSE` for evaluation mode.
#' @param names `NULL` (the default) for all parameters, or parameter names:
#'   a dotted name (`"layers.0.weight"`) names one parameter; a local key
#'   (`"bias"`) names that parameter in every module of the tree, as MLX
#'   Python's `freeze(keys = ...)` does.
#' @param recurse If `TRUE` (the default), local keys apply to every module
#'   below `module`, not only to `module` itself.
#' @param dtype A floating-point dtype name such as `"float16"`.
#' @param fn A function taking an MLX array and returning one.
#' @return The module, invisibly; `mlx_training()` returns `TRUE` or `FALSE`.
#' @examples
#' model <- mlx_sequential(mlx_linear(2, 3), mlx_relu(), mlx_linear(3, 1))
#' mlx_freeze(model, "layers.0.weight")
#' names(mlx_parameters(model, trainable = TRUE))
#' mlx_unfreeze(model)
#' mlx_set_training(model, FALSE)
#' mlx_training(model)
#' @export
mlx_set_training <- function(module, mode = TRUE) {
  check_module(module)
  check_bool(mode)
  module_train_(module_ptr(module), mode)
  invisible(module)
}

#' @rdname mlx_set_training
#' @export
mlx_training <- function(module) {
  check_module(module)
  module_training_(module_ptr(module))
}

#' @rdname mlx_set_training
#' @export
mlx_freeze <- function(module, names = NULL, recurse = TRUE) {
  set_frozen(module, names, recurse, TRUE, rlang::current_env())
}

#' @rdname mlx_set_training
#' @export
mlx_unfreeze <- function(module, names = NULL, recurse = TRUE) {
  set_frozen(module, names, recurse, FALSE, rlang::current_env())
}

set_frozen <- function(module, names, recurse, frozen, call) {
  check_module(module, call = call)
  check_bool(recurse, call = call)
  ptr <- module_ptr(module)
  if (is.null(names)) {
    module_freeze_(ptr, frozen, recurse, character(), FALSE)
    return(invisible(module))
  }
  if (!is.character(names) || anyNA(names)) {
    cli::cli_abort(c(
      "{.arg names} must be a character vector or NULL.",
      "x" = "It is {describe_value(names)}."
    ), call = call)
  }
  dotted <- names[names %in% names(module_parameters_(ptr, FALSE))]
  keys <- setdiff(names, dotted)
  if (length(dotted)) {
    module_set_frozen_(ptr, dotted, frozen)
  }
  if (length(keys)) {
    local_keys <- unique(unlist(lapply(
      module_named_modules_(ptr),
      function(m) names(module_keys_(if (is.environment(m)) module_ptr(m) else m))
    )))
    unknown <- setdiff(keys, local_keys)
    if (length(unknown)) {
      cli::cli_abort(c(
        "{.arg names} must be parameter names of the module.",
        "x" = "Not found: {.val {unknown}}.",
        "i" = "See {.code names(mlx_parameters(module))}."
      ), call = call)
    }
    module_freeze_(ptr, frozen, recurse, keys, FALSE)
  }
  invisible(module)
}

#' @rdname mlx_set_training
#' @export
mlx_set_dtype <- function(module, dtype) {
  check_module(module)
  check_string(dtype)
  module_set_dtype_(module_ptr(module), dtype)
  invisible(module)
}

#' @rdname mlx_set_training
#' @export
mlx_apply <- function(module, fn) {
  check_module(module)
  if (!is.function(fn)) {
    cli::cli_abort("{.arg fn} must be a function.")
  }
  params <- mlx_parameters(module)
  updated <- lapply(params, fn)
  module_update_(module_ptr(module), updated, TRUE)
  invisible(module)
}

#' Modules inside a module
#'
#' @param module An MLX module.
#' @return `mlx_named_modules()`: a list of the module and every module below
#'   it, named by dotted path (the module itself is `""`).
#'   `mlx_children()`: the direct children, named by key.
#' @examples
#' model <- mlx_sequential(mlx_linear(2, 3), mlx_relu())
#' names(mlx_named_modules(model))
#' @export
mlx_named_modules <- function(module) {
  check_module(module)
  found <- module_named_modules_(module_ptr(module))
  paths <- names(found)
  out <- vector("list", length(found))
  for (i in seq_along(found)) {
    out[[i]] <- if (paths[[i]] == "") module else resolve_path(module, paths[[i]])
  }
  names(out) <- paths
  out
}

# The R object of the module at a dotted path below `module`.
resolve_path <- function(module, path) {
  parts <- strsplit(path, ".", fixed = TRUE)[[1]]
  current <- module
  i <- 1
  while (i <= length(parts)) {
    value <- module_value(current, parts[[i]])
    if (is.list(value) && !is_mlx_module(value)) {
      i <- i + 1
      value <- value[[as.integer(parts[[i]]) + 1L]]
    }
    current <- value
    i <- i + 1
  }
  current
}

#' @rdname mlx_named_modules
#' @export
mlx_children <- function(module) {
  check_module(module)
  kinds <- module_keys_(module_ptr(module))
  keys <- names(kinds)[kinds %in% c("module", "modules")]
  out <- lapply(keys, function(k) module_value(module, k))
  names(out) <- keys
  out
}

#' @rdname mlx_parameters
#' @export
mlx_num_parameters <- function(module, trainable = FALSE) {
  params <- mlx_parameters(module, trainable)
  sum(vapply(params, function(p) prod(dim(p)), numeric(1)))
}
