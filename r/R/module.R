# R objects of modules. Each is an environment of class
# c("mlx_<type>", "mlx_module") holding `.ptr`, an external pointer to the
# C++ module, and `.children`, the R objects of its child modules by key.
# The C++ tree is the source of truth for parameters and children; keeping
# the R objects of children in `.children` keeps modules written in R alive
# for as long as a parent uses them.

snake_case <- function(x) {
  # Keep the activation acronyms whole, so that the class of mlx_relu() is
  # "mlx_relu" (not "mlx_re_lu").
  x <- gsub("ReLU", "Relu", x, fixed = TRUE)
  x <- gsub("SiLU", "Silu", x, fixed = TRUE)
  x <- gsub("([a-z0-9])([A-Z])", "\\1_\\2", x)
  x <- gsub("([A-Z]+)([A-Z][a-z])", "\\1_\\2", x)
  tolower(x)
}

module_ptr <- function(x) get(".ptr", envir = x, inherits = FALSE)

new_module_object <- function(ptr, class = NULL) {
  if (is.environment(ptr)) {
    return(ptr)
  }
  self <- new.env(parent = emptyenv())
  assign(".ptr", ptr, envir = self)
  assign(".children", list(), envir = self)
  type <- module_type_(ptr)
  class(self) <- unique(c(class, paste0("mlx_", snake_case(type)), "mlx_module"))
  self
}

is_mlx_module <- function(x) inherits(x, "mlx_module") && is.environment(x)

check_module <- function(x, arg = rlang::caller_arg(x),
                         call = rlang::caller_env()) {
  if (!is_mlx_module(x)) {
    received <- describe_value(x)
    abort_invalid(
      "{.arg {arg}} must be an MLX module.",
      "You supplied {received}.",
      call
    )
  }
  invisible(x)
}

`%||%` <- function(a, b) if (is.null(a)) b else a

# The R objects of the children under `key`, reusing those in `.children`
# while they still wrap the same C++ modules.
child_objects <- function(x, key) {
  ptr <- module_ptr(x)
  children <- get(".children", envir = x, inherits = FALSE)
  cached <- children[[key]]
  fresh <- module_get_modules_(ptr, key)
  if (!is.null(cached) && length(cached) == length(fresh) &&
      all(mapply(function(a, b) module_same_(module_ptr(a), b), cached, fresh))) {
    return(cached)
  }
  objects <- lapply(fresh, new_module_object)
  children[[key]] <- objects
  assign(".children", children, envir = x)
  objects
}

#' @export
`$.mlx_module` <- function(x, name) {
  module_value(x, name)
}

#' @export
`[[.mlx_module` <- function(x, i, ...) {
  module_value(x, i)
}

module_value <- function(x, name) {
  if (startsWith(name, ".")) {
    return(get0(name, envir = x, inherits = FALSE))
  }
  ptr <- module_ptr(x)
  kinds <- module_keys_(ptr)
  if (!name %in% names(kinds)) {
    return(get0(name, envir = x, inherits = FALSE))
  }
  switch(kinds[[name]],
    array = module_get_array_(ptr, name),
    arrays = module_get_arrays_(ptr, name),
    module = child_objects(x, name)[[1]],
    modules = child_objects(x, name),
    list = cli::cli_abort(
      "{.code ${name}} holds a mixed list that R cannot read.",
      call = NULL
    )
  )
}

#' @export
`$<-.mlx_module` <- function(x, name, value) {
  set_module_value(x, name, value)
}

#' @export
`[[<-.mlx_module` <- function(x, i, value) {
  set_module_value(x, i, value)
}

