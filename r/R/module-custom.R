# Modules written in R: a constructor made by mlx_module() builds a C++
# module whose forward pass calls back into R.

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
  input_names <- as.character(setdiff(names(formals(forward)), "..."))

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
