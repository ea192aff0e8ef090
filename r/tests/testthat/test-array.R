test_that("as_mlx keeps positions of a matrix", {
  m <- matrix(c(1.5, 2, 3, 4, 5, 6), nrow = 2)
  x <- as_mlx(m)
  expect_identical(dim(x), c(2L, 3L))
  expect_identical(mlx_dtype(x), "float32")
  expect_identical(as.array(x), m)
  # [i, j] read on the MLX side, through subsetting, equals R's [i, j].
  for (i in 1:2) {
    for (j in 1:3) {
      expect_identical(as.vector(x[i, j]), m[i, j])
    }
  }
})

test_that("as_mlx keeps positions of a rank-3 array", {
  a <- array(seq_len(24) * 1.0, c(2, 3, 4))
  x <- as_mlx(a)
  expect_identical(dim(x), c(2L, 3L, 4L))
  expect_identical(as.array(x), a)
  for (idx in list(c(1, 1, 1), c(2, 3, 4), c(1, 2, 3), c(2, 1, 4))) {
    expect_identical(
      as.vector(x[idx[[1]], idx[[2]], idx[[3]]]),
      a[idx[[1]], idx[[2]], idx[[3]]]
    )
  }
})

test_that("round trips ranks 0 to 4", {
  vec <- c(3, 1, 4, 1, 5)
  expect_identical(as.array(as_mlx(vec)), array(vec, 5))
  expect_identical(as.vector(as_mlx(vec)), vec)
  one <- as_mlx(7)
  expect_identical(dim(one), 1L)
  expect_identical(as.vector(one), 7)
  a4 <- array(as.double(seq_len(120)), c(2, 3, 4, 5))
  x4 <- as_mlx(a4)
  expect_identical(as.array(x4), a4)
  expect_identical(as.vector(x4[2, 3, 4, 5]), a4[2, 3, 4, 5])
  expect_identical(as.vector(x4[1, 2, 3, 4]), a4[1, 2, 3, 4])
  scalar <- sum(as_mlx(c(1, 2)))
  expect_identical(mlx_shape(scalar), integer(0))
  expect_null(dim(scalar))
  expect_identical(as.array(scalar), 3)
  expect_identical(length(scalar), 1L)
})

test_that("round trips every dtype", {
  ints <- array(c(0L, 1L, 2L, 3L, 100L, 7L), c(3, 2))
  for (dtype in c("uint8", "uint16", "uint32", "uint64", "int8", "int16",
                  "int32", "int64")) {
    x <- as_mlx(ints, dtype = dtype)
    expect_identical(mlx_dtype(x), dtype)
    expect_identical(as.array(x), ints)
  }
  doubles <- array(c(0.5, -1.25, 2, 3.75, 100, -7), c(2, 3))
  for (dtype in c("float16", "bfloat16", "float32", "float64")) {
    x <- as_mlx(doubles, dtype = dtype)
    expect_identical(mlx_dtype(x), dtype)
    expect_identical(as.array(x), doubles)
  }
  flags <- array(c(TRUE, FALSE, TRUE, TRUE), c(2, 2))
  x <- as_mlx(flags)
  expect_identical(mlx_dtype(x), "bool")
  expect_identical(as.array(x), flags)
})

test_that("float64 keeps double precision", {
  x <- as_mlx(pi, dtype = "float64")
  expect_identical(as.vector(x), pi)
  expect_false(as.vector(as_mlx(pi)) == pi)
})

test_that("integer dtypes out of R's range become double", {
  big <- c(0, 2^31, 2^40)
  x <- as_mlx(big, dtype = "int64")
  expect_identical(as.vector(x), big)
  expect_type(as.vector(as_mlx(c(1, 2), dtype = "int64")), "integer")
  expect_identical(as.vector(as_mlx(2^32 - 1, dtype = "uint32")), 2^32 - 1)
})

test_that("NA in doubles becomes NaN", {
  x <- as_mlx(c(1, NA, 3))
  expect_identical(is.nan(as.vector(x)), c(FALSE, TRUE, FALSE))
})

test_that("conversion methods give R types", {
  x <- as_mlx(matrix(c(1.5, 2, 3, 4), 2))
  expect_identical(as.matrix(x), matrix(c(1.5, 2, 3, 4), 2))
  expect_identical(as.numeric(x), c(1.5, 2, 3, 4))
  expect_identical(as.integer(x), c(1L, 2L, 3L, 4L))
  expect_identical(as.logical(x > 2), c(FALSE, FALSE, TRUE, TRUE))
  expect_identical(as.matrix(as_mlx(1:3)), matrix(1:3, 3))
})

test_that("empty arrays round trip", {
  empty <- matrix(numeric(0), 0, 3)
  x <- as_mlx(empty)
  expect_identical(dim(x), c(0L, 3L))
  expect_identical(as.array(x), empty)
})

test_that("as_mlx picks dtypes and keeps MLX arrays", {
  expect_identical(mlx_dtype(as_mlx(1:3)), "int32")
  expect_identical(mlx_dtype(as_mlx(c(TRUE, FALSE))), "bool")
  expect_identical(mlx_dtype(as_mlx(1:3, dtype = "float16")), "float16")
  x <- as_mlx(1:3)
  expect_identical(as_mlx(x), x)
  expect_identical(mlx_dtype(as_mlx(x, dtype = "float32")), "float32")
})

test_that("mlx_astype converts lazily", {
  x <- mlx_astype(as_mlx(c(1.7, -2.2)), "int32")
  expect_identical(mlx_dtype(x), "int32")
  expect_identical(as.vector(x), c(1L, -2L))
})

