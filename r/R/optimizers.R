#' Optimizers
#'
#' The optimizers of MLX Python's `mlx.optimizers`, with the same arguments
#' and defaults. The state (momenta, step count) lives in C++, is created at
#' the first update as in MLX, and can be read with [mlx_optimizer_state()].
#'
#' - `mlx_optimizer_sgd()`: \eqn{v \leftarrow \mu v + (1 - \tau) g},
#'   \eqn{w \leftarrow w - \lambda v} (Nesterov: \eqn{w \leftarrow w -
#'   \lambda (g + \mu v)}); `weight_decay` adds \eqn{\delta w} to \eqn{g}.
#' - `mlx_optimizer_adam()`: Adam. Like MLX Python, and unlike PyTorch, it
#'   applies no bias correction unless `bias_correction = TRUE`.
#' - `mlx_optimizer_adamw()`: Adam with decoupled weight decay, \eqn{w
#'   \leftarrow w (1 - \lambda \delta)} before the Adam step.
#'
#' @param learning_rate The learning rate \eqn{\lambda}: a non-negative
#'   number.
#'   Required, as in MLX Python.
#' @param momentum Momentum \eqn{\mu}. Default: 0.
#' @param weight_decay Weight decay \eqn{\delta}. Default: 0 for SGD, 0.01
#'   for AdamW.
#' @param dampening Dampening \eqn{\tau} of the momentum. Default: 0.
#' @param nesterov Use Nesterov momentum (needs `momentum > 0` and no
#'   dampening). Default: `FALSE`.
#' @param betas Coefficients of the running averages of the gradient and its
#'   square. Default: `c(0.9, 0.999)`.
#' @param eps Added to the denominator. Default: `1e-8`.
#' @param bias_correction Apply Adam's bias correction. Default: `FALSE`.
#' @return An optimizer object.
#' @examples
#' model <- mlx_linear(2, 1)
#' opt <- mlx_optimizer_adam(learning_rate = 0.01)
#' loss <- function(model, x, y) mlx_mse_loss(mlx_forward(model, x), y)
#' vg <- mlx_value_and_grad(model, loss)
#' out <- vg(matrix(1, 4, 2), matrix(0, 4, 1))
#' mlx_optimizer_update(opt, model, out$grads)
#' @name optimizers
NULL

check_learning_rate <- function(learning_rate, call = rlang::caller_env()) {
  if (missing(learning_rate)) {
    abort_invalid("{.arg learning_rate} is required.",
                  "It has no default, as in MLX Python.", call)
  }
  if (!is.numeric(learning_rate) || length(learning_rate) != 1 ||
      !is.finite(learning_rate) || learning_rate < 0) {
    received <- describe_value(learning_rate)
    abort_invalid("{.arg learning_rate} must be a non-negative number.",
                  "You supplied {received}.", call)
  }
}

check_betas <- function(betas, call = rlang::caller_env()) {
  if (!is.numeric(betas) || length(betas) != 2 || anyNA(betas) ||
      any(betas < 0) || any(betas >= 1)) {
    received <- describe_value(betas)
    abort_invalid("{.arg betas} must be two numbers in [0, 1).",
                  "You supplied {received}.", call)
  }
}

new_optimizer <- function(ptr, name, settings) {
  structure(
    list(ptr = ptr, settings = settings),
    class = c(paste0("mlx_optimizer_", name), "mlx_optimizer")
  )
}

#' @rdname optimizers
#' @export
mlx_optimizer_sgd <- function(learning_rate, momentum = 0, weight_decay = 0,
                              dampening = 0, nesterov = FALSE) {
  check_learning_rate(learning_rate)
  check_number(momentum)
  check_number(weight_decay)
  check_number(dampening)
  check_bool(nesterov)
  new_optimizer(
    with_cpp_errors(optimizer_sgd_(learning_rate, momentum, weight_decay, dampening, nesterov)),
    "sgd",
    list(learning_rate = learning_rate, momentum = momentum,
         weight_decay = weight_decay, dampening = dampening,
         nesterov = nesterov)
  )
}

#' @rdname optimizers
#' @export
mlx_optimizer_adam <- function(learning_rate, betas = c(0.9, 0.999),
                               eps = 1e-8, bias_correction = FALSE) {
  check_learning_rate(learning_rate)
  check_betas(betas)
  check_number(eps)
  check_bool(bias_correction)
  new_optimizer(
    with_cpp_errors(optimizer_adam_(learning_rate, betas, eps, bias_correction)),
    "adam",
    list(learning_rate = learning_rate, betas = betas, eps = eps,
         bias_correction = bias_correction)
  )
}

