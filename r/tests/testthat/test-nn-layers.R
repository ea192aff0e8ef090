linear_fx <- read_fixture("linear")
embedding_fx <- read_fixture("embedding")
norm_fx <- read_fixture("normalization")

test_that("linear initial weights match MLX", {
  mlx_random_seed(42)
  layer <- mlx_linear(4, 3)
  params <- mlx_param_values(layer)
  expect_equal(params$weight, linear_fx$weight, tolerance = 1e-6)
  expect_equal(params$bias, linear_fx$bias, tolerance = 1e-6)
})

test_that("linear without bias matches MLX", {
  mlx_random_seed(42)
  layer <- mlx_linear(4, 3, bias = FALSE)
  expect_named(mlx_parameters(layer), "weight")
  expect_equal(mlx_param_values(layer)$weight, linear_fx$no_bias_weight,
               tolerance = 1e-6)
  expect_mlx_equal(mlx_forward(layer, linear_fx$x), linear_fx$y_no_bias,
                   tolerance = 1e-5)
})

test_that("linear forward matches MLX and PyTorch", {
  mlx_random_seed(42)
  layer <- mlx_linear(4, 3)
  y <- mlx_forward(layer, linear_fx$x)
  expect_mlx_equal(y, linear_fx$y, tolerance = 1e-5)
  expect_mlx_equal(y, linear_fx$torch_y, tolerance = 1e-5)
})

test_that("linear forward on rank-3 input", {
  mlx_random_seed(42)
  layer <- mlx_linear(4, 3)
  expect_mlx_equal(mlx_forward(layer, linear_fx$x3), linear_fx$y3,
                   tolerance = 1e-5)
})

test_that("linear forward matches base R", {
  layer <- mlx_linear(4, 3)
  p <- mlx_param_values(layer)
  x <- linear_fx$x
  expected <- x %*% t(p$weight) + matrix(p$bias, nrow(x), 3, byrow = TRUE)
  expect_mlx_equal(mlx_forward(layer, x), expected, tolerance = 1e-5)
})

test_that("embedding initial weights match MLX", {
  mlx_random_seed(42)
  layer <- mlx_embedding(10, 4)
  expect_equal(mlx_param_values(layer)$weight, embedding_fx$weight,
               tolerance = 1e-6)
})

test_that("embedding forward takes 1-based indices", {
  mlx_random_seed(42)
  layer <- mlx_embedding(10, 4)
  indices <- embedding_fx$indices + 1L
  expect_mlx_equal(mlx_forward(layer, indices), embedding_fx$y)
})

test_that("embedding accepts MLX integer indices", {
  mlx_random_seed(42)
  layer <- mlx_embedding(10, 4)
  indices <- as_mlx(embedding_fx$indices + 1L, dtype = "int32")
  expect_mlx_equal(mlx_forward(layer, indices), embedding_fx$y)
})

test_that("embedding index range is checked", {
  layer <- mlx_embedding(10, 4)
  weight <- mlx_param_values(layer)$weight
  last <- as.array(mlx_forward(layer, 10L))
  expect_equal(c(last), weight[10, ])
  expect_error(mlx_forward(layer, 0L), class = "rmlx_error_index")
  expect_error(mlx_forward(layer, 11L), class = "rmlx_error_index")
  expect_error(mlx_forward(layer, c(1L, NA)), "without NA")
  expect_error(mlx_forward(layer, 1.5), "whole-number")
})

test_that("embedding accepts factor indices", {
  layer <- mlx_embedding(3, 2)
  weight <- mlx_param_values(layer)$weight
  labels <- factor(c("c", "a"), levels = c("a", "b", "c"))
  expect_mlx_equal(mlx_forward(layer, labels), weight[c(3, 1), ])
})

test_that("embedding as_linear matches MLX", {
  mlx_random_seed(42)
  layer <- mlx_embedding(10, 4)
  expect_mlx_equal(mlx_as_linear(layer, embedding_fx$x_linear),
                   embedding_fx$y_linear, tolerance = 1e-5)
})

test_that("sequential matches MLX", {
  fx <- read_fixture("containers")
  mlx_random_seed(42)
  model <- mlx_sequential(mlx_linear(4, 8), mlx_relu(), mlx_linear(8, 2))
  params <- mlx_param_values(model)
  expect_named(params, c("layers.0.weight", "layers.0.bias",
                         "layers.2.weight", "layers.2.bias"),
               ignore.order = TRUE)
  for (name in names(params)) {
    expect_equal(params[[name]], fx[[name]], tolerance = 1e-6, label = name)
  }
  expect_mlx_equal(mlx_forward(model, fx$x), fx$y, tolerance = 1e-5)
})

