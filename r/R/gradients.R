# Gradient utilities: clipping by global norm and gradient checkpointing.

#' Clip gradients by their global norm
#'
#' Scales all gradients by \eqn{\min(1, max\_norm / (norm + 10^{-6}))},
#' where \eqn{norm} is the L2 norm of all of them together, as MLX
#' Python's `clip_grad_norm` does. float16 gradients are squared and summed
#' in float32.
#'
#' @param grads A named list of MLX arrays, as [mlx_value_and_grad()]
#'   returns.
#' @param max_norm The largest norm to allow, a non-negative number.
#' @return `list(grads, total_norm)`: the scaled gradients under the same
#'   names, and the norm before clipping as an MLX scalar.
#' @examples
#' grads <- list(w = as_mlx(c(3, 4)))
#' out <- mlx_clip_grad_norm(grads, max_norm = 1)
#' as.array(out$total_norm)
#' as.array(out$grads$w)
#' @export
mlx_clip_grad_norm <- function(grads, max_norm) {
  if (!is.list(grads) || (length(grads) && is.null(names(grads))) ||
      !all(vapply(grads, inherits, logical(1), "mlx_array"))) {
    received <- describe_value(grads)
    abort_invalid("{.arg grads} must be a named list of MLX arrays.",
                  "You supplied {received}.", rlang::current_env())
  }
  check_number(max_norm)
  if (max_norm < 0) {
    abort_invalid("{.arg max_norm} must be non-negative.",
                  "You supplied {max_norm}.", rlang::current_env())
  }
  out <- with_cpp_errors(clip_grad_norm_(grads, max_norm))
  names(out) <- c("grads", "total_norm")
  out
}

#' Gradient checkpointing
#'
#' Wraps a module so that its intermediate activations are not stored for
#' the backward pass but recomputed there, which saves memory at the cost
#' of one more forward pass of the module. Outputs and gradients are
#' unchanged. The wrapped module becomes the child `"module"`, so its
#' parameter names gain the prefix `"module."`. Dropout inside draws the
#' same mask in the recomputation as in the forward pass.
#'
#' @param module An MLX module.
#' @return A module of type `Checkpoint`.
#' @examples
#' block <- mlx_sequential(mlx_linear(8, 32), mlx_relu(), mlx_linear(32, 8))
#' model <- mlx_sequential(mlx_checkpoint(block), mlx_linear(8, 1))
#' names(mlx_parameters(model))
#' @export
mlx_checkpoint <- function(module) {
  check_module(module)
  new_module_object(with_cpp_errors(nn_checkpoint_(module_ptr(module))))
}
