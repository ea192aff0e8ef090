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
#' - `mlx_optimizer_rmsprop()`: \eqn{v \leftarrow \alpha v + (1 - \alpha)
#'   g^2}, \eqn{w \leftarrow w - \lambda g / (\sqrt{v} + \epsilon)}.
#' - `mlx_optimizer_adagrad()`: \eqn{v \leftarrow v + g^2}, the same step.
#' - `mlx_optimizer_adadelta()`: AdaDelta with a learning rate.
#' - `mlx_optimizer_adamax()`: Adam with the infinity norm, \eqn{v
#'   \leftarrow \max(\beta_2 v, |g|)}, without bias correction.
#' - `mlx_optimizer_lion()`: \eqn{w \leftarrow w (1 - \lambda \delta) -
#'   \lambda\,\mathrm{sign}(\beta_1 m + (1 - \beta_1) g)}.
#' - `mlx_optimizer_muon()`: momentum whose update is orthogonalized by
#'   `ns_steps` Newton-Schulz iterations for parameters with two or more
#'   dimensions; 0-D and 1-D parameters take the plain momentum update.
#'   MLX recommends another optimizer for embeddings, the output layer and
#'   1-D parameters (see [mlx_optimizer_multi()]).
#' - `mlx_optimizer_adafactor()`: Adafactor, with factored second moments
#'   for parameters of two or more dimensions. With `relative_step = TRUE`
#'   (the default) the step size is \eqn{\min(10^{-2}, 1/\sqrt{t})} and
#'   `learning_rate` is ignored.
#'
#' Options that MLX Python accepts but that break the update are errors
#' here: `alpha` or `rho` above 1, a negative Lion or Muon weight decay,
#' Adafactor without a learning rate when `relative_step = FALSE`, and
#' Adafactor's `decay_rate > 0` or `clip_threshold <= 0`.
#'
#' @param learning_rate The learning rate \eqn{\lambda}: a non-negative
#'   number or a schedule such as [mlx_cosine_decay()]. Required, as in MLX
#'   Python, except for Adafactor, where `NULL` (the default) means none.
#' @param momentum Momentum \eqn{\mu}. Default: 0 for SGD, 0.95 for Muon.
#' @param weight_decay Weight decay \eqn{\delta}. Default: 0.01 for AdamW
#'   and Muon, 0 otherwise.
#' @param dampening Dampening \eqn{\tau} of the momentum. Default: 0.
#' @param nesterov Use Nesterov momentum. SGD needs `momentum > 0` and no
#'   dampening for it. Default: `FALSE` for SGD, `TRUE` for Muon.
#' @param betas Coefficients of the running averages of the gradient and its
#'   square. Default: `c(0.9, 0.999)`, for Lion `c(0.9, 0.99)`.
#' @param eps Added to the denominator. Default: `1e-8`, for AdaDelta
#'   `1e-6`. For Adafactor two numbers: the one added to \eqn{g^2} and the
#'   floor of the parameter scale, default `c(1e-30, 1e-3)`.
#' @param bias_correction Apply Adam's bias correction. Default: `FALSE`.
#' @param alpha Smoothing constant of RMSprop, in \[0, 1\]. Default: 0.99.
#' @param rho Decay of AdaDelta's running averages, in \[0, 1\]. Default:
#'   0.9.
#' @param ns_steps Muon's number of Newton-Schulz iterations. Default: 5.
#' @param clip_threshold Adafactor clips the update's root mean square to
#'   this. Default: 1.
#' @param decay_rate Adafactor's \eqn{\beta_2} at step \eqn{t} is \eqn{1 -
#'   t^{decay\_rate}}. Default: -0.8.
#' @param beta_1 Adafactor's first-moment coefficient, or `NULL` (the
#'   default) for none.
#' @param scale_parameter Scale Adafactor's step by the parameter's root
#'   mean square. Default: `TRUE`.
#' @param relative_step Use Adafactor's relative step size. Default: `TRUE`.
#' @param warmup_init With `relative_step`, start the step size at
#'   \eqn{10^{-6} t}. Default: `FALSE`.
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
  if (inherits(learning_rate, "mlx_schedule")) {
    return(invisible())
  }
  if (!is.numeric(learning_rate) || length(learning_rate) != 1 ||
      !is.finite(learning_rate) || learning_rate < 0) {
    received <- describe_value(learning_rate)
    abort_invalid(paste("{.arg learning_rate} must be a non-negative number or",
                        "a schedule such as {.fn mlx_cosine_decay}."),
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

# The learning rate as the bindings take it: a number or a schedule's
# description list.
learning_rate_arg <- function(learning_rate) {
  if (inherits(learning_rate, "mlx_schedule")) {
    return(schedule_spec(learning_rate))
  }
  learning_rate
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
    with_cpp_errors(optimizer_sgd_(learning_rate_arg(learning_rate), momentum, weight_decay, dampening, nesterov)),
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
    with_cpp_errors(optimizer_adam_(learning_rate_arg(learning_rate), betas, eps, bias_correction)),
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
    with_cpp_errors(optimizer_adamw_(learning_rate_arg(learning_rate), betas, eps, weight_decay, bias_correction)),
    "adamw",
    list(learning_rate = learning_rate, betas = betas, eps = eps,
         weight_decay = weight_decay, bias_correction = bias_correction)
  )
}

#' @rdname optimizers
#' @export
mlx_optimizer_rmsprop <- function(learning_rate, alpha = 0.99, eps = 1e-8) {
  check_learning_rate(learning_rate)
  check_number(alpha)
  check_number(eps)
  new_optimizer(
    with_cpp_errors(optimizer_rmsprop_(learning_rate_arg(learning_rate), alpha, eps)),
    "rmsprop", list(learning_rate = learning_rate, alpha = alpha, eps = eps)
  )
}

#' @rdname optimizers
#' @export
mlx_optimizer_adagrad <- function(learning_rate, eps = 1e-8) {
  check_learning_rate(learning_rate)
  check_number(eps)
  new_optimizer(
    with_cpp_errors(optimizer_adagrad_(learning_rate_arg(learning_rate), eps)),
    "adagrad", list(learning_rate = learning_rate, eps = eps)
  )
}

#' @rdname optimizers
#' @export
mlx_optimizer_adadelta <- function(learning_rate, rho = 0.9, eps = 1e-6) {
  check_learning_rate(learning_rate)
  check_number(rho)
  check_number(eps)
  new_optimizer(
    with_cpp_errors(optimizer_adadelta_(learning_rate_arg(learning_rate), rho, eps)),
    "adadelta", list(learning_rate = learning_rate, rho = rho, eps = eps)
  )
}

#' @rdname optimizers
#' @export
mlx_optimizer_adamax <- function(learning_rate, betas = c(0.9, 0.999),
                                 eps = 1e-8) {
  check_learning_rate(learning_rate)
  check_betas(betas)
  check_number(eps)
  new_optimizer(
    with_cpp_errors(optimizer_adamax_(learning_rate_arg(learning_rate), betas, eps)),
    "adamax", list(learning_rate = learning_rate, betas = betas, eps = eps)
  )
}

#' @rdname optimizers
#' @export
mlx_optimizer_lion <- function(learning_rate, betas = c(0.9, 0.99),
                               weight_decay = 0) {
  check_learning_rate(learning_rate)
  check_betas(betas)
  check_number(weight_decay)
  new_optimizer(
    with_cpp_errors(optimizer_lion_(learning_rate_arg(learning_rate), betas, weight_decay)),
    "lion", list(learning_rate = learning_rate, betas = betas,
                 weight_decay = weight_decay)
  )
}

#' @rdname optimizers
#' @export
mlx_optimizer_muon <- function(learning_rate, momentum = 0.95,
                               weight_decay = 0.01, nesterov = TRUE,
                               ns_steps = 5) {
  check_learning_rate(learning_rate)
  check_number(momentum)
  check_number(weight_decay)
  check_bool(nesterov)
  check_count(ns_steps)
  new_optimizer(
    with_cpp_errors(optimizer_muon_(learning_rate_arg(learning_rate), momentum,
                                    weight_decay, nesterov, as.integer(ns_steps))),
    "muon", list(learning_rate = learning_rate, momentum = momentum,
                 weight_decay = weight_decay, nesterov = nesterov,
                 ns_steps = ns_steps)
  )
}

#' @rdname optimizers
#' @export
mlx_optimizer_adafactor <- function(learning_rate = NULL, eps = c(1e-30, 1e-3),
                                    clip_threshold = 1, decay_rate = -0.8,
                                    beta_1 = NULL, weight_decay = 0,
                                    scale_parameter = TRUE,
                                    relative_step = TRUE,
                                    warmup_init = FALSE) {
  if (!is.null(learning_rate)) check_learning_rate(learning_rate)
  if (!is.numeric(eps) || length(eps) != 2 || anyNA(eps)) {
    received <- describe_value(eps)
    abort_invalid("{.arg eps} must be two numbers.",
                  "You supplied {received}.", rlang::current_env())
  }
  check_number(clip_threshold)
  check_number(decay_rate)
  if (!is.null(beta_1)) check_number(beta_1)
  check_number(weight_decay)
  check_bool(scale_parameter)
  check_bool(relative_step)
  check_bool(warmup_init)
  rate <- if (is.null(learning_rate)) NULL else learning_rate_arg(learning_rate)
  new_optimizer(
    with_cpp_errors(optimizer_adafactor_(
      rate, eps, clip_threshold, decay_rate, beta_1, weight_decay,
      scale_parameter, relative_step, warmup_init
    )),
    "adafactor",
    list(learning_rate = if (is.null(learning_rate)) "none" else learning_rate,
         eps = eps, clip_threshold = clip_threshold, decay_rate = decay_rate,
         beta_1 = if (is.null(beta_1)) "none" else beta_1,
         weight_decay = weight_decay, scale_parameter = scale_parameter,
         relative_step = relative_step, warmup_init = warmup_init)
  )
}

#' A different optimizer for each group of parameters
#'
#' Sends each gradient to the first optimizer whose filter accepts the
#' parameter's dotted name, and the rest to the last optimizer, as MLX
#' Python's `MultiOptimizer` does. Each optimizer keeps its own state and
#' step count; [mlx_optimizer_state()] names them `"states.<i>.<name>"`
#' with `i` counted from 0.
#'
#' @param optimizers A list of optimizers. They are shared, not copied: do
#'   not update them on their own as well.
#' @param filters A list with one filter fewer than `optimizers`. A filter
#'   is a regular expression matched against the parameter name, or a
#'   function of the name that returns `TRUE` or `FALSE`.
#' @return An optimizer object.
#' @examples
#' model <- mlx_sequential(mlx_linear(2, 4), mlx_linear(4, 1))
#' opt <- mlx_optimizer_multi(
#'   list(mlx_optimizer_adamw(learning_rate = 1e-3),
#'        mlx_optimizer_muon(learning_rate = 0.02)),
#'   list("bias$")
#' )
#' @export
mlx_optimizer_multi <- function(optimizers, filters = list()) {
  if (!is.list(optimizers) || length(optimizers) == 0 ||
      !all(vapply(optimizers, inherits, logical(1), "mlx_optimizer"))) {
    received <- describe_value(optimizers)
    abort_invalid("{.arg optimizers} must be a non-empty list of optimizers.",
                  "You supplied {received}.", rlang::current_env())
  }
  if (is.character(filters)) filters <- as.list(filters)
  if (!is.list(filters) || length(filters) != length(optimizers) - 1) {
    received <- describe_value(filters)
    abort_invalid(
      "{.arg filters} must be a list of {length(optimizers) - 1} filter{?s}, one fewer than the optimizers.",
      "You supplied {received}.", rlang::current_env()
    )
  }
  filters <- lapply(filters, function(filter) {
    if (is.character(filter) && length(filter) == 1 && !is.na(filter)) {
      pattern <- filter
      return(function(name) grepl(pattern, name))
    }
    if (!is.function(filter)) {
      received <- describe_value(filter)
      abort_invalid("Each filter must be a regular expression or a function.",
                    "You supplied {received}.", rlang::caller_env(2))
    }
    filter
  })
  ptrs <- lapply(optimizers, `[[`, "ptr")
  new_optimizer(
    with_cpp_errors(optimizer_multi_(ptrs, filters)),
    "multi",
    list(optimizers = vapply(optimizers, function(o) optimizer_type_(o$ptr), ""))
  )
}

# Runs a MultiOptimizer filter on a parameter name; called from C++.
call_r_filter <- function(fn, name) {
  out <- fn(name)
  if (!is.logical(out) || length(out) != 1 || is.na(out)) {
    abort_invalid("A filter of {.fn mlx_optimizer_multi} must return TRUE or FALSE.",
                  "It returned {describe_value(out)} for {.val {name}}.",
                  rlang::current_env())
  }
  out
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

#' Save and load an optimizer's state
#'
#' `mlx_optimizer_save()` writes [mlx_optimizer_state()] to a safetensors
#' file, and `mlx_optimizer_load()` restores it into an optimizer created
#' with the same arguments. A run that saves its model and optimizer, then
#' loads both and continues, gives the same parameters as a run without the
#' interruption.
#'
#' @param optimizer An optimizer.
#' @param path Path of the `.safetensors` file.
#' @return The optimizer, invisibly.
#' @examples
#' opt <- mlx_optimizer_adam(learning_rate = 1e-3)
#' path <- tempfile(fileext = ".safetensors")
#' mlx_optimizer_save(opt, path)
#' mlx_optimizer_load(mlx_optimizer_adam(learning_rate = 1e-3), path)
#' @export
mlx_optimizer_save <- function(optimizer, path) {
  check_optimizer(optimizer)
  check_string(path)
  mlx_save_safetensors(mlx_optimizer_state(optimizer), path)
  invisible(optimizer)
}

#' @rdname mlx_optimizer_save
#' @export
mlx_optimizer_load <- function(optimizer, path) {
  check_optimizer(optimizer)
  check_string(path)
  mlx_optimizer_set_state(optimizer, mlx_load_safetensors(path))
}
