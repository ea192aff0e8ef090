test_that("batches cover every row once", {
  x <- matrix(seq_len(20), 10, 2)
  y <- seq_len(10)
  set.seed(5)
  batches <- mlx_batches(x = x, y = y, batch_size = 3, drop_last = FALSE)
  expect_length(batches, 4)
  expect_named(batches[[1]], c("x", "y"))
  rows <- unlist(lapply(batches, function(b) as.vector(b$y)))
  expect_setequal(rows, 1:10)
  expect_equal(dim(batches[[4]]$x), c(1L, 2L))
  first <- as.matrix(batches[[1]]$x)
  expect_equal(first, x[as.vector(batches[[1]]$y), , drop = FALSE])
})

test_that("batches follow set.seed and drop_last", {
  x <- matrix(rnorm(40), 20, 2)
  set.seed(9)
  a <- mlx_batches(x, batch_size = 6)
  set.seed(9)
  b <- mlx_batches(x, batch_size = 6)
  expect_length(a, 3)
  expect_equal(as.array(a[[2]][[1]]), as.array(b[[2]][[1]]))
  ordered <- mlx_batches(x, batch_size = 5, shuffle = FALSE)
  expect_equal(as.matrix(ordered[[2]][[1]]), x[6:10, ], tolerance = 1e-6)
})

test_that("batches turn factors into 1-based codes", {
  y <- factor(c("b", "a", "c", "a"))
  batch <- mlx_batches(y, batch_size = 4, shuffle = FALSE)[[1]][[1]]
  expect_equal(as.vector(batch), as.integer(y))
})

test_that("batches reject mismatched rows", {
  expect_error(
    mlx_batches(matrix(1, 4, 2), 1:5, batch_size = 2),
    "same number of rows"
  )
  expect_error(mlx_batches(batch_size = 2), "at least one")
  expect_error(mlx_batches(1:4, batch_size = 0), "batch_size")
})
