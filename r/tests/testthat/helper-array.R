# Checks that the MLX array `actual` evaluates to the R array `expected`,
# with the same dim.
expect_mlx_equal <- function(actual, expected, tolerance = 1e-6) {
  expect_s3_class(actual, "mlx_array")
  expect_equal(as.array(actual), expected, tolerance = tolerance)
}
