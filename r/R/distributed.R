# Groups of processes and collective operations on MLX's distributed engine.
# Ranks are 0-based, as MLX_RANK, MPI and mlx.launch number them.

# The groups that mlx_distributed_init() has joined, by backend, so that
# `group = NULL` does not join again.
distributed_state <- new.env(parent = emptyenv())

# The join timeout that mlx_distributed_init() uses by default: the
# RMLX_DISTRIBUTED_TIMEOUT environment variable in seconds (the local
# launcher sets it), else 60 s.
default_join_timeout <- function() {
  value <- Sys.getenv("RMLX_DISTRIBUTED_TIMEOUT", "")
  seconds <- suppressWarnings(as.numeric(value))
  if (nzchar(value) && !is.na(seconds)) seconds else 60
}

#' Join a distributed group
#'
#' Joins the group of all processes of a distributed run on MLX's
#' distributed engine, as `mx.distributed.init()` does in MLX Python, and
#' returns it. The ring backend (TCP) reads its configuration from the
#' environment variables that [mlx_launch_local()] and MLX Python's
#' `mlx.launch` set: `MLX_RANK` (this process's 0-based rank) and
#' `MLX_HOSTFILE` (a JSON file listing each rank's `"ip:port"` addresses).
#' A process started without them, or where no backend is available, gets a
#' group of size 1 in which every collective operation returns its input, so
#' the same script runs alone and distributed.
#'
#' MLX's ring backend waits without limit for a rank that never starts.
#' `mlx_distributed_init()` therefore stops waiting after `timeout` seconds
#' with an error naming this rank. The process should then exit: the
#' waiting thread cannot be cancelled, so joining again in the same process
#' is not supported.
#'
#' @param backend `"any"` (the default: the ring backend when configured,
#'   then MPI), `"ring"`, `"mpi"` or `"nccl"` (CUDA builds of MLX only).
#'   The CPU build of MLX 0.32.4 on Linux contains only the ring backend.
#' @param strict If `TRUE`, raise an error when no backend can start instead
#'   of returning a group of size 1. Default: `FALSE`.
#' @param timeout Seconds to wait for the other ranks to join; `0` waits as
#'   long as MLX does. Default: the environment variable
#'   `RMLX_DISTRIBUTED_TIMEOUT`, else 60.
#' @return An object of class `mlx_group`.
#' @seealso [mlx_launch_local()] starts the processes of a run;
#'   [mlx_all_sum()] and [mlx_average_gradients()] communicate over a group.
#' @examples
#' group <- mlx_distributed_init()
#' mlx_group_rank(group)
#' mlx_group_size(group)
#' @export
mlx_distributed_init <- function(backend = c("any", "ring", "mpi", "nccl"),
                                 strict = FALSE,
                                 timeout = default_join_timeout()) {
  backend <- rlang::arg_match(backend)
  check_bool(strict)
  check_number(timeout)
  cached <- distributed_state[[backend]]
  if (!is.null(cached)) {
    return(cached)
  }
  call <- rlang::current_env()
  ptr <- tryCatch(
    distributed_init_(backend, strict, timeout),
    error = function(e) {
      cli::cli_abort(
        c("Joining the distributed group failed.", x = "{conditionMessage(e)}"),
        call = call, class = "rmlx_error_distributed"
      )
    }
  )
  group <- structure(
    list(ptr = ptr, backend = backend),
    class = "mlx_group"
  )
  distributed_state[[backend]] <- group
  group
}

#' Distributed backends available to MLX
#'
#' @param backend `"any"`, `"ring"`, `"mpi"` or `"nccl"`.
#' @return `TRUE` when this build of MLX contains the backend (for `"any"`:
#'   at least one backend). A backend that is available still needs its
#'   configuration, such as a host file, to start.
#' @examples
#' mlx_distributed_available("ring")
#' @export
mlx_distributed_available <- function(backend = c("any", "ring", "mpi", "nccl")) {
  backend <- rlang::arg_match(backend)
  distributed_available_(backend)
}

check_group <- function(group, arg = rlang::caller_arg(group),
                        call = rlang::caller_env()) {
  if (is.null(group)) {
    return(mlx_distributed_init())
  }
  if (!inherits(group, "mlx_group")) {
    received <- describe_value(group)
    abort_invalid(
      "{.arg {arg}} must be an MLX group from {.fn mlx_distributed_init}, or NULL.",
      "You supplied {received}.",
      call
    )
  }
  group
}

