act_fx <- read_fixture("activations")

activation_cases <- list(
  relu = list(layer = mlx_relu, fn = mlx_act_relu),
  leaky_relu = list(layer = mlx_leaky_relu, fn = mlx_act_leaky_relu),
  leaky_relu_0.2 = list(
    layer = function() mlx_leaky_relu(0.2),
    fn = function(x) mlx_act_leaky_relu(x, 0.2)
  ),
  sigmoid = list(layer = mlx_sigmoid, fn = mlx_act_sigmoid),
  tanh = list(layer = mlx_tanh, fn = mlx_act_tanh),
  silu = list(layer = mlx_silu, fn = mlx_act_silu),
  gelu = list(layer = mlx_gelu, fn = mlx_act_gelu),
  gelu_approx = list(
    layer = function() mlx_gelu("precise"),
    fn = mlx_act_gelu_approx
  ),
  gelu_fast_approx = list(
    layer = function() mlx_gelu("fast"),
    fn = mlx_act_gelu_fast_approx
  )
)

test_that("activation layers match MLX", {
  for (name in names(activation_cases)) {
    layer <- activation_cases[[name]]$layer()
    expect_equal(as.array(mlx_forward(layer, act_fx$x)), act_fx[[name]],
                 tolerance = 1e-6, label = name)
  }
})

test_that("activation functions match MLX", {
  for (name in names(activation_cases)) {
    y <- activation_cases[[name]]$fn(act_fx$x)
    expect_equal(as.array(y), act_fx[[name]], tolerance = 1e-6, label = name)
  }
})

test_that("activations handle Inf and NaN", {
  for (name in names(activation_cases)) {
    y <- as.array(mlx_forward(activation_cases[[name]]$layer(), act_fx$x_special))
    expected <- act_fx[[paste0(name, "_special")]]
    expect_identical(is.nan(y), is.nan(expected), label = name)
    expect_equal(y, expected, label = name)
  }
})

test_that("activations match PyTorch", {
  for (name in names(activation_cases)) {
    expected <- act_fx[[paste0("torch_", name)]]
    if (is.null(expected)) next
    y <- mlx_forward(activation_cases[[name]]$layer(), act_fx$x)
    expect_equal(as.array(y), expected, tolerance = 1e-5, label = name)
  }
})

test_that("activations match base R formulas", {
  x <- c(act_fx$x)
  sigmoid <- 1 / (1 + exp(-x))
  expect_equal(c(as.array(mlx_act_relu(x))), pmax(x, 0))
  expect_equal(c(as.array(mlx_act_sigmoid(x))), sigmoid, tolerance = 1e-6)
  expect_equal(c(as.array(mlx_act_tanh(x))), tanh(x), tolerance = 1e-6)
  expect_equal(c(as.array(mlx_act_silu(x))), x * sigmoid, tolerance = 1e-6)
  expect_equal(c(as.array(mlx_act_gelu(x))), x * pnorm(x), tolerance = 1e-5)
})

test_that("gelu tanh is an alias of precise", {
  expect_equal(as.array(mlx_forward(mlx_gelu("tanh"), act_fx$x)),
               act_fx$gelu_approx, tolerance = 1e-6)
  expect_error(mlx_gelu("exact"))
})

test_that("softmax layer matches MLX", {
  y <- mlx_forward(mlx_softmax_layer(), act_fx$softmax_x)
  expect_mlx_equal(y, act_fx$softmax, tolerance = 1e-6)
  expect_mlx_equal(y, act_fx$torch_softmax, tolerance = 1e-6)
})

test_that("softmax function takes a 1-based axis", {
  expect_mlx_equal(mlx_act_softmax(act_fx$softmax_x), act_fx$softmax,
                   tolerance = 1e-6)
  expect_mlx_equal(mlx_act_softmax(act_fx$softmax_x, axis = 1),
                   act_fx$softmax_axis0, tolerance = 1e-6)
  expect_mlx_equal(mlx_act_softmax(act_fx$softmax_x, axis = 2),
                   act_fx$softmax, tolerance = 1e-6)
})

test_that("activation layers have snake_case classes", {
  expect_s3_class(mlx_relu(), "mlx_relu")
  expect_s3_class(mlx_leaky_relu(), "mlx_leaky_relu")
  expect_s3_class(mlx_silu(), "mlx_silu")
  expect_s3_class(mlx_gelu(), "mlx_gelu")
})

test_that("activation layers have no parameters", {
  for (name in names(activation_cases)) {
    expect_length(mlx_parameters(activation_cases[[name]]$layer()), 0)
  }
})

test_that("activation gradients match finite differences", {
  x <- as_f64(c(-2.5, -0.7, 0.3, 1.9))
  for (name in names(activation_cases)) {
    # A linear layer in front gives the activation a parameter to differentiate.
    mlx_random_seed(1)
    model <- mlx_sequential(mlx_linear(4, 3), activation_cases[[name]]$layer())
    mlx_set_dtype(model, "float64")
    loss <- function(model, x) mlx_sum(mlx_forward(model, x)^2)
    # NOTE: MLX 0.32.4 computes sigmoid (and so silu and gelu) in float64
    # only to about 1e-8, so the step and tolerance are those of float32.
    expect_grad_matches_fd(model, loss, x, h = 1e-3, tolerance = 1e-4,
                           label = name)
  }
})
