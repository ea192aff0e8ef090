# Reference values: tools/fixtures/make_conv_fixtures.py (MLX Python 0.32.4
# and PyTorch 2.13). The options of each case repeat that script's CASES.
conv_cases <- list(
  list(file = "conv2d", case = "basic", make = function() {
    mlx_conv2d(3, 4, kernel_size = 3)
  }),
  list(file = "conv2d", case = "tuples", make = function() {
    mlx_conv2d(4, 6, kernel_size = c(3, 2), stride = c(2, 1),
               padding = c(1, 2), dilation = c(2, 1), groups = 2)
  }),
  list(file = "conv2d", case = "no_bias", make = function() {
    mlx_conv2d(2, 3, kernel_size = 2, stride = 2, padding = 1, dilation = 2,
               bias = FALSE)
  }),
  list(file = "conv3d", case = "tuples", make = function() {
    mlx_conv3d(3, 4, kernel_size = c(2, 1, 3), stride = c(1, 2, 1),
               padding = c(1, 0, 1), dilation = c(2, 1, 1))
  }),
  list(file = "conv_transpose1d", case = "options", make = function() {
    mlx_conv_transpose1d(3, 5, kernel_size = 4, stride = 3, padding = 2,
                         dilation = 2, output_padding = 1)
  }),
  list(file = "conv_transpose2d", case = "tuples", make = function() {
    mlx_conv_transpose2d(2, 4, kernel_size = c(3, 2), stride = c(2, 3),
                         padding = c(1, 0), dilation = c(1, 2),
                         output_padding = c(1, 2))
  }),
  list(file = "conv_transpose3d", case = "basic", make = function() {
    mlx_conv_transpose3d(2, 3, kernel_size = 2)
  })
)

conv_fixture <- function(file) {
  mlx_load_safetensors(test_path("fixtures", paste0(file, ".safetensors")))
}

test_that("conv initial weights match MLX Python", {
  for (spec in conv_cases) {
    fixture <- conv_fixture(spec$file)
    mlx_random_seed(42)
    layer <- spec$make()
    expect_equal(
      as.array(mlx_parameters(layer)$weight),
      as.array(fixture[[paste0(spec$case, "_weight")]]),
      tolerance = 1e-6, label = paste(spec$file, spec$case)
    )
  }
})

test_that("conv forward matches MLX Python and PyTorch", {
  for (spec in conv_cases) {
    fixture <- conv_fixture(spec$file)
    layer <- spec$make()
    weights <- list(weight = fixture[[paste0(spec$case, "_weight")]])
    bias <- fixture[[paste0(spec$case, "_bias")]]
    if (!is.null(bias)) weights$bias <- bias
    mlx_load_weights(layer, weights)
    out <- as.array(mlx_forward(layer, fixture[[paste0(spec$case, "_x")]]))
    label <- paste(spec$file, spec$case)
    expect_equal(out, as.array(fixture[[paste0(spec$case, "_y")]]),
                 tolerance = 1e-5, label = label)
    expect_equal(out, as.array(fixture[[paste0(spec$case, "_torch_y")]]),
                 tolerance = 1e-4, label = label)
  }
})

test_that("conv takes R arrays channels last", {
  layer <- mlx_conv1d(2, 1, kernel_size = 2, bias = FALSE)
  mlx_param_set_values(layer, list(weight = array(c(1, 2, 3, 4), c(1, 2, 2))))
  x <- array(seq_len(6), c(1, 3, 2))
  out <- as.array(mlx_forward(layer, x))
  # y[t] = sum over k, c of w[1, k, c] * x[1, t + k - 1, c]
  w <- array(c(1, 2, 3, 4), c(1, 2, 2))
  expected <- vapply(1:2, function(t) {
    sum(w[1, , ] * x[1, t:(t + 1), ])
  }, numeric(1))
  expect_equal(as.vector(out), expected)
  expect_equal(dim(out), c(1L, 2L, 1L))
})

test_that("conv gradients match finite differences", {
  layer <- mlx_conv2d(2, 2, kernel_size = 2, stride = 1, padding = 1)
  x <- as_mlx(array(rnorm(1 * 3 * 3 * 2), c(1, 3, 3, 2)))
  loss <- function(model, x) mlx_sum(mlx_forward(model, x)^2)
  grads <- mlx_value_and_grad(layer, loss)(x)$grads
  w <- as.array(mlx_parameters(layer)$weight)
  numeric_grad <- w
  step <- 1e-2
  for (i in seq_along(w)) {
    up <- w
    up[i] <- up[i] + step
    down <- w
    down[i] <- down[i] - step
    mlx_param_set_values(layer, list(weight = up))
    f_up <- as.numeric(loss(layer, x))
    mlx_param_set_values(layer, list(weight = down))
    f_down <- as.numeric(loss(layer, x))
    numeric_grad[i] <- (f_up - f_down) / (2 * step)
  }
  expect_equal(as.array(grads$weight), numeric_grad, tolerance = 1e-3)
})

test_that("conv rejects bad options", {
  expect_error(mlx_conv2d(3, 4, kernel_size = c(1, 2, 3)), "kernel_size")
  expect_error(mlx_conv2d(0, 4, kernel_size = 3), "in_channels")
  expect_error(mlx_conv2d(3, 4, kernel_size = 3, groups = 2),
               class = "rmlx_error_mlx")
  expect_error(mlx_conv1d(2, 2, kernel_size = NA), "kernel_size")
  layer <- mlx_conv2d(3, 4, kernel_size = 3)
  expect_error(mlx_forward(layer, array(1, c(1, 5, 5, 2))),
               class = "rmlx_error_mlx")
})