#' Rank and size of a distributed group
#'
#' @param group A group from [mlx_distributed_init()], or `NULL` (the
#'   default) for the group that `mlx_distributed_init()` joins.
#' @return `mlx_group_rank()`: this process's 0-based rank.
#'   `mlx_group_size()`: the number of processes in the group.
#' @examples
#' mlx_group_rank()
#' mlx_group_size()
#' @export
mlx_group_rank <- function(group = NULL) {
  group <- check_group(group)
  with_cpp_errors(group_rank_(group$ptr))
}

#' @rdname mlx_group_rank
#' @export
mlx_group_size <- function(group = NULL) {
  group <- check_group(group)
  with_cpp_errors(group_size_(group$ptr))
}

#' @export
print.mlx_group <- function(x, ...) {
  cat(sprintf(
    "<mlx_group> rank %d of %d (backend \"%s\")\n",
    mlx_group_rank(x), mlx_group_size(x), x$backend
  ))
  invisible(x)
}

as_collective_input <- function(x, arg = rlang::caller_arg(x),
                                call = rlang::caller_env()) {
  if (inherits(x, "mlx_array")) {
    return(x)
  }
  if (is.numeric(x) || is.logical(x)) {
    return(as_mlx(x))
  }
  received <- describe_value(x)
  abort_invalid(
    "{.arg {arg}} must be an MLX array or an R numeric or logical array.",
    "You supplied {received}.",
    call
  )
}

check_peer_rank <- function(rank, group, arg = rlang::caller_arg(rank),
                            call = rlang::caller_env()) {
  size <- mlx_group_size(group)
  if (!is.numeric(rank) || length(rank) != 1 || !is.finite(rank) ||
    rank != trunc(rank) || rank < 0 || rank >= size ||
    rank == mlx_group_rank(group)) {
    received <- describe_value(rank)
    abort_invalid(
      "{.arg {arg}} must be the 0-based rank of another process of the group, from 0 to {size - 1}.",
      "You supplied {received} on rank {mlx_group_rank(group)}.",
      call
    )
  }
  invisible(rank)
}

#' Collective operations over a distributed group
#'
#' `mlx_all_sum()` returns the elementwise sum of `x` over all processes of
#' the group, and `mlx_all_gather()` the arrays of all processes
#' concatenated along their first axis, in rank order. Every process of the
#' group must call the same operation with an array of the same shape and
#' dtype. The result is lazy, like every MLX array: the communication
#' happens when it is evaluated. In a group of size 1 both return `x`.
#'
#' @param x An MLX array, or an R array or vector (converted with
#'   [as_mlx()]).
#' @param group A group from [mlx_distributed_init()], or `NULL` (the
#'   default) for the group that `mlx_distributed_init()` joins.
#' @return An MLX array.
#' @examples
#' x <- as_mlx(c(1, 2, 3))
#' mlx_all_sum(x)      # x itself in a single process
#' mlx_all_gather(x)
#' @export
mlx_all_sum <- function(x, group = NULL) {
  x <- as_collective_input(x)
  group <- check_group(group)
  with_cpp_errors(all_sum_(x, group$ptr))
}

#' @rdname mlx_all_sum
#' @export
mlx_all_gather <- function(x, group = NULL) {
  x <- as_collective_input(x)
  group <- check_group(group)
  if (length(mlx_shape(x)) == 0) {
    abort_invalid(
      "{.arg x} must have at least one axis to gather along.",
      "You supplied a 0-d array.",
      rlang::current_env()
    )
  }
  with_cpp_errors(all_gather_(x, group$ptr))
}

#' Send an array to another process, or receive one
#'
#' `mlx_send()` sends `x` to the process of rank `dst` and returns once the
#' data has been handed to the backend. `mlx_recv()` returns the array that
#' the process of rank `src` sends, which must have shape `dim` and type
#' `dtype`. Each `mlx_send()` needs a matching `mlx_recv()` on the
#' destination. The ring backend of MLX 0.32.4 connects each rank only to
#' its two neighbours, so it can send only to the previous and next rank
#' (modulo the group size).
#'
#' @param x An MLX array, or an R array or vector (converted with
#'   [as_mlx()]).
#' @param dst,src The 0-based rank of the other process.
#' @param dim Shape of the array to receive, in R's order.
#' @param dtype Type of the array to receive. Default: `"float32"`.
#' @param group A group from [mlx_distributed_init()], or `NULL` (the
#'   default) for the group that `mlx_distributed_init()` joins.
#' @return `mlx_send()`: `x`, invisibly. `mlx_recv()`: an evaluated MLX
#'   array.
#' @examples
#' \dontrun{
#' # In a script started with mlx_launch_local(script, n = 2):
#' group <- mlx_distributed_init()
#' if (mlx_group_rank(group) == 0) {
#'   mlx_send(c(1, 2, 3), dst = 1, group = group)
#' } else {
#'   print(mlx_recv(3, src = 0, group = group))
#' }
#' }
#' @export
mlx_send <- function(x, dst, group = NULL) {
  x <- as_collective_input(x)
  group <- check_group(group)
  check_peer_rank(dst, group)
  with_cpp_errors(send_(x, as.integer(dst), group$ptr))
  invisible(x)
}

