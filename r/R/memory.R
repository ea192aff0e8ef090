#' Memory used by MLX arrays
#'
#' Reports MLX's CPU memory counters, as `mx.get_active_memory()`,
#' `mx.get_peak_memory()` and `mx.get_cache_memory()` do in MLX Python.
#'
#' @param reset_peak If `TRUE`, start a new peak after reading it.
#' @section Collection of unreachable arrays:
#' An MLX array that R can no longer reach is freed only when R's garbage
#' collector runs, and R does not see the memory that MLX arrays hold. A
#' training loop leaves each step's intermediate arrays (the layers'
#' outputs inside the loss function) behind, so between R's own
#' collections MLX would keep allocating new memory, whose pages the system
#' must map and clear. Rmlx therefore collects when the active memory has
#' grown since its last collection:
#'
#' * [mlx_value_and_grad()]'s function, [mlx_train_step()]'s step and
#'   [mlx_eval()] run a collection of R's young objects,
#'   `gc(full = FALSE)`, past `getOption("rmlx.collect_bytes")` (default
#'   64 MiB), and a full one, `gc()`, when that frees less than half the
#'   growth. Set the option to `Inf` to turn this off.
#' * Creating any array runs a full collection past the
#'   `RMLX_GC_THRESHOLD_MB` environment variable, read once (default 1024
#'   MiB, 0 turns it off). A value that is not a number of MiB, 0 or more,
#'   prints a message and keeps the default.
#'
#' With the LSTM of `bench/rnn_rmlx.R`, a loop of value-and-gradient steps
#' maps no new memory after its first collection, and 200 steps on one
#' core took 7 to 11% less time than with the option at `Inf`.
#' @return A named numeric vector of bytes: `active` (held by arrays),
#'   `peak` (the most active memory since the process started or the last
#'   reset, and never less than `active`) and `cache` (freed buffers that
#'   MLX keeps for reuse).
#' @seealso [mlx_clear_cache()]
#' @examples
#' x <- as_mlx(matrix(1, 100, 100))
#' mlx_eval(x)
#' mlx_memory()
#' @export
mlx_memory <- function(reset_peak = FALSE) {
  check_bool(reset_peak)
  mlx_memory_(reset_peak)
}

#' Free MLX's buffer cache
#'
#' Returns the freed buffers that MLX keeps for reuse to the C library's
#' allocator, as `mx.clear_cache()` does in MLX Python.
#'
#' @return `NULL`, invisibly.
#' @seealso [mlx_memory()]
#' @examples
#' mlx_clear_cache()
#' mlx_memory()[["cache"]]
#' @export
mlx_clear_cache <- function() {
  mlx_clear_cache_()
  invisible(NULL)
}

# Collects R's unreachable objects when MLX arrays have grown by more than
# the rmlx.collect_bytes option since the last collection started here
# (see mlx_memory()). `fn` names the calling function for the error raised
# in a forked process.
collect_array_garbage <- function(fn, call = rlang::caller_env()) {
  # One call into C++ reads the option and the growth: mlx_eval() runs this
  # for every evaluation.
  growth <- collect_growth_(fn)
  if (is.na(growth)) {
    received <- describe_value(getOption("rmlx.collect_bytes"))
    abort_invalid(
      "Option {.code rmlx.collect_bytes} must be a number of bytes, 0 or more, or {.code Inf}.",
      "It is {received}.",
      call
    )
  }
  if (growth == 0) {
    return(invisible(FALSE))
  }
  gc(verbose = FALSE, full = FALSE)
  # Arrays that survived earlier collections sit in R's older generations,
  # which only a full collection reaches.
  if (memory_growth_(fn) > growth / 2) {
    gc(verbose = FALSE)
  }
  memory_mark_collected_()
  invisible(TRUE)
}