set_module_value <- function(x, name, value) {
  if (startsWith(name, ".")) {
    cli::cli_abort(c(
      "Names starting with {.val .} are reserved for Rmlx.",
      "x" = "Received {.val {name}}."
    ))
  }
  ptr <- module_ptr(x)
  children <- get(".children", envir = x, inherits = FALSE)
  children[[name]] <- NULL
  is_module_list <- is.list(value) && !is.object(value) && length(value) > 0 &&
    all(vapply(value, is_mlx_module, logical(1)))
  is_array_list <- is.list(value) && !is.object(value) && length(value) > 0 &&
    all(vapply(value, inherits, logical(1), "mlx_array"))
  if ((is_module_list || is_array_list) && !is.null(names(value))) {
    abort_invalid(
      "A list of modules or arrays stored in a module must be unnamed.",
      "{.code ${name}} has names {.val {names(value)}}; parameters in lists are named by position ({.code {name}.0}, ...), as MLX Python names list entries.",
      NULL
    )
  }
  if (!is_module_list && !is_array_list && is.list(value) && !is.object(value) &&
      contains_mlx_objects(value)) {
    abort_invalid(
      "A list stored in a module must contain only MLX modules or only MLX arrays.",
      "{.code ${name}} mixes them, or nests lists; put each group in a module of its own (see {.fn mlx_module}).",
      NULL
    )
  }
  if (is_mlx_module(value)) {
    module_set_module_(ptr, name, module_ptr(value))
    children[[name]] <- list(value)
  } else if (is_module_list) {
    module_set_modules_(ptr, name, lapply(value, module_ptr))
    children[[name]] <- unname(value)
  } else if (inherits(value, "mlx_array")) {
    module_set_array_(ptr, name, value)
  } else if (is_array_list) {
    module_set_arrays_(ptr, name, unname(value))
  } else {
    module_remove_(ptr, name)
    if (is.null(value)) {
      if (exists(name, envir = x, inherits = FALSE)) rm(list = name, envir = x)
    } else {
      assign(name, value, envir = x)
    }
  }
  assign(".children", children, envir = x)
  x
}

# TRUE when a list holds an MLX module or array at any depth.
contains_mlx_objects <- function(x) {
  if (is_mlx_module(x) || inherits(x, "mlx_array")) {
    return(TRUE)
  }
  is.list(x) && !is.object(x) &&
    any(vapply(x, contains_mlx_objects, logical(1)))
}

#' @export
names.mlx_module <- function(x) {
  fields <- ls(x, all.names = FALSE)
  unique(c(names(module_keys_(module_ptr(x))), fields))
}

#' Define a module in R
#'
#' Creates a constructor for a module class whose forward pass is written in
#' R. Inside `initialize` and `forward`, `self` is the module being built:
#' assigning an MLX module, a list of modules, an MLX array or a list of
#' arrays to `self$name` adds a child module or a parameter to the module
#' tree, under the dotted names MLX Python would use. Any other value is kept
#' as a plain R field. Such a module trains, freezes, saves and loads exactly
#' like a built-in one, and can be nested in other modules to any depth.
#'
#' @param classname The class name, as printed (e.g. `"MLP"`).
#' @param initialize A function setting up `self` from the constructor's
#'   arguments. Default: none.
#' @param forward The forward pass: a function of the inputs returning an MLX
#'   array or a list of them. Its argument names are the names that
#'   [mlx_forward()] matches.
#' @param ... Further methods, available as `self$name()`.
#' @return A constructor function; calling it returns a module.
#' @examples
#' mlp <- mlx_module("MLP",
#'   initialize = function(n_in, n_hidden, n_out) {
#'     self$hidden <- mlx_linear(n_in, n_hidden)
#'     self$out <- mlx_linear(n_hidden, n_out)
#'   },
#'   forward = function(x) {
#'     mlx_forward(self$out, mlx_act_relu(mlx_forward(self$hidden, x)))
#'   }
#' )
#' model <- mlp(4, 8, 2)
#' mlx_forward(model, as_mlx(matrix(1, 3, 4)))
#' @export
mlx_module <- function(classname, initialize = NULL, forward, ...) {
  check_string(classname)
  if (!is.null(initialize) && !is.function(initialize)) {
    cli::cli_abort(c(
      "{.arg initialize} must be a function or NULL.",
      "x" = "It is {describe_value(initialize)}."
    ))
  }
  if (missing(forward) || !is.function(forward)) {
    cli::cli_abort(
      "{.arg forward} must be a function of the inputs.",
    )
  }
  methods <- list(...)
  if (length(methods) && (is.null(names(methods)) || any(names(methods) == ""))) {
    cli::cli_abort("methods in {.arg ...} must be named.")
  }
  input_names <- setdiff(names(formals(forward)), "...")

  constructor <- function(...) {
    self <- new.env(parent = emptyenv())
    method_env <- new.env(parent = environment(forward))
    assign("self", self, envir = method_env)
    bind <- function(f) {
      environment(f) <- method_env
      f
    }
    forward_fn <- bind(forward)
    assign(".forward", forward_fn, envir = self)
    assign(".children", list(), envir = self)
    ptr <- function_module_new_(classname, self, forward_fn, input_names)
    assign(".ptr", ptr, envir = self)
    class(self) <- c(classname, "mlx_custom_module", "mlx_module")
    for (name in names(methods)) {
      assign(name, bind(methods[[name]]), envir = self)
    }
    if (!is.null(initialize)) {
      bind(initialize)(...)
    }
    self
  }
  structure(constructor, class = "mlx_module_generator", classname = classname)
}