#' @rdname mlx_send
#' @export
mlx_recv <- function(dim, src, dtype = "float32", group = NULL) {
  group <- check_group(group)
  check_peer_rank(src, group)
  like <- mlx_zeros(dim, dtype = dtype)
  out <- with_cpp_errors(recv_like_(like, as.integer(src), group$ptr))
  mlx_eval(out)
  out
}

#' Average gradients over a distributed group
#'
#' Replaces each gradient by its mean over the processes of the group, as
#' `mlx.nn.average_gradients()` does in MLX Python: the sum over the group
#' divided by its size. To send few large messages, the gradients are
#' flattened and concatenated, in their order, into chunks that close once
#' they reach `all_reduce_size` bytes, and each chunk is reduced with one
#' all-sum. With `all_reduce_size <= 0`, or when the gradients have
#' different dtypes, each gradient is reduced on its own. In a group of
#' size 1 the gradients are returned unchanged.
#'
#' Every process must pass gradients with the same names, shapes and dtypes
#' in the same order. [mlx_train_step()] calls this itself when it is given
#' a group.
#'
#' @param grads A list of MLX arrays named by parameter names, such as the
#'   `grads` of [mlx_value_and_grad()].
#' @param group A group from [mlx_distributed_init()], or `NULL` (the
#'   default) for the group that `mlx_distributed_init()` joins.
#' @param all_reduce_size Bytes per reduction. Default: 32 MiB, as in MLX
#'   Python.
#' @return A list of MLX arrays with the names and shapes of `grads`.
#' @examples
#' grads <- list(weight = as_mlx(matrix(1:6, 2, 3)), bias = as_mlx(c(1, 2)))
#' mlx_average_gradients(grads)   # unchanged in a single process
#' @export
mlx_average_gradients <- function(grads, group = NULL,
                                  all_reduce_size = 32 * 1024^2) {
  group <- check_group(group)
  if (!is.list(grads) || (length(grads) && is.null(names(grads)))) {
    received <- describe_value(grads)
    abort_invalid("{.arg grads} must be a list named by parameter names.",
                  "You supplied {received}.", rlang::current_env())
  }
  check_number(all_reduce_size)
  with_cpp_errors(average_gradients_(grads, group$ptr, all_reduce_size))
}

#' This rank's shard of an index set
#'
#' Splits `indices` between the processes of a group by striding: the
#' process of rank `r` in a group of size `n` gets elements `r + 1`,
#' `r + 1 + n`, `r + 1 + 2n`, ... So when every process shuffles the
#' indices the same way (the same [set.seed()]) and cuts its shard into
#' batches of `B / n`, the batches of all processes at a step together are
#' exactly the batch of size `B` that one process would take at that step.
#' Shards differ in length by at most one element.
#'
#' @param indices A vector, such as row numbers.
#' @param group A group from [mlx_distributed_init()], or `NULL` (the
#'   default) for the group that `mlx_distributed_init()` joins.
#' @return The elements of `indices` that belong to this process.
#' @seealso [mlx_batches()] with `group` shards and batches in one call.
#' @examples
#' mlx_shard_indices(1:10)   # all of them in a single process
#' @export
mlx_shard_indices <- function(indices, group = NULL) {
  group <- check_group(group)
  if (!is.atomic(indices) || !is.null(dim(indices))) {
    received <- describe_value(indices)
    abort_invalid("{.arg indices} must be a vector.",
                  "You supplied {received}.", rlang::current_env())
  }
  size <- mlx_group_size(group)
  rank <- mlx_group_rank(group)
  indices[seq_along(indices) %% size == (rank + 1) %% size]
}