test_that("layer norm variants match MLX", {
  x <- norm_fx$ln_x
  affine <- mlx_layer_norm(4)
  mlx_param_set_values(affine, list(weight = norm_fx$weight, bias = norm_fx$bias))
  expect_mlx_equal(mlx_forward(affine, x), norm_fx$ln_affine, tolerance = 1e-5)
  expect_mlx_equal(mlx_forward(affine, x), norm_fx$torch_ln_affine,
                   tolerance = 1e-5)

  plain <- mlx_layer_norm(4, affine = FALSE)
  expect_length(mlx_parameters(plain), 0)
  expect_mlx_equal(mlx_forward(plain, x), norm_fx$ln_no_affine, tolerance = 1e-5)

  no_bias <- mlx_layer_norm(4, bias = FALSE)
  expect_named(mlx_parameters(no_bias), "weight")
  mlx_param_set_values(no_bias, list(weight = norm_fx$weight))
  expect_mlx_equal(mlx_forward(no_bias, x), norm_fx$ln_no_bias, tolerance = 1e-5)

  eps <- mlx_layer_norm(4, eps = 0.1)
  mlx_param_set_values(eps, list(weight = norm_fx$weight, bias = norm_fx$bias))
  expect_mlx_equal(mlx_forward(eps, x), norm_fx$ln_eps, tolerance = 1e-5)
})

test_that("batch norm train and eval match MLX", {
  for (key in c("2d", "3d", "4d")) {
    fx <- function(name) norm_fx[[paste0(name, "_", key)]]
    bn <- mlx_batch_norm(4, momentum = 0.3)
    mlx_param_set_values(bn, list(weight = norm_fx$weight, bias = norm_fx$bias))
    expect_true(mlx_training(bn))

    expect_mlx_equal(mlx_forward(bn, fx("bn_x")), fx("bn_train1"),
                     tolerance = 1e-5)
    stats <- mlx_param_values(bn)
    expect_equal(stats$running_mean, fx("bn_running_mean1"), tolerance = 1e-5)
    expect_equal(stats$running_var, fx("bn_running_var1"), tolerance = 1e-5)

    expect_mlx_equal(mlx_forward(bn, fx("bn_x2")), fx("bn_train2"),
                     tolerance = 1e-5)
    stats <- mlx_param_values(bn)
    expect_equal(stats$running_mean, fx("bn_running_mean2"), tolerance = 1e-5)
    expect_equal(stats$running_var, fx("bn_running_var2"), tolerance = 1e-5)

    mlx_set_training(bn, FALSE)
    expect_mlx_equal(mlx_forward(bn, fx("bn_x")), fx("bn_eval"),
                     tolerance = 1e-5)
  }
})

test_that("batch norm matches PyTorch BatchNorm1d", {
  bn <- mlx_batch_norm(4, momentum = 0.3)
  mlx_param_set_values(bn, list(weight = norm_fx$weight, bias = norm_fx$bias))
  mlx_forward(bn, norm_fx$bn_x_2d)
  expect_mlx_equal(mlx_forward(bn, norm_fx$bn_x2_2d), norm_fx$torch_bn_train2_2d,
                   tolerance = 1e-5)
  stats <- mlx_param_values(bn)
  expect_equal(stats$running_mean, norm_fx$torch_bn_running_mean2_2d,
               tolerance = 1e-5)
  expect_equal(stats$running_var, norm_fx$torch_bn_running_var2_2d,
               tolerance = 1e-5)
})

test_that("batch norm without affine or stats", {
  bn <- mlx_batch_norm(4, affine = FALSE, track_running_stats = FALSE)
  expect_length(mlx_parameters(bn), 0)
  expect_mlx_equal(mlx_forward(bn, norm_fx$bn_x_3d), norm_fx$bn_plain_train,
                   tolerance = 1e-5)
  mlx_set_training(bn, FALSE)
  expect_mlx_equal(mlx_forward(bn, norm_fx$bn_x_3d), norm_fx$bn_plain_eval,
                   tolerance = 1e-5)
})

test_that("batch norm running stats stay frozen", {
  bn <- mlx_batch_norm(4)
  expect_setequal(names(mlx_parameters(bn, trainable = TRUE)),
                  c("weight", "bias"))
  mlx_unfreeze(bn)
  expect_setequal(names(mlx_parameters(bn, trainable = TRUE)),
                  c("weight", "bias"))
  loss <- function(model, x) mlx_sum(mlx_forward(model, x))
  grads <- mlx_value_and_grad(bn, loss)(norm_fx$bn_x_2d)$grads
  expect_setequal(names(grads), c("weight", "bias"))
})

test_that("dropout mask follows the MLX seed", {
  fx <- read_fixture("dropout")
  mlx_random_seed(7)
  layer <- mlx_dropout(0.25)
  expect_mlx_equal(mlx_forward(layer, fx$x), fx$y, tolerance = 1e-6)
})

