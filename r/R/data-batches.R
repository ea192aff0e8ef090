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
#' @return A list of batches; each is an unnamed list with one MLX array per
#'   input, in the order given, or a named one when the inputs are named.
#' @examples
#' x <- matrix(rnorm(20), 10, 2)
#' y <- factor(rep(c("a", "b"), 5))
#' batches <- mlx_batches(x = x, y = y, batch_size = 4)
#' length(batches)
#' batches[[1]]$x
#' @export
mlx_batches <- function(..., batch_size, shuffle = TRUE, drop_last = TRUE) {
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
  batches <- mlx_batches_(unname(arrays), order, batch_size, drop_last)
  if (!is.null(names(inputs))) {
    batches <- lapply(batches, stats::setNames, names(inputs))
  }
  batches
}
