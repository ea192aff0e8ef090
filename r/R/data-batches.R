#' Mini-batches of a data set
#'
#' Shuffles the rows (the first axis) of one or more arrays with R's random
#' number generator, so [set.seed()] reproduces the order, and cuts them into
#' batches. The rows are copied once per call into a shuffled copy, and the
#' batches are views of it: much faster than gathering every batch with
#' `x[i, ]`, at the cost of one copy of the data while the batches exist.
#'
#' @param ... Arrays with the same number of rows: MLX arrays, R arrays or
#'   vectors (converted with [as_mlx()]) or factors (their 1-based integer
#'   codes, the labels the losses take).
#' @param batch_size Rows per batch.
#' @param shuffle If `TRUE` (the default), shuffle the rows first.
#' @param drop_last If `TRUE` (the default), leave out a last batch that
#'   would be smaller than `batch_size`.
#' @param group For data-parallel training: a group from
#'   [mlx_distributed_init()], or `NULL` (the default) for no sharding.
#'   With a group, `batch_size` is the global batch size, a multiple of the
#'   group's size, and each process gets its share of every global batch:
#'   the rows of the (shuffled) order that [mlx_shard_indices()] gives its
#'   rank. Every process must use the same seed, so that they shuffle
#'   alike, and `drop_last` must be `TRUE`, so that all processes run the
#'   same number of equal steps.
#' @return A list of batches; each is an unnamed list with one MLX array per
#'   input, in the order given, or a named one when the inputs are named.
#'   With a group of size `n`, each batch has `batch_size / n` rows.
#' @examples
#' x <- matrix(rnorm(20), 10, 2)
#' y <- factor(rep(c("a", "b"), 5))
#' batches <- mlx_batches(x = x, y = y, batch_size = 4)
#' length(batches)
#' batches[[1]]$x
#' @export
mlx_batches <- function(..., batch_size, shuffle = TRUE, drop_last = TRUE,
                        group = NULL) {
  inputs <- list(...)
  if (length(inputs) == 0) {
    abort_invalid("{.fn mlx_batches} needs at least one array.",
                  "You supplied none.", rlang::current_env())
  }
  check_count(batch_size, min = 1)
  check_bool(shuffle)
  check_bool(drop_last)
  arrays <- lapply(inputs, as_batch_array)
  rows <- vapply(arrays, function(a) {
    shape <- mlx_shape(a)
    if (length(shape) == 0) NA_integer_ else as.integer(shape[[1]])
  }, integer(1))
  if (anyNA(rows) || any(rows != rows[[1]])) {
    abort_invalid(
      "Every input must have the same number of rows.",
      "The inputs have {paste(ifelse(is.na(rows), 'no', rows), collapse = ', ')} rows.",
      rlang::current_env()
    )
  }
  n <- rows[[1]]
  order <- if (shuffle) sample.int(n) - 1L else seq_len(n) - 1L
  if (!is.null(group)) {
    sharded <- shard_batch_order(order, batch_size, drop_last, group)
    order <- sharded$order
    batch_size <- sharded$batch_size
  }
  batches <- mlx_batches_(unname(arrays), order, batch_size, drop_last)
  if (!is.null(names(inputs))) {
    batches <- lapply(batches, stats::setNames, names(inputs))
  }
  batches
}

# This process's rows of each global batch of `batch_size` rows, and the
# per-process batch size. Rows past the last whole global batch are left
# out on every process, so that all processes run the same number of steps.
shard_batch_order <- function(order, batch_size, drop_last, group,
                              call = rlang::caller_env()) {
  group <- check_group(group, call = call)
  size <- mlx_group_size(group)
  if (size == 1) {
    return(list(order = order, batch_size = batch_size))
  }
  if (batch_size %% size != 0) {
    abort_invalid(
      "{.arg batch_size} must be a multiple of the group size, {size}.",
      "You supplied {batch_size}.",
      call
    )
  }
  if (!drop_last) {
    abort_invalid(
      "{.arg drop_last} must be TRUE with a group of more than one process.",
      "A last, smaller batch would leave processes with unequal steps.",
      call
    )
  }
  whole <- (length(order) %/% batch_size) * batch_size
  list(
    order = mlx_shard_indices(order[seq_len(whole)], group),
    batch_size = batch_size %/% size
  )
}
