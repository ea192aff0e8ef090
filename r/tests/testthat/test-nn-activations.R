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

more_fx <- read_fixture("activations_more")

more_activation_cases <- list(
  relu2 = list(layer = mlx_relu2, fn = mlx_act_relu2),
  relu6 = list(layer = mlx_relu6, fn = mlx_act_relu6),
  elu = list(layer = mlx_elu, fn = mlx_act_elu),
  elu_0.5 = list(
    layer = function() mlx_elu(0.5),
    fn = function(x) mlx_act_elu(x, alpha = 0.5)
  ),
  celu = list(layer = mlx_celu, fn = mlx_act_celu),
  celu_2 = list(
    layer = function() mlx_celu(2),
    fn = function(x) mlx_act_celu(x, alpha = 2)
  ),
  log_sigmoid = list(layer = mlx_log_sigmoid, fn = mlx_act_log_sigmoid),
  mish = list(layer = mlx_mish, fn = mlx_act_mish),
  softplus = list(layer = mlx_softplus, fn = mlx_act_softplus),
  softsign = list(layer = mlx_softsign, fn = mlx_act_softsign),
  softshrink = list(layer = mlx_softshrink, fn = mlx_act_softshrink),
  softshrink_2 = list(
    layer = function() mlx_softshrink(2),
    fn = function(x) mlx_act_softshrink(x, lambd = 2)
  ),
  hard_shrink = list(layer = mlx_hard_shrink, fn = mlx_act_hard_shrink),
  hard_shrink_2 = list(
    layer = function() mlx_hard_shrink(2),
    fn = function(x) mlx_act_hard_shrink(x, lambd = 2)
  ),
  hard_tanh = list(layer = mlx_hard_tanh, fn = mlx_act_hard_tanh),
  `hard_tanh_-2_3` = list(
    layer = function() mlx_hard_tanh(-2, 3),
    fn = function(x) mlx_act_hard_tanh(x, min_val = -2, max_val = 3)
  ),
  hardswish = list(layer = mlx_hardswish, fn = mlx_act_hardswish),
  step = list(layer = mlx_step, fn = mlx_act_step),
  step_1.5 = list(
    layer = function() mlx_step(1.5),
    fn = function(x) mlx_act_step(x, threshold = 1.5)
  )
)

test_that("more activations match MLX", {
  for (name in names(more_activation_cases)) {
    case <- more_activation_cases[[name]]
    expected <- more_fx[[name]]
    expect_equal(as.array(case$fn(more_fx$x)), expected, tolerance = 1e-6,
                 label = paste(name, "function"))
    expect_equal(as.array(mlx_forward(case$layer(), more_fx$x)), expected,
                 tolerance = 1e-6, label = paste(name, "layer"))
  }
})

test_that("more activations match PyTorch", {
  for (name in names(more_activation_cases)) {
    y <- more_activation_cases[[name]]$fn(more_fx$x)
    expect_equal(as.array(y), more_fx[[paste0("torch_", name)]],
                 tolerance = 1e-6, label = name)
  }
})

test_that("more activations handle Inf and NaN", {
  # The shrink functions propagate NaN as PyTorch does; MLX Python gives 0.
  for (name in names(more_activation_cases)) {
    y <- as.array(more_activation_cases[[name]]$fn(more_fx$x_special))
    expected <- more_fx[[paste0(name, "_special")]]
    expect_identical(is.nan(y), is.nan(expected), label = name)
    expect_equal(y, expected, label = name)
  }
})

test_that("elu and celu keep precision near zero", {
  x <- as_mlx(c(-1e-7, -1e-3))
  expect_equal(c(as.array(mlx_act_elu(x))), expm1(c(-1e-7, -1e-3)),
               tolerance = 1e-6)
  expect_equal(c(as.array(mlx_act_celu(x))), expm1(c(-1e-7, -1e-3)),
               tolerance = 1e-6)
})

test_that("step returns int32", {
  expect_identical(mlx_dtype(mlx_act_step(c(-1, 2))), "int32")
})

test_that("selu uses the exact constants", {
  expect_equal(as.array(mlx_act_selu(more_fx$x)), more_fx$selu_exact,
               tolerance = 1e-6)
  expect_equal(as.array(mlx_forward(mlx_selu(), more_fx$x)),
               more_fx$selu_exact, tolerance = 1e-6)
  expect_equal(as.array(mlx_act_selu(more_fx$x)), more_fx$selu_mlx_python,
               tolerance = 1e-5)
})

