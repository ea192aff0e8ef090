test_that("mlx_reshape matches R's dim<-", {
  a <- array(seq_len(24), c(2, 3, 4))
  x <- as_mlx(a)
  for (dim in list(c(6, 4), c(4, 6), c(24), c(3, 2, 4), c(2, 2, 2, 3))) {
    expect_identical(as.array(mlx_reshape(x, dim)), array(a, dim))
  }
  y <- x
  dim(y) <- c(4, 6)
  expect_identical(as.array(y), array(a, c(4, 6)))
  expect_error(mlx_reshape(x, c(5, 5)), "product equal")
})

test_that("mlx_transpose and aperm match base aperm", {
  a <- array(seq_len(24), c(2, 3, 4))
  x <- as_mlx(a)
  expect_identical(as.array(mlx_transpose(x)), aperm(a))
  expect_identical(as.array(mlx_transpose(x, c(2, 3, 1))), aperm(a, c(2, 3, 1)))
  expect_identical(as.array(aperm(x, c(3, 1, 2))), aperm(a, c(3, 1, 2)))
  expect_error(mlx_transpose(x, c(1, 2)), "one entry per axis")
  expect_error(mlx_transpose(x, c(1, 1, 2)), "same axis twice")
})

test_that("mlx_concatenate and mlx_stack match abind-style results", {
  a <- matrix(1:6, 2)
  b <- matrix(7:12, 2)
  x <- as_mlx(a)
  y <- as_mlx(b)
  expect_identical(as.array(mlx_concatenate(list(x, y))), rbind(a, b))
  expect_identical(as.array(mlx_concatenate(list(x, y), axis = 2)), cbind(a, b))
  expect_identical(as.array(mlx_concatenate(list(x, b), axis = -1)), cbind(a, b))
  stacked <- mlx_stack(list(x, y), axis = 3)
  expect_identical(as.array(stacked), array(c(a, b), c(2, 3, 2)))
  first <- mlx_stack(list(x, y))
  expect_identical(dim(first), c(2L, 2L, 3L))
  expect_identical(as.array(first[1, , ]), a)
  expect_error(mlx_concatenate(list()), "non-empty list")
  expect_error(mlx_stack(list(x, y), axis = 4), "between 1 and 3")
})

test_that("subsetting matches base R", {
  a <- array(seq_len(24), c(2, 3, 4))
  x <- as_mlx(a)
  expect_identical(as.array(x[2, , 1]), array(a[2, , 1], 3))
  expect_identical(as.array(x[, -1, 1:2]), a[, -1, 1:2])
  expect_identical(as.array(x[, -1, 1:2, drop = FALSE]), a[, -1, 1:2, drop = FALSE])
  expect_identical(as.array(x[c(TRUE, FALSE), 3, ]), array(a[c(TRUE, FALSE), 3, ], 4))
  expect_identical(as.array(x[2:1, c(3, 1), 4:2]), a[2:1, c(3, 1), 4:2])
  expect_identical(as.array(x[, , ]), a)
  expect_identical(as.array(x[1, 1, 1, drop = FALSE]), a[1, 1, 1, drop = FALSE])
  expect_identical(dim(x[1, 1, 1]), 1L)
  expect_identical(as.vector(x[c(1, 5, 24)]), a[c(1, 5, 24)])
  expect_identical(as.vector(x[0, 1, 1]), a[0, 1, 1])
  v <- as_mlx(c(5, 6, 7))
  expect_identical(as.vector(v[-2]), c(5, 7))
  expect_identical(as.vector(v[c(TRUE, FALSE, TRUE)]), c(5, 7))
  expect_identical(x[], x)
})

test_that("subsetting checks indices", {
  x <- as_mlx(matrix(1:6, 2))
  expect_error(x[3, 1], class = "rmlx_error_subscript")
  expect_error(x[1, 4], "between 1 and 3")
  expect_error(x[c(-1, 1), 1], "mix positive and negative")
  expect_error(x[NA, 1], "must not contain NA")
  expect_error(x[1, 1, 1], "number of indices")
  expect_error(x["a", 1], "numeric or logical")
  expect_snapshot(x[1, 7], error = TRUE)
})

test_that("flatten follows MLX's row-major order", {
  a <- array(1:24, c(2, 3, 4))
  flat <- as.matrix(mlx_flatten(as_mlx(a)))
  expect_equal(dim(flat), c(2L, 12L))
  # Column ((j - 1) * 4 + k) holds a[, j, k].
  for (j in 1:3) {
    for (k in 1:4) {
      expect_equal(flat[, (j - 1) * 4 + k], a[, j, k])
    }
  }
  expect_equal(dim(mlx_flatten(as_mlx(a), 1, 2)), c(6L, 4L))
  expect_error(mlx_flatten(as_mlx(a), 3, 2), "must not come after")
})
