# Weights and arrays in safetensors and npz files.

#' Load and save a module's weights
#'
#' Weights are stored under the dotted names MLX Python uses, in a
#' `.safetensors` or `.npz` file (chosen by the extension), so files move
#' between Rmlx and MLX Python (`model.load_weights("w.safetensors")`,
#' `model.save_weights("w.npz")`) in both directions, in any dtype
#' (bfloat16 and float16 included). PyTorch state dicts load through
#' [mlx_load_torch_weights()], which converts their layout.
#'
#' With `strict = TRUE`, one error lists every missing parameter, every
#' name that is not a parameter of the model and every shape that differs.
#'
#' @param module An MLX module.
#' @param weights A path to a `.safetensors` or `.npz` file, or a named list
#'   of arrays.
#' @param strict If `TRUE` (the default), the names must be exactly the
#'   module's parameters and the shapes must match. If `FALSE`, names that
#'   are not parameters are skipped and shapes are not checked.
#' @param path The `.safetensors` or `.npz` file to write. The file is
#'   written beside the target and renamed, so an existing file is never
#'   left half-written.
#' @param metadata `NULL`, or a named character vector stored in a
#'   `.safetensors` file's header (`.npz` files have none).
#' @return The module, invisibly.
#' @examples
#' layer <- mlx_linear(3, 2)
#' path <- tempfile(fileext = ".safetensors")
#' mlx_save_weights(layer, path, metadata = c(note = "example"))
#' other <- mlx_linear(3, 2)
#' mlx_load_weights(other, path)
#' @export
mlx_load_weights <- function(module, weights, strict = TRUE) {
  check_module(module)
  check_bool(strict)
  if (is.character(weights)) {
    check_string(weights)
    check_input_path(weights, "weights")
    values <- with_cpp_errors(load_arrays_(path.expand(weights)))
  } else {
    values <- as_named_arrays(weights, module, "weights", rlang::current_env())
  }
  if (strict) {
    check_weights_match(module, values, rlang::current_env())
  }
  with_cpp_errors(module_load_weights_(module_ptr(module), values, strict))
  invisible(module)
}

#' @rdname mlx_load_weights
#' @export
mlx_save_weights <- function(module, path, metadata = NULL) {
  check_module(module)
  check_string(path)
  check_weights_path(path, metadata)
  check_output_path(path)
  with_cpp_errors(save_arrays_(
    mlx_parameters(module), path.expand(path), metadata_strings(metadata)
  ))
  invisible(module)
}

#' Read and write arrays in safetensors and npz files
#'
#' `mlx_save_safetensors()` and `mlx_savez()` write a named list of MLX
#' arrays, as `mx.save_safetensors()` and `mx.savez()` do in MLX Python.
#' `mlx_load()` reads a `.safetensors`, `.npz` or `.npy` file, as `mx.load()`
#' does; `mlx_load_safetensors()` reads only `.safetensors` files. Every
#' dtype round-trips, bfloat16 and float16 included; `.npz` files written by
#' `numpy.savez` and `numpy.savez_compressed` (or `mx.savez_compressed()`)
#' load too.
#'
#' @param arrays A named list of MLX arrays (R arrays are converted).
#' @param path The file. Writing goes through a file beside it that is
#'   renamed, so an existing file is never left half-written.
#' @param metadata `NULL`, or a named character vector stored in the
#'   file's header.
#' @return `mlx_load()` and `mlx_load_safetensors()`: a named list of MLX
#'   arrays, sorted by name, with the file's metadata as the attribute
#'   `"metadata"` (a named character vector; empty for `.npz` and `.npy`).
#'   A `.npy` file gives one array named `arr_0`. The writers return
#'   `path`, invisibly.
#' @examples
#' path <- tempfile(fileext = ".safetensors")
#' mlx_save_safetensors(list(a = as_mlx(1:3)), path, metadata = c(step = "10"))
#' loaded <- mlx_load(path)
#' loaded$a
#' attr(loaded, "metadata")
#' npz <- tempfile(fileext = ".npz")
#' mlx_savez(list(a = as_mlx(1:3)), npz)
#' mlx_load(npz)$a
#' @export
mlx_save_safetensors <- function(arrays, path, metadata = NULL) {
  check_string(path)
  if (!endsWith(path, ".safetensors")) {
    abort_invalid("{.arg path} must end in {.file .safetensors}.",
                  "You supplied {.file {path}}.", rlang::current_env())
  }
  save_named_arrays(arrays, path, metadata, rlang::current_env())
}

#' @rdname mlx_save_safetensors
#' @export
mlx_savez <- function(arrays, path) {
  check_string(path)
  if (!endsWith(path, ".npz")) {
    abort_invalid("{.arg path} must end in {.file .npz}.",
                  "You supplied {.file {path}}.", rlang::current_env())
  }
  save_named_arrays(arrays, path, NULL, rlang::current_env())
}