test_that("as_mlx rejects unsupported inputs", {
  expect_error(as_mlx("a"), class = "rmlx_error_invalid_argument")
  expect_error(as_mlx(list(1)), "must be a double, integer or logical")
  expect_error(as_mlx(NULL), "NULL")
  expect_error(as_mlx(1i), "complex")
  expect_error(as_mlx(factor("a")), "factor")
  expect_snapshot(as_mlx("a"), error = TRUE)
})

test_that("as_mlx rejects NA in integers and logicals", {
  expect_error(as_mlx(c(1L, NA)), "must not contain NA")
  expect_error(as_mlx(c(TRUE, NA)), "must not contain NA")
  expect_error(as_mlx(c(1, NA), dtype = "int32"), "must not contain NA")
  expect_error(as_mlx(300, dtype = "uint8"), "between 0 and 255")
  expect_error(as_mlx(-1L, dtype = "uint32"), "between 0")
  expect_error(as_mlx(1, dtype = "float8"), "must be one of")
  expect_error(as_mlx(1, dtype = "complex64"), "not supported")
  expect_snapshot(as_mlx(c(1L, NA, 3L)), error = TRUE)
})

test_that("devices are checked", {
  expect_identical(as.vector(as_mlx(1:2, device = "cpu")), 1:2)
  expect_error(as_mlx(1, device = "tpu"), "must be")
  skip_if(mlx_gpu_available_())
  expect_error(as_mlx(1, device = "gpu"), "not available")
})

test_that("print shows dtype, shape and values", {
  x <- as_mlx(matrix(1:6, 2))
  expect_output(print(x), "<mlx_array int32 \\[2 x 3\\]>")
  expect_output(print(x), "\\[2,\\]    2    4    6")
  expect_identical(format(x), "<mlx_array int32 [2 x 3]>")
  expect_output(str(x), "mlx_array int32 \\[2 x 3\\] 1 2 3 4 5 6")
  expect_snapshot(print(as_mlx(array(1:8, c(2, 2, 2)))))
  expect_snapshot(print(sum(as_mlx(c(1.5, 2)))))
})

test_that("print truncates large arrays", {
  big <- mlx_zeros(c(200, 300))
  output <- capture.output(print(big))
  expect_true(any(grepl("showing \\[10 x 10\\] of \\[200 x 300\\]", output)))
  expect_lt(length(output), 30)
  long <- mlx_arange(5000)
  expect_output(print(long), "showing \\[100\\] of \\[5000\\]")
})

test_that("saveRDS and readRDS give an error, not a crash", {
  path <- withr::local_tempfile(fileext = ".rds")
  saveRDS(as_mlx(1:3), path)
  restored <- readRDS(path)
  expect_error(as.array(restored), "no longer exists")
  expect_error(restored + 1, "no longer exists")
  expect_error(mlx_dtype(restored), "no longer exists")
})

test_that("functions reject objects that are not MLX arrays", {
  expect_error(mlx_dtype(1:3), class = "rmlx_error_invalid_argument")
  expect_error(mlx_eval(1), "must be an MLX array")
  expect_snapshot(mlx_shape(matrix(1:4, 2)), error = TRUE)
})

test_that("operations are lazy", {
  gc()
  before <- mlx_active_memory_()
  x <- mlx_ones(c(2000, 2000))
  elapsed <- system.time({
    y <- exp(x) * 2 + 1
    for (i in 1:10) y <- sqrt(y) + x
  })[["elapsed"]]
  # Nothing is allocated until evaluation.
  expect_lt(mlx_active_memory_() - before, 1e6)
  expect_lt(elapsed, 1)
  mlx_eval(y)
  expect_gte(mlx_active_memory_() - before, 1.6e7)
  expect_equal(as.vector(y[1, 1]), 2.618034, tolerance = 1e-5)
})

test_that("finalizers free MLX memory", {
  gc()
  before <- mlx_active_memory_()
  x <- mlx_ones(c(1000, 1000))
  mlx_eval(x)
  expect_gte(mlx_active_memory_() - before, 4e6)
  rm(x)
  gc()
  expect_lt(mlx_active_memory_() - before, 1e6)
})

test_that("creation functions fill arrays", {
  expect_mlx_equal(mlx_zeros(c(2, 3)), array(0, c(2, 3)))
  expect_mlx_equal(mlx_ones(3, dtype = "int32"), array(1L, 3))
  expect_identical(mlx_dtype(mlx_ones(3, dtype = "int32")), "int32")
  expect_mlx_equal(mlx_full(c(2, 2), 7.5), array(7.5, c(2, 2)))
  expect_identical(mlx_dtype(mlx_full(2, TRUE)), "bool")
  expect_identical(mlx_dtype(mlx_full(2, 3L)), "int32")
  expect_identical(mlx_shape(mlx_zeros(integer(0))), integer(0))
  expect_mlx_equal(mlx_arange(5), array(0:4, 5))
  expect_identical(mlx_dtype(mlx_arange(5)), "int32")
  expect_mlx_equal(mlx_arange(0, 1, 0.25), array(c(0, 0.25, 0.5, 0.75), 4))
  expect_identical(mlx_dtype(mlx_arange(0, 1, 0.25)), "float32")
  expect_mlx_equal(mlx_arange(5, 1, -2), array(c(5L, 3L), 2))
  expect_error(mlx_arange(1, 5, 0), "must not be 0")
  expect_error(mlx_zeros(c(2, -1)), "whole numbers of at least 0")
  expect_error(mlx_full(2, "a"), "single number or logical")
})

test_that("mlx_blas_info reports a library", {
  info <- mlx_blas_info()
  expect_named(info, c("cblas_sgemm", "configured", "mlx_version"))
  expect_identical(info$mlx_version, "0.32.4")
  expect_type(info$cblas_sgemm, "character")
})
