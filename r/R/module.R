# R objects of modules. Each is an environment of class
# c("mlx_<type>", "mlx_module") holding `.ptr`, an external pointer to the
# C++ module, and `.children`, the R objects of its child modules by key.
# The C++ tree is the source of truth for parameters and children; keeping
# the R objects of children in `.children` keeps modules written in R alive
# for as long as a parent uses them.

snake_case <- function(x) {
  # Keep the acronyms whole, so that the class of mlx_relu() is "mlx_relu"
  # (not "mlx_re_lu"), of mlx_prelu() "mlx_prelu", of mlx_rope() "mlx_rope"
  # and of mlx_alibi() "mlx_alibi".
  x <- gsub("PReLU", "Prelu", x, fixed = TRUE)
  x <- gsub("ReLU", "Relu", x, fixed = TRUE)
  x <- gsub("RoPE", "Rope", x, fixed = TRUE)
  x <- gsub("ALiBi", "Alibi", x, fixed = TRUE)
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

#' Run a module's forward pass
#'
#' @param module An MLX module.
#' @param ... The inputs, as MLX arrays or R arrays (converted to float32;
#'   an embedding takes integer indices), by position or by the argument
#'   names of MLX Python's layer (for example
#'   `mlx_forward(lstm, x, hidden = h)`).
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
  # MLX arrays by position need none of the conversions below, which cost
  # more than the call itself for a small layer.
  if (is.null(names(args)) && length(args) <= length(input_names) &&
      all(vapply(args, inherits, logical(1), "mlx_array"))) {
    out <- with_cpp_errors(module_forward_(ptr, args))
    return(if (length(out) == 1) out[[1]] else out)
  }
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
  if (inherits(module, c("mlx_embedding", "mlx_quantized_embedding")) &&
      length(slots) && !inherits(slots[[1]], "mlx_array")) {
    rows <- dim(mlx_parameters(module)$weight)[[1]]
    slots[[1]] <- one_based_indices(slots[[1]], rows, arg = "x")
  }
  lengths_slot <- match("lengths", input_names)
  if (inherits(module, stacked_recurrent_classes) &&
      lengths_slot <= length(slots) && !is.null(slots[[lengths_slot]])) {
    slots[[lengths_slot]] <- recurrent_lengths(slots[[lengths_slot]], slots[[1]])
  }
  # R data becomes float32, integers and logicals included: the layers that
  # take indices (embeddings, sequence lengths) were converted above. A
  # logical mask (an input named "mask" or "..._mask") stays boolean, so
  # that TRUE means "attend" as in MLX, instead of becoming an additive mask
  # of zeros and ones.
  offset_slot <- match("offset", input_names)
  if (!is.na(offset_slot) && offset_slot <= length(slots) &&
      !is.null(slots[[offset_slot]]) &&
      !inherits(slots[[offset_slot]], "mlx_array")) {
    check_count(slots[[offset_slot]], arg = "offset")
  }
  is_mask <- grepl("(^|_)mask$", input_names[seq_along(slots)])
  slots <- Map(function(x, mask) {
    if (is.null(x) || inherits(x, "mlx_array")) {
      x
    } else if (mask && is.logical(x)) {
      as_mlx(x, dtype = "bool")
    } else {
      as_mlx(x, dtype = "float32")
    }
  }, slots, is_mask)
  out <- with_cpp_errors(module_forward_(ptr, slots))
  if (length(out) == 1) out[[1]] else out
}

#' @export
print.mlx_module <- function(x, ...) {
  ptr <- module_ptr(x)
  if (is.null(tryCatch(module_type_(ptr), error = function(e) NULL))) {
    cat("<mlx_module> that no longer exists (restored by readRDS()?).",
        "Save modules with mlx_save_weights() or mlx_save_checkpoint().\n")
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