test_that("softplus and log_sigmoid are exact at 1e4", {
  x <- as_mlx(c(-1e4, -100, 100, 1e4))
  expect_identical(c(as.array(mlx_act_softplus(x))), c(0, 0, 100, 1e4))
  expect_identical(c(as.array(mlx_act_log_sigmoid(x))), c(-1e4, -100, 0, 0))
})

test_that("log_softmax is exact for large logits", {
  y <- c(as.array(mlx_act_log_softmax(as_mlx(c(1e4, 1e4 - 1, -1e4)))))
  expected <- c(0, -1, -2e4) - log1p(exp(-1))
  expect_true(all(is.finite(y)))
  expect_equal(y, expected, tolerance = 1e-7)
})

test_that("log_softmax and softmin match MLX and PyTorch", {
  logits <- more_fx$logits
  for (name in c("log_softmax", "softmin")) {
    fn <- get(paste0("mlx_act_", name))
    layer <- get(paste0("mlx_", name))()
    expect_equal(as.array(fn(logits)), more_fx[[name]], tolerance = 1e-6,
                 label = name)
    expect_equal(as.array(fn(logits, axis = 2)), more_fx[[name]],
                 tolerance = 1e-6, label = name)
    expect_equal(as.array(fn(logits, axis = 1)),
                 more_fx[[paste0(name, "_axis0")]], tolerance = 1e-6,
                 label = name)
    expect_equal(as.array(fn(logits)), more_fx[[paste0("torch_", name)]],
                 tolerance = 1e-6, label = name)
    expect_equal(as.array(mlx_forward(layer, logits)), more_fx[[name]],
                 tolerance = 1e-6, label = name)
  }
})

test_that("glu splits along a 1-based axis", {
  x <- more_fx$glu_x
  expect_equal(as.array(mlx_act_glu(x)), more_fx$glu, tolerance = 1e-6)
  expect_equal(as.array(mlx_act_glu(x, axis = 1)), more_fx$glu_axis0,
               tolerance = 1e-6)
  expect_equal(as.array(mlx_act_glu(x, axis = -3)), more_fx$torch_glu_axis0,
               tolerance = 1e-6)
  expect_equal(as.array(mlx_forward(mlx_glu(), x)), more_fx$glu,
               tolerance = 1e-6)
  expect_equal(as.array(mlx_forward(mlx_glu(axis = 1), x)),
               more_fx$glu_axis0, tolerance = 1e-6)
})

test_that("prelu matches MLX and PyTorch", {
  x <- more_fx$prelu_x
  alpha <- more_fx$prelu_alpha
  expect_equal(as.array(mlx_act_prelu(x, alpha)), more_fx$prelu,
               tolerance = 1e-6)
  expect_equal(as.array(mlx_act_prelu(x, alpha)), more_fx$torch_prelu,
               tolerance = 1e-6)
  expect_equal(as.array(mlx_forward(mlx_prelu(), x)), more_fx$prelu_scalar,
               tolerance = 1e-6)
  layer <- mlx_prelu(3, init = 0.1)
  mlx_param_set_values(layer, list(weight = alpha))
  expect_equal(as.array(mlx_forward(layer, x)), more_fx$prelu,
               tolerance = 1e-6)
})

test_that("prelu layer learns one slope per channel", {
  layer <- mlx_prelu(4, init = 0.5)
  params <- mlx_param_values(layer)
  expect_named(params, "weight")
  expect_equal(c(params$weight), rep(0.5, 4))
  expect_s3_class(layer, "mlx_prelu")
  expect_error(mlx_forward(layer, matrix(0, 2, 3)), class = "rmlx_error_mlx")
})

test_that("more activation layers have snake_case classes", {
  expect_s3_class(mlx_relu6(), "mlx_relu6")
  expect_s3_class(mlx_relu2(), "mlx_relu2")
  expect_s3_class(mlx_log_sigmoid(), "mlx_log_sigmoid")
  expect_s3_class(mlx_hard_tanh(), "mlx_hard_tanh")
  expect_s3_class(mlx_hard_shrink(), "mlx_hard_shrink")
  expect_s3_class(mlx_log_softmax(), "mlx_log_softmax")
  expect_s3_class(mlx_selu(), "mlx_selu")
  expect_s3_class(mlx_glu(), "mlx_glu")
  expect_s3_class(mlx_hardswish(), "mlx_hardswish")
})

