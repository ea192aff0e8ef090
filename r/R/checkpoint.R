# Checkpoints: a model's weights, an optimizer's state and step, a training
# step's PRNG key and R's random state in one safetensors file.

#' Save and resume a training run
#'
#' `mlx_save_checkpoint()` writes one `.safetensors` file with the model's
#' parameters (under `model.`), the optimizer's state including its step
#' count (under `optimizer.`, from [mlx_optimizer_state()]), the PRNG key of
#' a training step (`train_step.key`) and R's random state
#' (`.Random.seed`). `mlx_load_checkpoint()` puts them all back, so a run
#' resumed from a checkpoint gives the same weights as one that was never
#' interrupted.
#'
#' MLX's random stream follows R's (see [mlx_random_seed()]). Saving and
#' loading both reseed MLX from R's restored random state in the same way,
#' so the draws after a save and after the matching load are the same.
#'
#' @param path The `.safetensors` file. Writing goes through a file beside
#'   it that is renamed, so an existing checkpoint is never left
#'   half-written.
#' @param model An MLX module.
#' @param optimizer `NULL`, or the optimizer whose state to save or restore.
#'   Loading requires an optimizer of the class that was saved.
#' @param train_step `NULL`, or a training step from [mlx_train_step()]
#'   whose PRNG key (used by dropout inside the step) to save or restore.
#' @param metadata `NULL`, or a named character vector stored in the file;
#'   names starting with `rmlx.` are reserved.
#' @return `mlx_save_checkpoint()`: `path`, invisibly.
#'   `mlx_load_checkpoint()`: the checkpoint's metadata (a named character
#'   vector), invisibly.
#' @examples
#' set.seed(1)
#' model <- mlx_linear(3, 1)
#' opt <- mlx_optimizer_adam(learning_rate = 0.01)
#' loss <- function(model, x, y) mlx_mse_loss(mlx_forward(model, x), y)
#' step <- mlx_train_step(model, opt, loss)
#' x <- matrix(rnorm(12), 4, 3)
#' y <- matrix(rnorm(4), 4, 1)
#' step(x, y)
#' path <- tempfile(fileext = ".safetensors")
#' mlx_save_checkpoint(path, model, opt, step)
#'
#' # Later, in a new session:
#' model2 <- mlx_linear(3, 1)
#' opt2 <- mlx_optimizer_adam(learning_rate = 0.01)
#' step2 <- mlx_train_step(model2, opt2, loss)
#' mlx_load_checkpoint(path, model2, opt2, step2)
#' @export
mlx_save_checkpoint <- function(path, model, optimizer = NULL,
                                train_step = NULL, metadata = NULL) {
  check_string(path)
  check_module(model)
  if (!is.null(optimizer)) check_optimizer(optimizer)
  if (!is.null(train_step)) check_train_step(train_step)
  if (!endsWith(path, ".safetensors")) {
    abort_invalid("{.arg path} must end in {.file .safetensors}.",
                  "You supplied {.file {path}}.", rlang::current_env())
  }
  metadata <- metadata_strings(metadata)
  reserved <- startsWith(names(metadata), "rmlx.")
  if (any(reserved)) {
    abort_invalid("Names in {.arg metadata} must not start with {.val rmlx.}.",
                  "Reserved: {.val {names(metadata)[reserved]}}.",
                  rlang::current_env())
  }
  check_output_path(path)

  arrays <- mlx_parameters(model)
  names(arrays) <- paste0("model.", names(arrays))
  if (!is.null(optimizer)) {
    state <- mlx_optimizer_state(optimizer)
    names(state) <- paste0("optimizer.", names(state))
    arrays <- c(arrays, state)
  }
  if (!is.null(train_step)) {
    arrays[["train_step.key"]] <- train_step_key_(train_step_ptr(train_step))
  }
  if (!exists(".Random.seed", envir = globalenv(), inherits = FALSE)) {
    stats::runif(1)
  }
  random_seed <- get(".Random.seed", envir = globalenv(), inherits = FALSE)
  arrays[["random.r_seed"]] <- as_mlx(random_seed, dtype = "int32")
  metadata <- c(
    metadata,
    rmlx.checkpoint = "1",
    rmlx.rng_kind = paste(RNGkind(), collapse = ","),
    rmlx.optimizer = if (is.null(optimizer)) "" else class(optimizer)[[1]],
    rmlx.train_step = if (is.null(train_step)) "0" else "1"
  )
  with_cpp_errors(save_arrays_(arrays, path.expand(path), metadata))
  reseed_mlx_from_r()
  invisible(path)
}

