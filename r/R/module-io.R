# Weights and arrays in safetensors files.

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
