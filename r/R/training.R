# Called from C++ by value_and_grad and the training step.
call_r_loss <- function(fn, module, args) {
  out <- do.call(fn, c(list(module), args))
  as_array_list(out, "The loss function", first = ", the loss first")
}

# Converts one batch argument to an MLX array: a factor becomes its 1-based
# integer codes, the class labels the losses expect.
as_batch_array <- function(x) {
  if (inherits(x, "mlx_array")) {
    return(x)
  }
  if (is.factor(x)) {
    return(as_mlx(as.integer(x)))
  }
  as_mlx(x)
}

check_loss_fn <- function(fn, call = rlang::caller_env()) {
  if (!is.function(fn)) {
    received <- describe_value(fn)
    abort_invalid("{.arg fn} must be a function of the module and the data.",
                  "You supplied {received}.", call)
  }
}

#' Loss and gradients of a module
#'
#' Returns a function that calls `fn(module, ...)` and returns its value
#' together with the gradients of that value with respect to the module's
#' trainable parameters, as `mlx.nn.value_and_grad(model, fn)` does in MLX
#' Python.
#'
#' @param module An MLX module.
#' @param fn A function `fn(module, ...)` returning a scalar MLX array (the
#'   loss), or a list whose first element is the loss.
#' @param threads Number of parts to split each batch into, so that they run
#'   side by side on that many CPU threads (see *Split batches*), at most
#'   256. The default, 1, runs the batch whole. [mlx_num_threads()] gives
#'   the number of processors available.
#' @param reduction How `fn` combines the losses of the batch's examples:
#'   `"mean"` (the default) or `"sum"`. Used only with `threads` above 1.
#' @section Split batches:
#' With `threads = k` above 1, every argument in `...` must have the batch's
#' examples along its first axis (in R, its first dimension): each is cut
#' into `k` parts of nearly equal size, `fn` is traced on each part on its
#' own CPU stream, and MLX runs the parts' forward and backward passes at the
#' same time, one thread each, with OpenBLAS on `mlx_num_threads() / k`
#' threads. The loss and the gradients are the parts' values weighted by
#' their sizes (`reduction = "mean"`) or summed (`"sum"`); other scalar
#' outputs of `fn` are combined the same way, and non-scalar ones are
#' concatenated along their first axis. An integer or logical scalar
#' output comes back as a float32 weighted mean with `reduction = "mean"`.
#'
#' That equals the whole batch's result, up to rounding, only when the loss
#' is a mean or sum over independent examples. A model with a batch
#' normalization layer in training mode is refused, because its statistics
#' would come from each part; losses that compare examples with each other
#' give different values. Arrays that are not per example, such as an
#' attention mask, belong in the closure `fn`, not in `...`. Random layers
#' (dropout) draw different numbers than the unsplit batch. The results
#' come back evaluated.
#' @return A function of `...` returning `list(value, grads)`: the value of
#'   `fn` and a list of gradients named by dotted parameter names.
#' @examples
#' model <- mlx_linear(2, 1)
#' loss <- function(model, x, y) mlx_mse_loss(mlx_forward(model, x), y)
#' vg <- mlx_value_and_grad(model, loss)
#' out <- vg(matrix(1, 4, 2), matrix(0, 4, 1))
#' out$value
#' names(out$grads)
#'
#' # The same loss and gradients, from two halves run side by side.
#' vg2 <- mlx_value_and_grad(model, loss, threads = 2)
#' vg2(matrix(1, 4, 2), matrix(0, 4, 1))$value
#' @export
mlx_value_and_grad <- function(module, fn, threads = 1L,
                               reduction = c("mean", "sum")) {
  check_module(module)
  check_loss_fn(fn)
  check_count(threads, min = 1, max = max_batch_parts_())
  reduction <- rlang::arg_match(reduction)
  function(...) {
    args <- lapply(list(...), function(x) {
      if (is.factor(x) || is.numeric(x) || is.logical(x)) as_batch_array(x) else x
    })
    if (threads > 1) {
      check_split_args(args)
    }
    collect_array_garbage("mlx_value_and_grad")
    out <- with_cpp_errors(
      value_and_grad_(module, fn, args, as.integer(threads), reduction)
    )
    value <- if (length(out[[1]]) == 1) out[[1]][[1]] else out[[1]]
    list(value = value, grads = out[[2]])
  }
}

# With a split batch, every argument must be an array of examples.
check_split_args <- function(args, call = rlang::caller_env()) {
  for (i in seq_along(args)) {
    if (!inherits(args[[i]], "mlx_array")) {
      received <- describe_value(args[[i]])
      abort_invalid(
        "With {.arg threads} above 1, argument {i} of the batch must be an array of examples.",
        "You supplied {received}. Capture other values in {.arg fn}.",
        call
      )
    }
  }
}