#' @export
print.mlx_module_generator <- function(x, ...) {
  cat("<mlx_module_generator> ", attr(x, "classname"), "\n", sep = "")
  invisible(x)
}

# Called from C++ by the forward pass of a module written in R.
call_r_forward <- function(self, forward, args) {
  names(args) <- names(formals(forward))[seq_along(args)]
  args <- args[!vapply(args, is.null, logical(1))]
  out <- do.call(forward, args)
  as_array_list(out, sprintf("The forward function of <%s>", class(self)[[1]]))
}

# Returns `out` as a list of MLX arrays, or raises an error saying that
# `what` must return an MLX array or a list of them.
as_array_list <- function(out, what, first = "") {
  if (inherits(out, "mlx_array")) {
    return(list(out))
  }
  if (is.list(out) && length(out) &&
      all(vapply(out, inherits, logical(1), "mlx_array"))) {
    return(unname(out))
  }
  cli::cli_abort(c(
    "{what} must return an MLX array or a list of them{first}.",
    "x" = "It returned {describe_value(out)}."
  ), call = NULL)
}

#' Run a module's forward pass
#'
#' @param module An MLX module.
#' @param ... The inputs, as MLX arrays or R arrays (converted with
#'   [as_mlx()]), by position or by the argument names of MLX Python's layer
#'   (for example `mlx_forward(lstm, x, hidden = h)`).
#' @return An MLX array, or a list of them for a layer with several outputs.
#' @examples
#' layer <- mlx_linear(3, 2)
#' mlx_forward(layer, matrix(1, 4, 3))
#' @export
mlx_forward <- function(module, ...) {
  check_module(module)
  sync_mlx_seed()
  ptr <- module_ptr(module)
  input_names <- module_input_names_(ptr)
  args <- list(...)
  inputs <- vector("list", 0)
  given <- names(args) %||% rep("", length(args))
  positional <- args[given == ""]
  named <- args[given != ""]
  unknown <- setdiff(names(named), input_names)
  if (length(unknown)) {
    cli::cli_abort(c(
      "Every named input must be an input of {.cls {module_type_(ptr)}}.",
      "x" = "Unknown: {.arg {unknown}}.",
      "i" = "Its inputs are {.arg {input_names}}."
    ))
  }
  if (length(positional) + length(named) > length(input_names)) {
    cli::cli_abort(c(
      "too many inputs for {.cls {module_type_(ptr)}}.",
      "x" = "It takes {length(input_names)} ({.arg {input_names}}), but received {length(args)}."
    ))
  }
  slots <- vector("list", length(input_names))
  free <- setdiff(seq_along(input_names), match(names(named), input_names))
  for (i in seq_along(positional)) {
    slots[free[[i]]] <- list(positional[[i]])
  }
  for (name in names(named)) {
    slots[match(name, input_names)] <- list(named[[name]])
  }
  last <- max(c(0, which(!vapply(slots, is.null, logical(1)))))
  slots <- slots[seq_len(last)]
  if (inherits(module, "mlx_embedding") && length(slots) &&
      !inherits(slots[[1]], "mlx_array")) {
    rows <- dim(mlx_parameters(module)$weight)[[1]]
    slots[[1]] <- one_based_indices(slots[[1]], rows, arg = "x")
  }
  slots <- lapply(slots, function(x) if (is.null(x) || inherits(x, "mlx_array")) x else as_mlx(x))
  out <- with_cpp_errors(module_forward_(ptr, slots))
  if (length(out) == 1) out[[1]] else out
}

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

