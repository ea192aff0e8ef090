test_that("arithmetic matches base R", {
  a <- matrix(c(1.5, -2, 3, 4.25, -5, 6), 2)
  b <- matrix(c(2, 1, -3, 0.5, 4, -1.5), 2)
  x <- as_mlx(a)
  y <- as_mlx(b)
  expect_mlx_equal(x + y, a + b)
  expect_mlx_equal(x - y, a - b)
  expect_mlx_equal(x * y, a * b)
  expect_mlx_equal(x / y, a / b)
  expect_mlx_equal(abs(x)^y, abs(a)^b, tolerance = 1e-5)
  expect_mlx_equal(x %% y, a %% b)
  expect_mlx_equal(x %/% y, a %/% b)
  expect_mlx_equal(-x, -a)
  expect_mlx_equal(+x, a)
})

test_that("comparisons and logic match base R", {
  a <- matrix(c(1, 2, 3, 4, 5, 6), 2)
  b <- matrix(c(6, 2, 1, 4, 9, 0), 2)
  x <- as_mlx(a)
  y <- as_mlx(b)
  for (op in c("==", "!=", "<", "<=", ">", ">=")) {
    fn <- match.fun(op)
    result <- fn(x, y)
    expect_identical(mlx_dtype(result), "bool")
    expect_identical(as.array(result), fn(a, b))
  }
  expect_identical(as.array(x > 2 & y > 1), a > 2 & b > 1)
  expect_identical(as.array(x > 2 | y > 5), a > 2 | b > 5)
  expect_identical(as.array(!(x > 2)), !(a > 2))
  expect_identical(as.vector(!as_mlx(c(0, 2))), c(TRUE, FALSE))
})

test_that("R scalars keep the array dtype", {
  half <- as_mlx(c(1, 2), dtype = "float16")
  expect_identical(mlx_dtype(half * 2), "float16")
  expect_identical(mlx_dtype(2 * half), "float16")
  ints <- as_mlx(1:3)
  expect_identical(mlx_dtype(ints + 1), "int32")
  expect_identical(mlx_dtype(ints + 1L), "int32")
  expect_identical(mlx_dtype(ints * 2.5), "float32")
  expect_identical(as.vector(ints * 2.5), c(2.5, 5, 7.5))
  expect_identical(mlx_dtype(ints / 2L), "float32")
  expect_identical(mlx_dtype(as_mlx(c(TRUE, FALSE)) + 1L), "int32")
  expect_identical(as.vector(10 - ints), c(9L, 8L, 7L))
  expect_identical(as.vector(2^ints), c(2, 4, 8))
})

test_that("R operands of other shapes broadcast as in MLX", {
  a <- matrix(1:6, 2)
  x <- as_mlx(a)
  # A length-3 vector aligns with the last axis: v[j] is added to column j.
  expect_identical(as.array(x + c(10L, 20L, 30L)), a + rep(c(10L, 20L, 30L), each = 2))
  # A 2 x 1 matrix is added to each column.
  expect_identical(as.array(x + matrix(c(100L, 200L), 2, 1)), a + c(100L, 200L))
  expect_identical(as.array(x + a), a + a)
  expect_error(x + c(1L, 2L), "broadcast")
})

test_that("operators reject other R types", {
  x <- as_mlx(1:3)
  expect_error(x + "a", "must be MLX arrays or double")
  expect_error(list(1) * x, "must be MLX arrays or double")
})

test_that("Math group matches base R", {
  a <- matrix(c(0.5, 1.5, 2.25, 3, 0.1, 0.9), 2)
  x <- as_mlx(a)
  for (fn_name in c("abs", "sign", "sqrt", "floor", "ceiling", "trunc", "exp",
                    "expm1", "log", "log2", "log10", "log1p", "sin", "cos",
                    "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh",
                    "asinh", "atanh")) {
    fn <- match.fun(fn_name)
    input <- if (fn_name %in% c("asin", "acos", "atanh")) a / 4 else a
    expect_equal(as.array(fn(as_mlx(input))), fn(input),
      tolerance = 1e-5, label = fn_name
    )
  }
  expect_equal(as.array(acosh(x + 1)), acosh(a + 1), tolerance = 1e-5)
  expect_equal(as.array(log(x, base = 3)), log(a, base = 3), tolerance = 1e-5)
  expect_identical(as.array(round(as_mlx(c(0.5, 1.5, 2.5, -0.5)))), array(c(0, 2, 2, -0), 4))
  expect_equal(as.array(round(as_mlx(c(1.234, 5.678)), 1)), array(c(1.2, 5.7), 2),
    tolerance = 1e-6
  )
  expect_error(gamma(x), "not supported")
})

test_that("cumulative functions follow R's element order", {
  a <- matrix(c(1, 4, 2, 5, 3, 6), 2)
  x <- as_mlx(a)
  expect_identical(as.vector(cumsum(x)), cumsum(a))
  expect_identical(as.vector(cumprod(x)), cumprod(a))
  expect_identical(as.vector(cummax(x)), cummax(a))
  expect_identical(as.vector(cummin(x)), cummin(a))
})