#' @rdname optimizers
#' @export
mlx_optimizer_adamw <- function(learning_rate, betas = c(0.9, 0.999),
                                eps = 1e-8, weight_decay = 0.01,
                                bias_correction = FALSE) {
  check_learning_rate(learning_rate)
  check_betas(betas)
  check_number(eps)
  check_number(weight_decay)
  check_bool(bias_correction)
  new_optimizer(
    with_cpp_errors(optimizer_adamw_(learning_rate, betas, eps, weight_decay, bias_correction)),
    "adamw",
    list(learning_rate = learning_rate, betas = betas, eps = eps,
         weight_decay = weight_decay, bias_correction = bias_correction)
  )
}

check_optimizer <- function(x, arg = rlang::caller_arg(x),
                            call = rlang::caller_env()) {
  if (!inherits(x, "mlx_optimizer")) {
    received <- describe_value(x)
    abort_invalid("{.arg {arg}} must be an MLX optimizer.",
                  "You supplied {received}.", call)
  }
}

#' @export
print.mlx_optimizer <- function(x, ...) {
  settings <- vapply(x$settings, function(v) paste(format(v), collapse = ", "), "")
  cat(sprintf("<mlx_optimizer> %s\n", optimizer_type_(x$ptr)))
  cat(paste0("  ", names(settings), ": ", settings, collapse = "\n"), "\n", sep = "")
  invisible(x)
}

#' Update a module with an optimizer
#'
#' Applies one optimizer step to the parameters named in `grads`, as
#' `optimizer.update(model, grads)` does in MLX Python.
#'
#' @param optimizer An optimizer from [mlx_optimizer_sgd()] and friends.
#' @param module The MLX module to update.
#' @param grads A named list of gradients (MLX arrays) covering all or some
#'   of the parameters, as returned by [mlx_value_and_grad()].
#' @return The module, invisibly.
#' @examples
#' model <- mlx_linear(2, 1)
#' opt <- mlx_optimizer_sgd(learning_rate = 0.1)
#' grads <- list(bias = as_mlx(1))
#' mlx_optimizer_update(opt, model, grads)
#' @export
mlx_optimizer_update <- function(optimizer, module, grads) {
  check_optimizer(optimizer)
  check_module(module)
  if (!is.list(grads) || (length(grads) && is.null(names(grads)))) {
    received <- describe_value(grads)
    abort_invalid("{.arg grads} must be a list named by parameter names.",
                  "You supplied {received}.", rlang::current_env())
  }
  with_cpp_errors(optimizer_update_(optimizer$ptr, module_ptr(module), grads))
  invisible(module)
}

#' Optimizer state
#'
#' `mlx_optimizer_state()` returns the state as MLX arrays: `step` (0 before
#' the first update, as MLX counts), `learning_rate` and each parameter's
#' arrays as `"<parameter>.<name>"` (e.g. `"layers.0.weight.m"`).
#' `mlx_optimizer_set_state()` restores such a list, so a training run
#' resumes exactly; save it with [mlx_save_safetensors()]. The state is not
#' checked against a model here: a state of another model fails at the next
#' update.
#'
#' @param optimizer An optimizer.
#' @param state A named list as returned by `mlx_optimizer_state()`.
#' @return `mlx_optimizer_state()`: a named list of MLX arrays.
#' @examples
#' opt <- mlx_optimizer_adam(learning_rate = 1e-3)
#' names(mlx_optimizer_state(opt))
#' @export
mlx_optimizer_state <- function(optimizer) {
  check_optimizer(optimizer)
  optimizer_state_(optimizer$ptr)
}

#' @rdname mlx_optimizer_state
#' @export
mlx_optimizer_set_state <- function(optimizer, state) {
  check_optimizer(optimizer)
  if (!is.list(state) || is.null(names(state)) ||
      !all(vapply(state, inherits, logical(1), "mlx_array"))) {
    received <- describe_value(state)
    abort_invalid(
      "{.arg state} must be a named list of MLX arrays from {.fn mlx_optimizer_state}.",
      "You supplied {received}.", rlang::current_env()
    )
  }
  with_cpp_errors(optimizer_set_state_(optimizer$ptr, state))
  invisible(optimizer)
}