test_that("dropout is identity in eval mode", {
  layer <- mlx_dropout(0.5)
  mlx_set_training(layer, FALSE)
  x <- matrix(as.numeric(1:12), 3, 4)
  expect_mlx_equal(mlx_forward(layer, x), x)
})

test_that("dropout scales kept elements", {
  set.seed(1)
  layer <- mlx_dropout(0.25)
  y <- as.array(mlx_forward(layer, matrix(1, 20, 20)))
  kept <- y[y != 0]
  expect_equal(unique(kept), 1 / 0.75, tolerance = 1e-6)
  expect_gt(length(kept), 0)
  expect_lt(length(kept), 400)
})

test_that("layer constructors reject bad arguments", {
  expect_error(mlx_linear(0, 3))
  expect_error(mlx_layer_norm(4, eps = -1), "positive")
  expect_error(mlx_dropout(1), "probability")
  expect_error(mlx_sequential(mlx_linear(2, 2), 3))
})

test_that("random_seed works before R's RNG is used", {
  # A fresh session has no .Random.seed until R first draws.
  saved <- get0(".Random.seed", envir = globalenv(), inherits = FALSE)
  withr::defer(assign(".Random.seed", saved, envir = globalenv()))
  rm(".Random.seed", envir = globalenv())
  mlx_random_seed(42)
  layer <- mlx_linear(4, 3)
  expect_equal(c(mlx_param_values(layer)$bias), c(linear_fx$bias),
               tolerance = 1e-6)
})

norm_fx <- read_fixture("normalization_more")

set_affine <- function(layer) {
  mlx_param_set_values(layer, list(weight = norm_fx$weight,
                                   bias = norm_fx$bias))
  layer
}

test_that("group norm matches MLX", {
  for (compatible in c(FALSE, TRUE)) {
    suffix <- if (compatible) "_pt" else ""
    layer <- set_affine(mlx_group_norm(2, 4, pytorch_compatible = compatible))
    expect_equal(as.array(mlx_forward(layer, norm_fx$x)),
                 norm_fx[[paste0("gn", suffix)]], tolerance = 1e-5)
    plain <- mlx_group_norm(2, 4, affine = FALSE,
                            pytorch_compatible = compatible)
    expect_length(mlx_parameters(plain), 0)
    expect_equal(as.array(mlx_forward(plain, norm_fx$x)),
                 norm_fx[[paste0("gn_no_affine", suffix)]], tolerance = 1e-5)
    eps <- mlx_group_norm(2, 4, eps = 0.5, pytorch_compatible = compatible)
    expect_equal(as.array(mlx_forward(eps, norm_fx$x)),
                 norm_fx[[paste0("gn_eps", suffix)]], tolerance = 1e-5)
    one <- mlx_group_norm(1, 4, pytorch_compatible = compatible)
    expect_equal(as.array(mlx_forward(one, norm_fx$x)),
                 norm_fx[[paste0("gn_one_group", suffix)]], tolerance = 1e-5)
  }
})

test_that("group norm pytorch_compatible matches PyTorch", {
  layer <- set_affine(mlx_group_norm(2, 4, pytorch_compatible = TRUE))
  expect_equal(as.array(mlx_forward(layer, norm_fx$x)), norm_fx$torch_gn_pt,
               tolerance = 1e-5)
})

test_that("group norm float16 does not overflow", {
  x <- as_mlx(norm_fx$gn_x_big, dtype = "float16")
  y <- mlx_forward(mlx_group_norm(2, 4, affine = FALSE), x)
  expect_identical(mlx_dtype(y), "float16")
  expect_equal(as.array(y), norm_fx$gn_big_f16, tolerance = 1e-2)
})

test_that("instance norm matches MLX and PyTorch", {
  expect_equal(as.array(mlx_forward(mlx_instance_norm(4), norm_fx$x)),
               norm_fx$`in`, tolerance = 1e-5)
  expect_equal(as.array(mlx_forward(mlx_instance_norm(4, eps = 0.5),
                                    norm_fx$x)),
               norm_fx$in_eps, tolerance = 1e-5)
  affine <- set_affine(mlx_instance_norm(4, affine = TRUE))
  expect_equal(as.array(mlx_forward(affine, norm_fx$x)), norm_fx$in_affine,
               tolerance = 1e-5)
  expect_equal(as.array(mlx_forward(affine, norm_fx$x)),
               norm_fx$torch_in_affine, tolerance = 1e-5)
  expect_length(mlx_parameters(mlx_instance_norm(4)), 0)
})

