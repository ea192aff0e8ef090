#' Read an IDX file
#'
#' Reads a file in the IDX format of the MNIST family of data sets: a magic
#' number giving the element type and rank, the size of each dimension as a
#' big-endian 32-bit integer, then the elements in row-major order. Files
#' ending in `.gz` are decompressed on the fly.
#'
#' @param path Path to an IDX file, optionally gzip-compressed.
#' @return An R array with the file's dimensions in the file's order (a vector
#'   for rank 1), holding integers for the byte and integer types and doubles
#'   for the floating-point types. Element `[i, j, k]` is the file's element
#'   `(i - 1, j - 1, k - 1)`.
#' @examples
#' path <- tempfile(fileext = ".idx")
#' con <- file(path, "wb")
#' writeBin(as.raw(c(0, 0, 8, 2)), con)
#' writeBin(c(2L, 3L), con, size = 4, endian = "big")
#' writeBin(as.raw(1:6), con)
#' close(con)
#' mlx_read_idx(path)
#' @export
mlx_read_idx <- function(path) {
  check_string(path)
  if (!file.exists(path)) {
    cli::cli_abort(c(
      "{.arg path} must name an existing file.",
      "x" = "{.file {path}} was not found."
    ))
  }
  con <- if (grepl("\\.gz$", path)) gzfile(path, "rb") else file(path, "rb")
  on.exit(close(con))

  magic <- readBin(con, "raw", n = 4)
  if (length(magic) < 4 || magic[1] != 0 || magic[2] != 0) {
    cli::cli_abort(c(
      "{.arg path} must be an IDX file.",
      "x" = "{.file {path}} does not start with the IDX magic number."
    ))
  }
  type_code <- as.integer(magic[3])
  rank <- as.integer(magic[4])
  types <- list(
    "8" = list(what = "integer", size = 1, signed = FALSE),
    "9" = list(what = "integer", size = 1, signed = TRUE),
    "11" = list(what = "integer", size = 2, signed = TRUE),
    "12" = list(what = "integer", size = 4, signed = TRUE),
    "13" = list(what = "double", size = 4, signed = TRUE),
    "14" = list(what = "double", size = 8, signed = TRUE)
  )
  type <- types[[as.character(type_code)]]
  if (is.null(type)) {
    cli::cli_abort(c(
      "{.arg path} has an unknown IDX element type.",
      "x" = "Type code {.val {type_code}} is not one of 0x08, 0x09, 0x0B-0x0E."
    ))
  }
  dims <- readBin(con, "integer", n = rank, size = 4, endian = "big")
  if (length(dims) != rank || any(dims < 0)) {
    cli::cli_abort("the header of {.file {path}} is truncated.")
  }
  n <- prod(dims)
  values <- readBin(
    con, type$what,
    n = n, size = type$size, signed = type$signed, endian = "big"
  )
  if (length(values) != n) {
    cli::cli_abort(c(
      "{.file {path}} is truncated.",
      "x" = "Expected {n} element{?s} but read {length(values)}."
    ))
  }
  if (rank <= 1) {
    return(values)
  }
  # The file is row-major; filling R's column-major array with reversed
  # dimensions and permuting back puts element (i, j, ...) at [i, j, ...].
  aperm(array(values, dim = rev(dims)), rev(seq_len(rank)))
}

#' Load the Fashion-MNIST data set
#'
#' Reads the 60,000 training and 10,000 test images of Fashion-MNIST from the
#' IDX files that Debian's `dataset-fashion-mnist` package installs.
#'
#' @param dir Directory holding `train-images-idx3-ubyte.gz`,
#'   `train-labels-idx1-ubyte.gz`, `t10k-images-idx3-ubyte.gz` and
#'   `t10k-labels-idx1-ubyte.gz`. Default: `/usr/share/datasets/fashion-mnist`.
#' @param flatten If `TRUE` (the default), each image is a row of 784 pixel
#'   values; if `FALSE`, images are an `n x 28 x 28 x 1` array (channels last,
#'   as MLX's convolutions expect).
#' @param scale If `TRUE` (the default), pixels are divided by 255.
#' @return A list with `train` and `test`, each a list of `x` (pixels) and
#'   `y` (a factor of the ten class names).
#' @examples
#' if (dir.exists("/usr/share/datasets/fashion-mnist")) {
#'   data <- mlx_fashion_mnist()
#'   dim(data$train$x)
#'   table(data$test$y)
#' }
#' @export
mlx_fashion_mnist <- function(dir = "/usr/share/datasets/fashion-mnist",
                              flatten = TRUE, scale = TRUE) {
  check_string(dir)
  check_bool(flatten)
  check_bool(scale)
  files <- c(
    train_x = "train-images-idx3-ubyte.gz",
    train_y = "train-labels-idx1-ubyte.gz",
    test_x = "t10k-images-idx3-ubyte.gz",
    test_y = "t10k-labels-idx1-ubyte.gz"
  )
  paths <- file.path(dir, files)
  missing <- paths[!file.exists(paths)]
  if (length(missing)) {
    cli::cli_abort(c(
      "the Fashion-MNIST files were not found in {.arg dir}.",
      "x" = "Missing: {.file {missing}}.",
      "i" = "On Debian, install them with {.code apt-get install dataset-fashion-mnist}."
    ))
  }
  classes <- c(
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"
  )
  read_split <- function(x_path, y_path) {
    images <- mlx_read_idx(x_path)
    n <- dim(images)[1]
    # Flattened rows follow the row-major pixel order that MLX Python and
    # PyTorch use, so a model trained here takes their inputs unchanged.
    x <- if (flatten) {
      matrix(aperm(images, c(1, 3, 2)), nrow = n)
    } else {
      array(images, dim = c(n, 28, 28, 1))
    }
    storage.mode(x) <- "double"
    if (scale) x <- x / 255
    labels <- mlx_read_idx(y_path)
    list(x = x, y = factor(classes[labels + 1L], levels = classes))
  }
  list(
    train = read_split(paths[[1]], paths[[2]]),
    test = read_split(paths[[3]], paths[[4]])
  )
}