#' Number of processors available to MLX's CPU kernels
#'
#' The processors this R process may run on, as `taskset` and cgroup CPU
#' sets restrict them, or the `RMLX_NUM_THREADS` environment variable when
#' it is a positive number at the first call. Rmlx's own CPU kernels use up
#' to this many threads; it is also the natural `threads` of
#' [mlx_train_step()] and [mlx_value_and_grad()].
#'
#' @return A whole number, at least 1.
#' @examples
#' mlx_num_threads()
#' @export
mlx_num_threads <- function() {
  mlx_num_threads_()
}

#' A training step
#'
#' Returns a function that runs one training step on a batch: the loss
#' `fn(module, ...)`, its gradients and the optimizer's update. With
#' `compile = TRUE` the step is compiled with MLX's `compile` on its first
#' call: afterwards `fn` is not entered again (until the batch's shapes or
#' dtypes, the training mode or the frozen parameters change), so a step
#' costs no R-level work. The loss must then be built from MLX operations
#' only: it must not convert arrays back to R.
#'
#' @param module An MLX module.
#' @param optimizer An optimizer.
#' @param fn A function `fn(module, ...)` returning the scalar loss (or a
#'   list, the loss first). Data that changes between steps must come in
#'   through `...`: arrays captured from the enclosing environment are
#'   frozen into the compiled step.
#' @param compile If `TRUE` (the default), compile the step.
#' @param group For data-parallel training: a group from
#'   [mlx_distributed_init()], or `NULL` (the default) for none. With a
#'   group of more than one process, each step averages the gradients over
#'   the group with [mlx_average_gradients()] before the update, so every
#'   process ends each step with the same parameters (when they started
#'   with the same ones, e.g. from the same [set.seed()]). Every process
#'   must then run the same number of steps on batches of the same shapes;
#'   [mlx_batches()] with `group` makes them. The returned loss is this
#'   process's own.
#' @param all_reduce_size Bytes per gradient reduction; see
#'   [mlx_average_gradients()]. Default: 32 MiB.
#' @param threads Number of parts to split each batch into, run side by side
#'   on that many CPU threads, as [mlx_value_and_grad()] describes under
#'   *Split batches*; with a `group`, each process splits its own share.
#'   At most 256; the default, 1, runs the batch whole.
#' @param reduction How `fn` combines the losses of the batch's examples,
#'   `"mean"` (the default) or `"sum"`, for `threads` above 1.
#' @section Labels:
#' The step converts its R arguments to MLX arrays before `fn` sees them
#' (a factor becomes its 1-based codes), so the range checks that
#' [mlx_cross_entropy()] and [mlx_nll_loss()] apply to R data do not run: a
#' label outside `[1, C]` gives a `NaN` loss for its sample, with a zero
#' gradient, and a fractional label is truncated. Check labels once, before training, or
#' pass a factor whose levels are the classes.
#' @return A function of the batch (MLX or R arrays) returning the loss, an
#'   evaluated MLX array; the module's parameters and the optimizer's state
#'   are updated and evaluated too.
#' @examples
#' model <- mlx_linear(2, 1)
#' opt <- mlx_optimizer_sgd(learning_rate = 0.1)
#' loss <- function(model, x, y) mlx_mse_loss(mlx_forward(model, x), y)
#' step <- mlx_train_step(model, opt, loss)
#' x <- as_mlx(matrix(rnorm(8), 4, 2))
#' y <- as_mlx(matrix(0, 4, 1))
#' for (i in 1:3) print(as.numeric(step(x, y)))
#' @export
mlx_train_step <- function(module, optimizer, fn, compile = TRUE,
                           group = NULL, all_reduce_size = 32 * 1024^2,
                           threads = 1L, reduction = c("mean", "sum")) {
  check_module(module)
  check_optimizer(optimizer)
  check_loss_fn(fn)
  check_bool(compile)
  if (!is.null(group)) {
    group <- check_group(group)
  }
  check_number(all_reduce_size)
  check_count(threads, min = 1, max = max_batch_parts_())
  reduction <- rlang::arg_match(reduction)
  sync_mlx_seed()
  ptr <- train_step_new_(module, optimizer$ptr, fn, compile, group$ptr,
                         all_reduce_size, as.integer(threads), reduction)
  step <- function(...) {
    batch <- lapply(list(...), as_batch_array)
    collect_array_garbage("mlx_train_step")
    rng_state$in_train_step <- TRUE
    on.exit(rng_state$in_train_step <- FALSE)
    out <- with_cpp_errors(train_step_call_(ptr, batch, TRUE))
    if (length(out) == 1) out[[1]] else out
  }
  structure(step, class = "mlx_train_step")
}

#' @export
print.mlx_train_step <- function(x, ...) {
  cat("<mlx_train_step>\n")
  invisible(x)
}