test_that("rms norm matches MLX and PyTorch", {
  layer <- mlx_rms_norm(4)
  expect_equal(c(as.array(mlx_param_values(layer)$weight)), rep(1, 4))
  mlx_param_set_values(layer, list(weight = norm_fx$weight))
  expect_equal(as.array(mlx_forward(layer, norm_fx$x)), norm_fx$rms,
               tolerance = 1e-5)
  expect_equal(as.array(mlx_forward(layer, norm_fx$x)), norm_fx$torch_rms,
               tolerance = 1e-5)
  expect_equal(as.array(mlx_forward(mlx_rms_norm(4, eps = 0.5), norm_fx$x)),
               norm_fx$rms_eps, tolerance = 1e-5)
})

test_that("new norms have snake_case classes", {
  expect_s3_class(mlx_group_norm(2, 4), "mlx_group_norm")
  expect_s3_class(mlx_instance_norm(4), "mlx_instance_norm")
  expect_s3_class(mlx_rms_norm(4), "mlx_rms_norm")
})

test_that("new norms reject invalid options", {
  expect_error(mlx_group_norm(3, 4), "multiple",
               class = "rmlx_error_invalid_argument")
  expect_error(mlx_group_norm(0, 4), "num_groups")
  expect_error(mlx_group_norm(2, 4, eps = 0), "eps")
  expect_error(mlx_group_norm(2, 4, pytorch_compatible = NA),
               "pytorch_compatible")
  expect_error(mlx_instance_norm(4, affine = "yes"), "affine")
  expect_error(mlx_rms_norm(0), "dims")
  expect_error(mlx_rms_norm(4, eps = -1), "eps")
  expect_error(mlx_forward(mlx_instance_norm(4), matrix(0, 2, 4)),
               "3 dimensions", class = "rmlx_error_mlx")
  expect_error(mlx_forward(mlx_rms_norm(4), matrix(0, 2, 3)),
               "last dimension", class = "rmlx_error_mlx")
})

test_that("new norm gradients match finite differences", {
  x <- as_f64(array(sin(seq_len(24) * 1.7), c(2, 3, 4)))
  layers <- list(
    group = function() mlx_group_norm(2, 4),
    group_pt = function() mlx_group_norm(2, 4, pytorch_compatible = TRUE),
    instance = function() mlx_instance_norm(4, affine = TRUE),
    rms = function() mlx_rms_norm(4)
  )
  for (name in names(layers)) {
    mlx_random_seed(1)
    model <- mlx_sequential(mlx_linear(4, 4), layers[[name]]())
    mlx_set_dtype(model, "float64")
    loss <- function(model, x) {
      mlx_sum(mlx_forward(model, x) * as_f64(sine_weights(c(2, 3, 4))))
    }
    expect_grad_matches_fd(model, loss, x, h = 1e-3, tolerance = 1e-4,
                           label = name)
  }
})

bilinear_fx <- read_fixture("bilinear")

test_that("bilinear matches MLX and PyTorch", {
  set.seed(1)
  layer <- mlx_bilinear(2, 3, 4)
  expect_identical(dim(mlx_param_values(layer)$weight), c(4L, 3L, 2L))
  mlx_param_set_values(layer, list(weight = bilinear_fx$weight,
                                   bias = bilinear_fx$bias))
  y <- mlx_forward(layer, bilinear_fx$x1, bilinear_fx$x2)
  expect_equal(as.array(y), bilinear_fx$y, tolerance = 1e-5)
  expect_equal(as.array(y), bilinear_fx$torch_y, tolerance = 1e-5)
  no_bias <- mlx_bilinear(2, 3, 4, bias = FALSE)
  expect_named(mlx_param_values(no_bias), "weight")
  mlx_param_set_values(no_bias, list(weight = bilinear_fx$no_bias_weight))
  expect_equal(as.array(mlx_forward(no_bias, bilinear_fx$x1, bilinear_fx$x2)),
               bilinear_fx$y_no_bias, tolerance = 1e-5)
  expect_s3_class(layer, "mlx_bilinear")
})

test_that("bilinear rejects invalid sizes and inputs", {
  expect_error(mlx_bilinear(0, 3, 4), "input1_dims")
  expect_error(mlx_bilinear(2, 3, 4, bias = 1), "bias")
  layer <- mlx_bilinear(2, 3, 4)
  expect_error(mlx_forward(layer, matrix(0, 5, 2), matrix(0, 4, 3)),
               "same leading axes", class = "rmlx_error_mlx")
  expect_error(mlx_forward(layer, matrix(0, 5, 2)))
})

test_that("bilinear gradients match finite differences", {
  mlx_random_seed(2)
  layer <- mlx_bilinear(2, 3, 4)
  mlx_set_dtype(layer, "float64")
  x1 <- as_f64(matrix(sin(1:6), 3, 2))
  x2 <- as_f64(matrix(cos(1:9), 3, 3))
  loss <- function(model, x1, x2) {
    mlx_sum(mlx_forward(model, x1, x2) * as_f64(sine_weights(c(3, 4))))
  }
  expect_grad_matches_fd(layer, loss, x1, x2, h = 1e-3, tolerance = 1e-4)
})
