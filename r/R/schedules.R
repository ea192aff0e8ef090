# Learning-rate schedules: R functions of the step count that the
# optimizers also run in C++.

#' Learning-rate schedules
#'
#' The schedules of MLX Python's `mlx.optimizers`. Each returns a function
#' of the step count (0 before the first update, as MLX counts) with class
#' `mlx_schedule`, which any optimizer takes as its `learning_rate`. The
#' optimizer evaluates it in C++ before each step, so calling it from R
#' gives the float32 values the optimizer uses.
#'
#' - `mlx_exponential_decay()`: \eqn{init \cdot decay\_rate^{step}}.
#' - `mlx_step_decay()`: \eqn{init \cdot decay\_rate^{\lfloor step /
#'   step\_size \rfloor}}.
#' - `mlx_cosine_decay()`: from `init` to `end` along half a cosine over
#'   `decay_steps` steps, then constant at `end`.
#' - `mlx_linear_schedule()`: from `init` to `end` in `steps` steps, then
#'   constant at `end`.
#' - `mlx_join_schedules()`: `schedules[[1]]` before `boundaries[1]`, then
#'   `schedules[[2]]` on the steps counted from `boundaries[1]`, and so on;
#'   for example a linear warm-up followed by a cosine decay.
#'
#' @param init The value at step 0.
#' @param decay_rate The factor applied per step (per `step_size` steps
#'   for `mlx_step_decay()`).
#' @param step_size Steps between decays, at least 1.
#' @param decay_steps Steps of the decay, at least 1.
#' @param end The final value. Default: 0.
#' @param steps Steps of the linear change, at least 1.
#' @param schedules A list of schedules.
#' @param boundaries Non-decreasing, non-negative whole numbers, one fewer
#'   than `schedules`.
#' @return A function `f(step)` of class `mlx_schedule` that returns the
#'   rate at each step of a vector of non-negative whole numbers.
#' @examples
#' warmup <- mlx_linear_schedule(0, 1e-3, steps = 100)
#' cosine <- mlx_cosine_decay(1e-3, decay_steps = 900, end = 1e-5)
#' lr <- mlx_join_schedules(list(warmup, cosine), boundaries = 100)
#' lr(c(0, 50, 100, 1000))
#' opt <- mlx_optimizer_adamw(learning_rate = lr)
#' plot(lr, steps = 0:1000)
#' @name schedules
NULL

new_schedule <- function(spec, call = rlang::caller_env()) {
  # Builds the C++ schedule once, so that invalid arguments fail here.
  with_cpp_errors(schedule_values_(spec, 0), call = call)
  fn <- function(step) {
    if (!is.numeric(step) || anyNA(step) || any(step < 0) ||
        any(step != floor(step))) {
      received <- describe_value(step)
      abort_invalid("{.arg step} must be non-negative whole numbers.",
                    "You supplied {received}.", rlang::current_env())
    }
    schedule_values_(spec, as.numeric(step))
  }
  attr(fn, "spec") <- spec
  class(fn) <- c("mlx_schedule", "function")
  fn
}

schedule_spec <- function(schedule) attr(schedule, "spec")

check_whole <- function(x, arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  if (!is.numeric(x) || length(x) != 1 || !is.finite(x) || x != floor(x)) {
    received <- describe_value(x)
    abort_invalid("{.arg {arg}} must be a whole number.",
                  "You supplied {received}.", call)
  }
}

#' @rdname schedules
#' @export
mlx_exponential_decay <- function(init, decay_rate) {
  check_number(init)
  check_number(decay_rate)
  new_schedule(list(kind = "exponential_decay", init = init, decay_rate = decay_rate))
}

#' @rdname schedules
#' @export
mlx_step_decay <- function(init, decay_rate, step_size) {
  check_number(init)
  check_number(decay_rate)
  check_whole(step_size)
  new_schedule(list(kind = "step_decay", init = init, decay_rate = decay_rate,
                    step_size = step_size))
}

#' @rdname schedules
#' @export
mlx_cosine_decay <- function(init, decay_steps, end = 0) {
  check_number(init)
  check_whole(decay_steps)
  check_number(end)
  new_schedule(list(kind = "cosine_decay", init = init,
                    decay_steps = decay_steps, end = end))
}

#' @rdname schedules
#' @export
mlx_linear_schedule <- function(init, end, steps) {
  check_number(init)
  check_number(end)
  check_whole(steps)
  new_schedule(list(kind = "linear_schedule", init = init, end = end, steps = steps))
}

#' @rdname schedules
#' @export
mlx_join_schedules <- function(schedules, boundaries) {
  if (!is.list(schedules) ||
      !all(vapply(schedules, inherits, logical(1), "mlx_schedule"))) {
    received <- describe_value(schedules)
    abort_invalid("{.arg schedules} must be a list of schedules.",
                  "You supplied {received}.", rlang::current_env())
  }
  if (!is.numeric(boundaries) || anyNA(boundaries) ||
      any(boundaries != floor(boundaries))) {
    received <- describe_value(boundaries)
    abort_invalid("{.arg boundaries} must be whole numbers.",
                  "You supplied {received}.", rlang::current_env())
  }
  new_schedule(list(kind = "join_schedules",
                    schedules = lapply(schedules, schedule_spec),
                    boundaries = as.numeric(boundaries)))
}

format_spec <- function(spec) {
  args <- spec[setdiff(names(spec), "kind")]
  if (spec$kind == "join_schedules") {
    parts <- vapply(args$schedules, format_spec, "")
    bounds <- paste(args$boundaries, collapse = ", ")
    return(sprintf("join_schedules(list(%s), boundaries = c(%s))",
                   paste(parts, collapse = ", "), bounds))
  }
  values <- vapply(args, function(v) format(v), "")
  sprintf("%s(%s)", spec$kind, paste(names(args), "=", values, collapse = ", "))
}

#' @export
format.mlx_schedule <- function(x, ...) {
  format_spec(schedule_spec(x))
}

#' @export
print.mlx_schedule <- function(x, ...) {
  cat("<mlx_schedule> ", format(x), "\n", sep = "")
  invisible(x)
}

#' Plot a learning-rate schedule
#'
#' Draws the rate against the step with base graphics.
#'
#' @param x A schedule from [mlx_cosine_decay()] and friends.
#' @param steps The steps to draw. Default: `0:100`.
#' @param ... Passed on to [plot()], e.g. `main` or `col`.
#' @return `x`, invisibly.
#' @examples
#' plot(mlx_step_decay(0.1, 0.5, step_size = 10), steps = 0:50)
#' @export
plot.mlx_schedule <- function(x, steps = 0:100, ...) {
  args <- list(...)
  defaults <- list(type = "l", xlab = "step", ylab = "learning rate",
                   main = format(x))
  args <- c(list(steps, x(steps)), utils::modifyList(defaults, args))
  do.call(graphics::plot, args)
  invisible(x)
}