#' @rdname mlx_save_checkpoint
#' @export
mlx_load_checkpoint <- function(path, model, optimizer = NULL,
                                train_step = NULL) {
  check_string(path)
  check_module(model)
  if (!is.null(optimizer)) check_optimizer(optimizer)
  if (!is.null(train_step)) check_train_step(train_step)
  check_input_path(path, "path")
  arrays <- with_cpp_errors(load_arrays_(path.expand(path)))
  metadata <- attr(arrays, "metadata")
  if (!identical(unname(metadata["rmlx.checkpoint"]), "1")) {
    abort_invalid("{.arg path} must be a checkpoint from {.fn mlx_save_checkpoint}.",
                  "{.file {path}} has no checkpoint metadata.", rlang::current_env())
  }

  section <- function(prefix) {
    keys <- names(arrays)[startsWith(names(arrays), prefix)]
    out <- arrays[keys]
    names(out) <- substring(keys, nchar(prefix) + 1)
    out
  }
  weights <- section("model.")
  check_weights_match(model, weights, rlang::current_env(), hint = NULL)
  optimizer_state <- section("optimizer.")
  if (!is.null(optimizer)) {
    if (!length(optimizer_state)) {
      abort_invalid("{.arg optimizer} has no state in the checkpoint.",
                    "{.file {path}} was saved without an optimizer.",
                    rlang::current_env())
    }
    # Optimizers share state names ("v" is SGD's momentum and Adam's second
    # moment), so a state of another class would load without an error.
    saved_class <- unname(metadata["rmlx.optimizer"])
    if (!identical(saved_class, class(optimizer)[[1]])) {
      abort_invalid(
        "{.arg optimizer} must be of the class saved in the checkpoint.",
        "{.file {path}} holds the state of {.cls {saved_class}}, but {.arg optimizer} is {.cls {class(optimizer)[[1]]}}.",
        rlang::current_env()
      )
    }
  }
  key <- arrays[["train_step.key"]]
  if (!is.null(train_step) && is.null(key)) {
    abort_invalid("{.arg train_step} has no key in the checkpoint.",
                  "{.file {path}} was saved without a training step.",
                  rlang::current_env())
  }

  with_cpp_errors(module_load_weights_(module_ptr(model), weights, TRUE))
  if (!is.null(optimizer)) {
    mlx_optimizer_set_state(optimizer, optimizer_state)
  }
  if (!is.null(train_step)) {
    with_cpp_errors(train_step_set_key_(train_step_ptr(train_step), key))
  }
  rng_kind <- strsplit(unname(metadata["rmlx.rng_kind"]), ",", fixed = TRUE)[[1]]
  do.call(RNGkind, as.list(rng_kind))
  assign(".Random.seed", as.integer(as.array(arrays[["random.r_seed"]])),
         envir = globalenv())
  reseed_mlx_from_r()
  user <- metadata[!startsWith(names(metadata), "rmlx.") & names(metadata) != "format"]
  invisible(user)
}

check_train_step <- function(x, arg = rlang::caller_arg(x),
                             call = rlang::caller_env()) {
  if (!inherits(x, "mlx_train_step")) {
    received <- describe_value(x)
    abort_invalid("{.arg {arg}} must be a training step from {.fn mlx_train_step}.",
                  "You supplied {received}.", call)
  }
  invisible(x)
}

train_step_ptr <- function(step) get("ptr", envir = environment(step))