#' Load and save a module's weights
#'
#' Weights are stored in the safetensors format under the dotted names MLX
#' Python uses, so files move between Rmlx, MLX Python
#' (`model.load_weights("w.safetensors")`) and PyTorch (`safetensors.torch`).
#'
#' @param module An MLX module.
#' @param weights A path to a `.safetensors` file, or a named list of arrays.
#' @param strict If `TRUE` (the default), the names must be exactly the
#'   module's parameters and the shapes must match.
#' @param path The `.safetensors` file to write. The file is written beside
#'   the target and renamed, so an existing file is never left half-written.
#' @return The module, invisibly.
#' @examples
#' layer <- mlx_linear(3, 2)
#' path <- tempfile(fileext = ".safetensors")
#' mlx_save_weights(layer, path)
#' other <- mlx_linear(3, 2)
#' mlx_load_weights(other, path)
#' @export
mlx_load_weights <- function(module, weights, strict = TRUE) {
  check_module(module)
  check_bool(strict)
  if (is.character(weights)) {
    check_string(weights)
    if (!file.exists(weights)) {
      cli::cli_abort(c(
        "{.arg weights} must be an existing file.",
        "x" = "{.file {weights}} was not found."
      ))
    }
    with_cpp_errors(
      module_load_weights_file_(module_ptr(module), path.expand(weights), strict)
    )
  } else {
    values <- as_named_arrays(weights, module, "weights", rlang::current_env())
    with_cpp_errors(module_load_weights_(module_ptr(module), values, strict))
  }
  invisible(module)
}

#' @rdname mlx_load_weights
#' @export
mlx_save_weights <- function(module, path) {
  check_module(module)
  check_string(path)
  check_output_path(path)
  with_cpp_errors(module_save_weights_(module_ptr(module), path.expand(path)))
  invisible(module)
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

#' @export
print.mlx_module <- function(x, ...) {
  ptr <- module_ptr(x)
  if (is.null(tryCatch(module_type_(ptr), error = function(e) NULL))) {
    cat("<mlx_module> that no longer exists (restored by readRDS()?)\n")
    return(invisible(x))
  }
  n <- module_num_parameters_(ptr)
  cat(sprintf(
    "<mlx_module> %s, %s parameters%s\n",
    module_type_(ptr), format(n, big.mark = ",", scientific = FALSE),
    if (module_training_(ptr)) "" else " (eval mode)"
  ))
  cat(module_repr_(ptr), "\n", sep = "")
  invisible(x)
}

#' @export
format.mlx_module <- function(x, ...) {
  module_repr_(module_ptr(x))
}

#' Read and write safetensors files
#'
#' Saves a named list of MLX arrays to a `.safetensors` file, or reads one
#' back, as `mx.save_safetensors()` and `mx.load()` do in MLX Python.
#'
#' @param arrays A named list of MLX arrays (R arrays are converted).
#' @param path The file. Writing goes through a file beside it that is
#'   renamed, so an existing file is never left half-written.
#' @return `mlx_load_safetensors()`: a named list of MLX arrays, sorted by
#'   name. `mlx_save_safetensors()`: `path`, invisibly.
#' @examples
#' path <- tempfile(fileext = ".safetensors")
#' mlx_save_safetensors(list(a = as_mlx(1:3)), path)
#' mlx_load_safetensors(path)$a
#' @export
mlx_save_safetensors <- function(arrays, path) {
  check_string(path)
  if (!is.list(arrays) || is.null(names(arrays)) || any(names(arrays) == "")) {
    received <- describe_value(arrays)
    abort_invalid("{.arg arrays} must be a named list of arrays.",
                  "You supplied {received}.", rlang::current_env())
  }
  duplicated_names <- unique(names(arrays)[duplicated(names(arrays))])
  if (length(duplicated_names)) {
    abort_invalid("The names in {.arg arrays} must be unique.",
                  "Repeated: {.val {duplicated_names}}.", rlang::current_env())
  }
  check_output_path(path)
  arrays <- lapply(arrays, function(x) if (inherits(x, "mlx_array")) x else as_mlx(x))
  with_cpp_errors(save_safetensors_(arrays, path.expand(path)))
  invisible(path)
}

#' @rdname mlx_save_safetensors
#' @export
mlx_load_safetensors <- function(path) {
  check_string(path)
  if (!file.exists(path)) {
    abort_invalid("{.arg path} must be an existing file.",
                  "{.file {path}} was not found.", rlang::current_env())
  }
  with_cpp_errors(load_safetensors_(path.expand(path)))
}

# Checks that the folder of an output file exists.
check_output_path <- function(path, call = rlang::caller_env()) {
  folder <- dirname(path.expand(path))
  if (!dir.exists(folder)) {
    abort_invalid("The folder of {.arg path} must exist.",
                  "{.file {folder}} was not found.", call)
  }
}