#' @rdname mlx_save_safetensors
#' @export
mlx_load <- function(path) {
  check_string(path)
  check_input_path(path, "path")
  if (!grepl("\\.(safetensors|npz|npy)$", path)) {
    abort_invalid("{.arg path} must end in {.file .safetensors}, {.file .npz} or {.file .npy}.",
                  "You supplied {.file {path}}.", rlang::current_env())
  }
  with_cpp_errors(load_arrays_(path.expand(path)))
}

#' @rdname mlx_save_safetensors
#' @export
mlx_load_safetensors <- function(path) {
  check_string(path)
  check_input_path(path, "path")
  if (!endsWith(path, ".safetensors")) {
    abort_invalid("{.arg path} must end in {.file .safetensors}.",
                  "You supplied {.file {path}}; read other files with {.fn mlx_load}.",
                  rlang::current_env())
  }
  with_cpp_errors(load_arrays_(path.expand(path)))
}

save_named_arrays <- function(arrays, path, metadata, call) {
  if (!is.list(arrays) || is.null(names(arrays)) || any(names(arrays) == "")) {
    received <- describe_value(arrays)
    abort_invalid("{.arg arrays} must be a named list of arrays.",
                  "You supplied {received}.", call)
  }
  duplicated_names <- unique(names(arrays)[duplicated(names(arrays))])
  if (length(duplicated_names)) {
    abort_invalid("The names in {.arg arrays} must be unique.",
                  "Repeated: {.val {duplicated_names}}.", call)
  }
  metadata <- metadata_strings(metadata, call)
  check_output_path(path, call)
  arrays <- lapply(arrays, function(x) if (inherits(x, "mlx_array")) x else as_mlx(x))
  with_cpp_errors(save_arrays_(arrays, path.expand(path), metadata), call = call)
  invisible(path)
}

# Checks metadata and returns it as a named character vector.
metadata_strings <- function(metadata, call = rlang::caller_env()) {
  if (is.null(metadata)) {
    return(stats::setNames(character(), character()))
  }
  if (!is.character(metadata) || anyNA(metadata) || is.null(names(metadata)) ||
      any(names(metadata) == "") || anyDuplicated(names(metadata))) {
    received <- describe_value(metadata)
    abort_invalid(
      "{.arg metadata} must be a character vector with unique, non-empty names.",
      "You supplied {received}.", call
    )
  }
  metadata
}

check_weights_path <- function(path, metadata, call = rlang::caller_env()) {
  if (!grepl("\\.(safetensors|npz)$", path)) {
    abort_invalid("{.arg path} must end in {.file .safetensors} or {.file .npz}.",
                  "You supplied {.file {path}}.", call)
  }
  if (!is.null(metadata) && endsWith(path, ".npz")) {
    abort_invalid("{.arg metadata} needs a {.file .safetensors} file.",
                  "{.file {path}} is an .npz file, which has no metadata.", call)
  }
}

check_input_path <- function(path, arg, call = rlang::caller_env()) {
  if (!file.exists(path)) {
    abort_invalid("{.arg {arg}} must be an existing file.",
                  "{.file {path}} was not found.", call)
  }
}

# Raises one error that lists every missing, unexpected and mis-shaped name.
check_weights_match <- function(module, values, call,
                                hint = "Use {.code strict = FALSE} to load the names that match.") {
  params <- mlx_parameters(module)
  missing <- setdiff(names(params), names(values))
  unexpected <- setdiff(names(values), names(params))
  shape_text <- function(x) paste0("(", paste(mlx_shape(x), collapse = ", "), ")")
  mis_shaped <- character()
  for (name in intersect(names(params), names(values))) {
    expected <- mlx_shape(params[[name]])
    received <- mlx_shape(values[[name]])
    if (!identical(as.integer(expected), as.integer(received))) {
      mis_shaped <- c(mis_shaped, sprintf(
        "%s: expected %s, received %s",
        name, shape_text(params[[name]]), shape_text(values[[name]])
      ))
    }
  }
  if (!length(missing) && !length(unexpected) && !length(mis_shaped)) {
    return(invisible())
  }
  bullets <- c(
    if (length(missing)) c(x = paste0("Missing (", length(missing), "): ",
                                      paste(missing, collapse = ", "))),
    if (length(unexpected)) c(x = paste0("Not in the model (", length(unexpected), "): ",
                                         paste(unexpected, collapse = ", "))),
    if (length(mis_shaped)) c(x = paste0("Wrong shape (", length(mis_shaped), "): ",
                                         paste(mis_shaped, collapse = "; "))),
    if (!is.null(hint)) c(i = hint)
  )
  cli::cli_abort(
    c("The weights do not match the model's parameters.", bullets),
    call = call,
    class = c("rmlx_error_weights", "rmlx_error_invalid_argument"),
    .envir = environment()
  )
}

# Checks that the folder of an output file exists.
check_output_path <- function(path, call = rlang::caller_env()) {
  folder <- dirname(path.expand(path))
  if (!dir.exists(folder)) {
    abort_invalid("The folder of {.arg path} must exist.",
                  "{.file {folder}} was not found.", call)
  }
}