test_that("more activation gradients match finite differences", {
  # Inputs away from the kinks at 0, +/-0.5, 2, +/-3 and 6.
  x <- as_f64(c(-2.5, -0.7, 0.3, 1.9))
  layers <- c(
    lapply(more_activation_cases, `[[`, "layer"),
    list(selu = mlx_selu, glu = function() mlx_glu(),
         log_softmax = mlx_log_softmax, softmin = mlx_softmin,
         prelu = function() mlx_prelu(3))
  )
  for (name in names(layers)) {
    if (startsWith(name, "step")) next
    mlx_random_seed(1)
    model <- mlx_sequential(mlx_linear(4, 6), layers[[name]]())
    if (name == "prelu") {
      model <- mlx_sequential(mlx_linear(4, 3), layers[[name]]())
    }
    mlx_set_dtype(model, "float64")
    loss <- function(model, x) mlx_sum(mlx_forward(model, x)^2)
    expect_grad_matches_fd(model, loss, x, h = 1e-3, tolerance = 1e-4,
                           label = name)
  }
})

test_that("elu gradient is finite for large inputs", {
  # MLX Python 0.32.4 gives NaN, as exp(x) overflows in the unused branch.
  layer <- mlx_linear(1, 1)
  mlx_param_set_values(layer, list(weight = matrix(1), bias = 0))
  loss <- function(model, x) mlx_sum(mlx_act_elu(mlx_forward(model, x)))
  x <- matrix(c(-1e4, 89, 100, 1e4), 4, 1)
  grads <- mlx_value_and_grad(layer, loss)(x)$grads
  # d/db is the sum of elu'(x) = (0, 1, 1, 1).
  expect_equal(c(as.array(grads$bias)), 3)
  expect_true(is.finite(as.array(grads$weight)))
})

test_that("activation options are checked", {
  expect_error(mlx_act_celu(1, alpha = 0), "alpha", class = "rmlx_error_invalid_argument")
  expect_error(mlx_celu(0), "alpha", class = "rmlx_error_invalid_argument")
  expect_error(mlx_act_softshrink(1, lambd = -1), "lambd",
               class = "rmlx_error_invalid_argument")
  expect_error(mlx_softshrink(-1), "lambd",
               class = "rmlx_error_invalid_argument")
  expect_error(mlx_act_hard_tanh(1, 2, 1), "min_val",
               class = "rmlx_error_invalid_argument")
  expect_error(mlx_hard_tanh(2, 1), "min_val",
               class = "rmlx_error_invalid_argument")
  expect_error(mlx_act_elu(1, alpha = NA), "alpha")
  expect_error(mlx_step("a"), "threshold")
  expect_error(mlx_prelu(0), "num_parameters")
  expect_error(mlx_act_prelu(1), "alpha")
  expect_error(mlx_act_relu6("a"), "`x`")
})

test_that("activation axes are checked", {
  m <- matrix(1:6, 2, 3)
  expect_error(mlx_act_log_softmax(m, axis = 3), "axis",
               class = "rmlx_error_axis")
  expect_error(mlx_act_softmin(m, axis = 0), "axis")
  expect_error(mlx_act_glu(m, axis = 2), "even")
  expect_error(mlx_act_glu(m, axis = -3), "axis")
  expect_error(mlx_glu(axis = 0), "axis")
  expect_error(mlx_forward(mlx_glu(axis = 5), m), "axis",
               class = "rmlx_error_mlx")
})

test_that("softmax of integers on first axis", {
  counts <- matrix(1:6, 2, 3)
  for (fn in list(mlx_act_softmax, mlx_act_softmin)) {
    out <- fn(counts, axis = 1)
    expect_identical(mlx_dtype(out), "float32")
    expect_equal(as.array(out), as.array(fn(counts + 0, axis = 1)))
  }
  layer_out <- mlx_forward(mlx_softmax_layer(), as_mlx(counts, dtype = "int32"))
  expect_equal(as.array(layer_out), as.array(mlx_act_softmax(counts + 0)))
})