test_that("Summary group and mean match base R", {
  a <- array(c(3, -1, 4, 1, -5, 9, 2, 6), c(2, 2, 2))
  x <- as_mlx(a)
  expect_identical(as.vector(sum(x)), sum(a))
  expect_identical(as.vector(prod(x)), prod(a))
  expect_identical(as.vector(max(x)), max(a))
  expect_identical(as.vector(min(x)), min(a))
  expect_identical(as.vector(range(x)), range(a))
  expect_identical(as.vector(mean(x)), mean(a))
  expect_true(as.vector(any(x > 8)))
  expect_false(as.vector(all(x > 0)))
  expect_error(sum(x, x), "exactly one MLX array")
  expect_error(sum(x, na.rm = TRUE), "must be FALSE")
  expect_error(max(mlx_zeros(0)), "at least one element")
})

test_that("axis reductions match apply()", {
  a <- array(as.double(c(3, -1, 4, 1, -5, 9, 2, 6, 5, 3, 5, 8)), c(2, 3, 2))
  x <- as_mlx(a)
  expect_mlx_equal(mlx_sum(x, axis = 1), apply(a, c(2, 3), sum))
  expect_mlx_equal(mlx_sum(x, axis = c(1, 3)), array(apply(a, 2, sum), 3))
  expect_mlx_equal(mlx_mean(x, axis = -1), apply(a, c(1, 2), mean))
  expect_mlx_equal(mlx_max(x, axis = 2), apply(a, c(1, 3), max))
  expect_mlx_equal(mlx_min(x, axis = 3), apply(a, c(1, 2), min))
  expect_identical(dim(mlx_sum(x, axis = 2, keepdims = TRUE)), c(2L, 1L, 2L))
  expect_identical(as.vector(mlx_sum(x)), sum(a))
})

test_that("argmax and argmin give 1-based R positions", {
  a <- matrix(c(3, 9, 4, 1, 5, 2), 2)
  x <- as_mlx(a)
  am <- mlx_argmax(x, axis = 2)
  expect_identical(mlx_dtype(am), "int32")
  expect_identical(as.vector(am), apply(a, 1, which.max))
  expect_identical(as.vector(mlx_argmin(x, axis = 1)), apply(a, 2, which.min))
  expect_identical(as.vector(mlx_argmax(x)), which.max(a))
  expect_identical(as.vector(mlx_argmin(x)), which.min(a))
  expect_identical(dim(mlx_argmax(x, axis = 1, keepdims = TRUE)), c(1L, 3L))
  expect_identical(dim(mlx_argmax(x, keepdims = TRUE)), c(1L, 1L))
})

test_that("axis arguments are checked", {
  x <- as_mlx(matrix(1:6, 2))
  expect_error(mlx_sum(x, axis = 0), class = "rmlx_error_axis")
  expect_error(mlx_sum(x, axis = 3), "between 1 and 2")
  expect_error(mlx_sum(x, axis = -3), "between 1 and 2")
  expect_error(mlx_sum(x, axis = c(1, -2)), "same axis twice")
  expect_error(mlx_argmax(x, axis = c(1, 2)), "single whole number")
  expect_snapshot(mlx_mean(x, axis = 0), error = TRUE)
})

test_that("matrix products follow R", {
  a <- matrix(c(1, 2, 3, 4, 5, 6), 2)
  b <- matrix(c(1, 0, -1, 2, 1, 0.5), 3)
  v <- c(1, -1, 2)
  expect_mlx_equal(as_mlx(a) %*% as_mlx(b), a %*% b)
  expect_mlx_equal(as_mlx(a) %*% b, a %*% b)
  expect_mlx_equal(a %*% as_mlx(b), a %*% b)
  expect_mlx_equal(as_mlx(a) %*% v, a %*% v)
  expect_mlx_equal(c(1, 2) %*% as_mlx(a), c(1, 2) %*% a)
  expect_mlx_equal(as_mlx(v) %*% as_mlx(v), v %*% v)
  expect_mlx_equal(as_mlx(matrix(1:4, 2)) %*% as_mlx(matrix(1:4, 2)),
    matrix(1:4, 2) %*% matrix(1:4, 2)
  )
  expect_identical(a %*% b, base::`%*%`(a, b))
})

test_that("t() transposes matrices and vectors", {
  a <- matrix(1:6, 2)
  expect_identical(as.array(t(as_mlx(a))), t(a))
  expect_identical(as.array(t(as_mlx(1:3))), t(1:3))
  expect_error(t(as_mlx(array(1:8, c(2, 2, 2)))), "vector or matrix")
})

test_that("logical arithmetic counts as in R", {
  a <- c(TRUE, FALSE, TRUE)
  b <- c(TRUE, TRUE, FALSE)
  expect_equal(as.vector(as_mlx(a) + as_mlx(b)), a + b)
  expect_equal(as.vector(as_mlx(a) - TRUE), a - TRUE)
  expect_equal(as.vector(as_mlx(a) * as_mlx(b)), a * b)
})

test_that("integer powers give doubles as in R", {
  x <- c(-3L, 1L, 7L)
  expect_equal(as.vector(as_mlx(x)^-2L), x^-2L, tolerance = 1e-6)
  expect_equal(as.vector(2L^as_mlx(x)), 2L^x, tolerance = 1e-6)
})

test_that("assignment into an array is an error", {
  b <- as_mlx(matrix(1:12, 3))
  expect_error(b[1, 1] <- 100L, "cannot be modified in place")
})
