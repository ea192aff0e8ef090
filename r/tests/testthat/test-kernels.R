# Rmlx's own convolution and pooling kernels against MLX's operations.
# Reference values: tools/fixtures/make_conv_fixtures.py and
# make_pooling_fixtures.py (MLX Python 0.32.4, checked against PyTorch 2.13).

# The gradient of loss(f(x)) with respect to x.
input_gradient <- function(x, f, loss = sine_weighted_sum) {
  probe <- gradient_probe(list(x = as_mlx(x)))
  mlx_value_and_grad(probe, function(model) loss(f(model$x)))()$grads$x
}

test_that("custom kernel switch reports and restores", {
  old <- mlx_custom_kernels()
  expect_true(old)
  expect_true(mlx_custom_kernels(FALSE))
  expect_false(mlx_custom_kernels())
  expect_false(mlx_custom_kernels(old))
  expect_true(mlx_custom_kernels())
  expect_error(mlx_custom_kernels(NA), class = "rmlx_error_invalid_argument")
  expect_error(mlx_custom_kernels("yes"), "enabled")
})

test_that("conv gradients match MLX Python on both paths", {
  cases <- list(
    list(file = "conv2d", case = "basic",
         make = function() mlx_conv2d(3, 4, kernel_size = 3)),
    list(file = "conv2d", case = "no_bias",
         make = function() mlx_conv2d(2, 3, kernel_size = 2, stride = 2,
                                      padding = 1, dilation = 2,
                                      bias = FALSE)),
    list(file = "conv2d", case = "grouped",
         make = function() mlx_conv2d(6, 16, kernel_size = 3, padding = 1,
                                      groups = 2)),
    list(file = "conv2d", case = "winograd",
         make = function() mlx_conv2d(8, 10, kernel_size = 3, padding = 1)),
    list(file = "conv2d", case = "winograd_valid",
         make = function() mlx_conv2d(9, 8, kernel_size = 3)),
    list(file = "conv2d", case = "winograd_wide_padding",
         make = function() mlx_conv2d(8, 8, kernel_size = 3,
                                      padding = c(2, 1), bias = FALSE)),
    list(file = "conv1d", case = "basic",
         make = function() mlx_conv1d(4, 6, kernel_size = 3)),
    list(file = "conv3d", case = "tuples",
         make = function() mlx_conv3d(3, 4, kernel_size = c(2, 1, 3),
                                      stride = c(1, 2, 1),
                                      padding = c(1, 0, 1),
                                      dilation = c(2, 1, 1)))
  )
  for_each_kernel_path({
    for (spec in cases) {
      fixture <- read_fixture(spec$file)
      key <- function(suffix) fixture[[paste0(spec$case, "_", suffix)]]
      layer <- spec$make()
      weights <- list(weight = key("weight"))
      if (!is.null(key("bias"))) weights$bias <- key("bias")
      mlx_load_weights(layer, weights)
      label <- paste(spec$file, spec$case, mlx_custom_kernels())
      loss <- function(model, x) sine_weighted_sum(mlx_forward(model, x))
      grads <- mlx_value_and_grad(layer, loss)(key("x"))$grads
      expect_equal(as.array(grads$weight), as.array(key("dweight")),
                   tolerance = 1e-4, label = label)
      if (!is.null(key("bias"))) {
        expect_equal(as.array(grads$bias), as.array(key("dbias")),
                     tolerance = 1e-4, label = label)
      }
      dx <- input_gradient(key("x"), function(x) mlx_forward(layer, x))
      expect_equal(as.array(dx), as.array(key("dx")), tolerance = 1e-4,
                   label = label)
    }
  })
})

test_that("pooling gradients match MLX Python on both paths", {
  fixture <- read_fixture("pooling")
  cases <- list(
    list(key = "max2d_default", x = "x2d", make = function() mlx_max_pool2d(2)),
    list(key = "avg2d_k3_s2_p1", x = "x2d",
         make = function() mlx_avg_pool2d(3, stride = 2, padding = 1)),
    list(key = "max1d_k3_s2_p1", x = "x1d",
         make = function() mlx_max_pool1d(3, stride = 2, padding = 1)),
    list(key = "max3d_mixed", x = "x3d",
         make = function() mlx_max_pool3d(c(2, 3, 2), stride = c(1, 2, 2),
                                           padding = c(1, 1, 0))),
    list(key = "max2d_ties_k3_s1", x = "x2d_ties",
         make = function() mlx_max_pool2d(3, stride = 1))
  )
  for_each_kernel_path({
    for (spec in cases) {
      pool <- spec$make()
      x <- fixture[[spec$x]]
      label <- paste(spec$key, mlx_custom_kernels())
      expect_equal(as.array(mlx_forward(pool, x)),
                   as.array(fixture[[spec$key]]), tolerance = 1e-6,
                   label = label)
      dx <- input_gradient(x, function(x) mlx_forward(pool, x))
      expect_equal(as.array(dx), as.array(fixture[[paste0("grad_", spec$key)]]),
                   tolerance = 1e-5, label = label)
    }
  })
})

test_that("max pooling gradient of a NaN window is NaN", {
  fixture <- read_fixture("pooling")
  for_each_kernel_path({
    pool <- mlx_max_pool1d(2, stride = 2, padding = 1)
    dx <- input_gradient(fixture$x1d_special,
                         function(x) mlx_forward(pool, x), mlx_sum)
    expected <- as.array(fixture$grad_max1d_special)
    expect_identical(is.nan(as.array(dx)), is.nan(expected))
    expect_equal(as.array(dx)[!is.nan(expected)], expected[!is.nan(expected)])
  })
})
