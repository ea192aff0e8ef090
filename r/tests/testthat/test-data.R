# Writes an IDX file of unsigned bytes with dimensions `dims`, the elements
# `values` in row-major order, optionally gzip-compressed.
write_idx_u8 <- function(path, dims, values, gz = FALSE) {
  con <- if (gz) gzfile(path, "wb") else file(path, "wb")
  on.exit(close(con))
  writeBin(as.raw(c(0, 0, 8, length(dims))), con)
  writeBin(as.integer(dims), con, size = 4, endian = "big")
  writeBin(as.raw(values), con)
}

dims <- c(2L, 3L, 4L)
values <- 0:23

# The expected array: element (i, j, k) of the file, 0-based, is at
# offset i * 12 + j * 4 + k in row-major order.
expected_array <- function() {
  out <- array(0L, dims)
  for (i in 1:2) for (j in 1:3) for (k in 1:4) {
    out[i, j, k] <- values[(i - 1) * 12 + (j - 1) * 4 + (k - 1) + 1]
  }
  out
}

test_that("read_idx reads a plain rank-3 file", {
  path <- withr::local_tempfile(fileext = ".idx")
  write_idx_u8(path, dims, values)
  x <- mlx_read_idx(path)
  expect_identical(dim(x), dims)
  expect_type(x, "integer")
  expect_identical(x, expected_array())
})

test_that("read_idx reads a gzip file", {
  path <- withr::local_tempfile(fileext = ".idx.gz")
  write_idx_u8(path, dims, values, gz = TRUE)
  expect_identical(mlx_read_idx(path), expected_array())
})

test_that("read_idx keeps row-major element order", {
  path <- withr::local_tempfile(fileext = ".idx")
  write_idx_u8(path, dims, values)
  x <- mlx_read_idx(path)
  expect_equal(x[1, 1, 2], 1L)
  expect_equal(x[1, 2, 1], 4L)
  expect_equal(x[2, 1, 1], 12L)
  expect_equal(x[2, 3, 4], 23L)
})

test_that("read_idx reads bytes above 127 as unsigned", {
  path <- withr::local_tempfile(fileext = ".idx")
  write_idx_u8(path, 3L, c(0, 200, 255))
  expect_identical(mlx_read_idx(path), c(0L, 200L, 255L))
})

test_that("read_idx errors on a missing file", {
  expect_error(mlx_read_idx(file.path(tempdir(), "nonexistent.idx")),
               "not found")
})

test_that("read_idx errors on a bad magic number", {
  path <- withr::local_tempfile(fileext = ".idx")
  writeBin(as.raw(c(1, 2, 8, 1, 0, 0, 0, 1, 5)), path)
  expect_error(mlx_read_idx(path), "magic number")
})

test_that("read_idx errors on an unknown type", {
  path <- withr::local_tempfile(fileext = ".idx")
  writeBin(as.raw(c(0, 0, 7, 1, 0, 0, 0, 1, 5)), path)
  expect_error(mlx_read_idx(path), "element type")
})

test_that("read_idx errors on a truncated file", {
  path <- withr::local_tempfile(fileext = ".idx")
  write_idx_u8(path, c(2L, 3L), 0:4)
  expect_error(mlx_read_idx(path), "truncated")
})

test_that("fashion_mnist dims and labels", {
  dir <- "/usr/share/datasets/fashion-mnist"
  skip_if_not(dir.exists(dir), "Fashion-MNIST is not installed")
  data <- mlx_fashion_mnist(dir)
  expect_equal(dim(data$train$x), c(60000, 784))
  expect_equal(dim(data$test$x), c(10000, 784))
  expect_length(data$train$y, 60000)
  expect_length(data$test$y, 10000)
  expect_s3_class(data$train$y, "factor")
  expect_length(levels(data$train$y), 10)
  expect_equal(levels(data$train$y)[[1]], "T-shirt/top")
  expect_gte(min(data$test$x), 0)
  expect_lte(max(data$test$x), 1)

  # Rows are row-major pixels: column r * 28 + c + 1 is pixel (r, c).
  images <- mlx_read_idx(file.path(dir, "t10k-images-idx3-ubyte.gz"))
  expect_equal(data$test$x[5, ], c(t(images[5, , ])) / 255)
  labels <- mlx_read_idx(file.path(dir, "t10k-labels-idx1-ubyte.gz"))
  expect_equal(as.integer(data$test$y), labels + 1L)
})

test_that("fashion_mnist errors on a missing directory", {
  expect_error(mlx_fashion_mnist(file.path(tempdir(), "nonexistent")),
               "not found")
})
