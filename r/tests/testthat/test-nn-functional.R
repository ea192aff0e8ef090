# Reference values: tools/fixtures/make_conv_fixtures.py and
# make_pooling_fixtures.py (MLX Python 0.32.4). The options of each case
# repeat those scripts' CASES, FUNCTIONAL_CASES, POOL_CASES and
# UPSAMPLE_CASES.

# Convolution cases: the functional, the layer (NULL for the grouped
# transposed convolutions, which no layer takes), the layer's channels and
# kernel size, and the options both take.
functional_conv_cases <- list(
  list(file = "conv1d", case = "basic", fn = mlx_fn_conv1d,
       layer = mlx_conv1d, shape = list(4, 6, 3), options = list()),
  list(file = "conv1d", case = "options", fn = mlx_fn_conv1d,
       layer = mlx_conv1d, shape = list(4, 6, 3),
       options = list(stride = 2, padding = 2, dilation = 2, groups = 2)),
  list(file = "conv1d", case = "depthwise", fn = mlx_fn_conv1d,
       layer = mlx_conv1d, shape = list(4, 4, 5),
       options = list(padding = 1, groups = 4)),
  list(file = "conv1d", case = "no_bias", fn = mlx_fn_conv1d,
       layer = mlx_conv1d, shape = list(3, 5, 1), options = list(stride = 3)),
  list(file = "conv2d", case = "basic", fn = mlx_fn_conv2d,
       layer = mlx_conv2d, shape = list(3, 4, 3), options = list()),
  list(file = "conv2d", case = "tuples", fn = mlx_fn_conv2d,
       layer = mlx_conv2d, shape = list(4, 6, c(3, 2)),
       options = list(stride = c(2, 1), padding = c(1, 2),
                      dilation = c(2, 1), groups = 2)),
  list(file = "conv2d", case = "no_bias", fn = mlx_fn_conv2d,
       layer = mlx_conv2d, shape = list(2, 3, 2),
       options = list(stride = 2, padding = 1, dilation = 2)),
  list(file = "conv3d", case = "basic", fn = mlx_fn_conv3d,
       layer = mlx_conv3d, shape = list(2, 3, 2), options = list()),
  list(file = "conv3d", case = "tuples", fn = mlx_fn_conv3d,
       layer = mlx_conv3d, shape = list(3, 4, c(2, 1, 3)),
       options = list(stride = c(1, 2, 1), padding = c(1, 0, 1),
                      dilation = c(2, 1, 1))),
  list(file = "conv3d", case = "no_bias", fn = mlx_fn_conv3d,
       layer = mlx_conv3d, shape = list(2, 2, 1), options = list(stride = 2)),
  list(file = "conv_transpose1d", case = "basic",
       fn = mlx_fn_conv_transpose1d, layer = mlx_conv_transpose1d,
       shape = list(4, 3, 3), options = list()),
  list(file = "conv_transpose1d", case = "options",
       fn = mlx_fn_conv_transpose1d, layer = mlx_conv_transpose1d,
       shape = list(3, 5, 4),
       options = list(stride = 3, padding = 2, dilation = 2,
                      output_padding = 1)),
  list(file = "conv_transpose1d", case = "no_bias",
       fn = mlx_fn_conv_transpose1d, layer = mlx_conv_transpose1d,
       shape = list(2, 2, 2), options = list(stride = 2)),
  list(file = "conv_transpose2d", case = "basic",
       fn = mlx_fn_conv_transpose2d, layer = mlx_conv_transpose2d,
       shape = list(3, 2, 3), options = list()),
  list(file = "conv_transpose2d", case = "tuples",
       fn = mlx_fn_conv_transpose2d, layer = mlx_conv_transpose2d,
       shape = list(2, 4, c(3, 2)),
       options = list(stride = c(2, 3), padding = c(1, 0),
                      dilation = c(1, 2), output_padding = c(1, 2))),
  list(file = "conv_transpose2d", case = "no_bias",
       fn = mlx_fn_conv_transpose2d, layer = mlx_conv_transpose2d,
       shape = list(2, 3, 2), options = list(stride = 2, padding = 1)),
  list(file = "conv_transpose3d", case = "basic",
       fn = mlx_fn_conv_transpose3d, layer = mlx_conv_transpose3d,
       shape = list(2, 3, 2), options = list()),
  list(file = "conv_transpose3d", case = "tuples",
       fn = mlx_fn_conv_transpose3d, layer = mlx_conv_transpose3d,
       shape = list(2, 2, c(2, 1, 3)),
       options = list(stride = c(2, 1, 2), padding = c(0, 0, 1),
                      dilation = c(1, 1, 2), output_padding = c(1, 0, 1))),
  list(file = "conv_functional", case = "conv_transpose1d_grouped",
       fn = mlx_fn_conv_transpose1d, layer = NULL,
       options = list(stride = 2, padding = 1, dilation = 2,
                      output_padding = 1, groups = 2)),
  list(file = "conv_functional", case = "conv_transpose2d_grouped",
       fn = mlx_fn_conv_transpose2d, layer = NULL,
       options = list(stride = c(2, 1), padding = c(0, 1), dilation = c(1, 2),
                      output_padding = c(1, 0), groups = 2))
)

functional_fixture <- function(file) {
  mlx_load_safetensors(test_path("fixtures", paste0(file, ".safetensors")))
}

# The arrays of one convolution case: x, weight, bias (NULL when absent), y
# and the gradients dx, dweight, dbias.
conv_case_arrays <- function(spec) {
  fixture <- functional_fixture(spec$file)
  keys <- c("x", "weight", "bias", "y", "dx", "dweight", "dbias")
  stats::setNames(
    lapply(keys, function(key) fixture[[paste0(spec$case, "_", key)]]),
    keys
  )
}

apply_conv <- function(spec, x, weight, bias) {
  do.call(spec$fn, c(list(x, weight, bias), spec$options))
}

test_that("functional conv matches layers and MLX Python", {
  for (spec in functional_conv_cases) {
    label <- paste(spec$file, spec$case)
    arrays <- conv_case_arrays(spec)
    out <- as.array(apply_conv(spec, arrays$x, arrays$weight, arrays$bias))
    expect_equal(out, as.array(arrays$y), tolerance = 1e-5, label = label)
    if (is.null(spec$layer)) next

    has_bias <- !is.null(arrays$bias)
    layer <- do.call(spec$layer, c(spec$shape, spec$options,
                                   list(bias = has_bias)))
    weights <- list(weight = arrays$weight)
    if (has_bias) weights$bias <- arrays$bias
    mlx_load_weights(layer, weights)
    layer_out <- as.array(mlx_forward(layer, arrays$x))
    expect_equal(out, layer_out, tolerance = 1e-6, label = label)
  }
})

test_that("functional conv gradients match MLX Python", {
  for (spec in functional_conv_cases) {
    label <- paste(spec$file, spec$case)
    arrays <- conv_case_arrays(spec)
    inputs <- list(x = arrays$x, weight = arrays$weight)
    if (!is.null(arrays$bias)) inputs$bias <- arrays$bias
    probe <- gradient_probe(inputs)
    weights <- as_mlx(sine_weights(dim(arrays$y)))
    loss <- function(model) {
      y <- apply_conv(spec, model$x, model$weight, model$bias)
      mlx_sum(y * weights)
    }
    grads <- mlx_value_and_grad(probe, loss)()$grads
    expect_setequal(names(grads), names(inputs))
    expect_equal(as.array(grads$x), as.array(arrays$dx), tolerance = 1e-4,
                 label = paste(label, "dx"))
    expect_equal(as.array(grads$weight), as.array(arrays$dweight),
                 tolerance = 1e-4, label = paste(label, "dweight"))
    if (!is.null(arrays$bias)) {
      expect_equal(as.array(grads$bias), as.array(arrays$dbias),
                   tolerance = 1e-4, label = paste(label, "dbias"))
    }
  }
})

test_that("functional conv takes R arrays", {
  arrays <- conv_case_arrays(functional_conv_cases[[2]])
  from_mlx <- mlx_fn_conv1d(arrays$x, arrays$weight, arrays$bias, stride = 2,
                            padding = 2, dilation = 2, groups = 2)
  from_r <- mlx_fn_conv1d(as.array(arrays$x), as.array(arrays$weight),
                          as.vector(as.array(arrays$bias)), stride = 2,
                          padding = 2, dilation = 2, groups = 2)
  expect_s3_class(from_r, "mlx_array")
  expect_identical(mlx_dtype(from_r), "float32")
  expect_equal(as.array(from_r), as.array(from_mlx))
})

test_that("functional conv rejects bad input", {
  x <- array(1, c(1, 5, 5, 2))
  weight <- array(1, c(4, 3, 3, 2))
  expect_error(mlx_fn_conv2d(array(1, c(5, 5, 2)), weight), "`x`",
               class = "rmlx_error_invalid_argument")
  expect_error(mlx_fn_conv2d(x, array(1, c(4, 3, 2))), "`weight`",
               class = "rmlx_error_invalid_argument")
  expect_error(mlx_fn_conv2d(array(1, c(1, 5, 5, 3)), weight),
               "last dimension of `x`", class = "rmlx_error_invalid_argument")
  expect_error(mlx_fn_conv2d(array(1, c(1, 5, 5, 4)), array(1, c(3, 3, 3, 2)),
                             groups = 2),
               "divisible by `groups`", class = "rmlx_error_invalid_argument")
  expect_error(mlx_fn_conv2d(x, weight, bias = c(1, 2)), "`bias`",
               class = "rmlx_error_invalid_argument")
  expect_error(mlx_fn_conv2d(x, weight, stride = 0), "`stride`",
               class = "rmlx_error_invalid_argument")
  expect_error(mlx_fn_conv2d(x, weight, padding = c(0, -1)), "`padding`",
               class = "rmlx_error_invalid_argument")
  expect_error(mlx_fn_conv2d(x, weight, dilation = c(1, 1, 1)), "`dilation`",
               class = "rmlx_error_invalid_argument")
  expect_error(mlx_fn_conv2d(x, weight, groups = 0), "`groups`",
               class = "rmlx_error_invalid_argument")
  expect_error(mlx_fn_conv2d("x", weight), "`x`",
               class = "rmlx_error_invalid_argument")
  expect_error(mlx_fn_conv_transpose1d(array(1, c(1, 4, 2)),
                                       array(1, c(3, 3, 2)), stride = 2,
                                       output_padding = 2),
               "`output_padding`", class = "rmlx_error_invalid_argument")
  # MLX's own checks: a kernel larger than the input, and groups in 3-d.
  expect_error(mlx_fn_conv2d(array(1, c(1, 2, 2, 2)), weight),
               class = "rmlx_error_mlx")
  expect_error(mlx_fn_conv3d(array(1, c(1, 2, 2, 2, 4)),
                             array(1, c(2, 1, 1, 1, 2)), groups = 2),
               class = "rmlx_error_mlx")

  error <- tryCatch(mlx_fn_conv2d(x, weight, stride = 0),
                    error = function(e) e)
  expect_identical(as.character(error$call[[1]]), "mlx_fn_conv2d")
  error <- tryCatch(mlx_fn_conv2d(array(1, c(1, 2, 2, 2)), weight),
                    error = function(e) e)
  expect_identical(as.character(error$call[[1]]), "mlx_fn_conv2d")
})

test_that("functional pooling matches layers and MLX Python", {
  fixture <- functional_fixture("pooling")
  # (key, dims, kernel_size, stride, padding)
  cases <- list(
    list("default", 1, 2, NULL, 0),
    list("k3_s1", 1, 3, 1, 0),
    list("k3_s2_p1", 1, 3, 2, 1),
    list("tuple", 1, 4, 3, 2),
    list("window_only_padding", 1, 2, 1, 2),
    list("default", 2, 2, NULL, 0),
    list("k3_s1", 2, 3, 1, 0),
    list("mixed", 2, c(2, 3), c(1, 2), c(1, 1)),
    list("k3_s2_p1", 2, 3, 2, 1),
    list("window_only_padding", 2, 2, 2, c(0, 2)),
    list("default", 3, 2, NULL, 0),
    list("mixed", 3, c(2, 3, 2), c(1, 2, 2), c(1, 1, 0)),
    list("k3_s2_p1", 3, 3, 2, 1)
  )
  functions <- list(
    max = list(mlx_fn_max_pool1d, mlx_fn_max_pool2d, mlx_fn_max_pool3d),
    avg = list(mlx_fn_avg_pool1d, mlx_fn_avg_pool2d, mlx_fn_avg_pool3d)
  )
  layers <- list(
    max = list(mlx_max_pool1d, mlx_max_pool2d, mlx_max_pool3d),
    avg = list(mlx_avg_pool1d, mlx_avg_pool2d, mlx_avg_pool3d)
  )
  for (case in cases) {
    dims <- case[[2]]
    x <- fixture[[paste0("x", dims, "d")]]
    for (kind in c("max", "avg")) {
      key <- paste0(kind, dims, "d_", case[[1]])
      out <- functions[[kind]][[dims]](x, case[[3]], case[[4]], case[[5]])
      layer <- layers[[kind]][[dims]](case[[3]], case[[4]], case[[5]])
      expect_equal(as.array(out), as.array(fixture[[key]]), tolerance = 1e-6,
                   label = key)
      expect_equal(as.array(out), as.array(mlx_forward(layer, x)),
                   label = key)

      probe <- gradient_probe(list(x = x))
      weights <- as_mlx(sine_weights(dim(out)))
      loss <- function(model) {
        y <- functions[[kind]][[dims]](model$x, case[[3]], case[[4]],
                                       case[[5]])
        mlx_sum(y * weights)
      }
      grads <- mlx_value_and_grad(probe, loss)()$grads
      expect_equal(as.array(grads$x),
                   as.array(fixture[[paste0("grad_", key)]]),
                   tolerance = 1e-5, label = paste(key, "gradient"))
    }
  }
})

test_that("functional pooling rejects bad input", {
  x <- array(1, c(1, 4, 4, 2))
  expect_error(mlx_fn_max_pool2d(x, c(1, 2, 3)), "`kernel_size`",
               class = "rmlx_error_invalid_argument")
  expect_error(mlx_fn_avg_pool2d(x, 2, stride = "a"), "`stride`",
               class = "rmlx_error_invalid_argument")
  expect_error(mlx_fn_max_pool2d(list(1), 2), "`x`",
               class = "rmlx_error_invalid_argument")
  # The layer's own checks, in C++: a kernel size of 0 and a wrong rank.
  expect_error(mlx_fn_max_pool2d(x, 0), "MaxPool2d", class = "rmlx_error_mlx")
  expect_error(mlx_fn_avg_pool1d(x, 2), "AvgPool1d", class = "rmlx_error_mlx")
  error <- tryCatch(mlx_fn_max_pool2d(x, 0), error = function(e) e)
  expect_identical(as.character(error$call[[1]]), "mlx_fn_max_pool2d")
})

test_that("functional upsample matches layer and MLX Python", {
  fixture <- functional_fixture("upsample")
  # (key, input, scale_factor, mode, align_corners, antialias)
  cases <- list(
    list("nearest_2", "x2d", 2, "nearest", FALSE, FALSE),
    list("nearest_2_3", "x2d", c(2, 3), "nearest", FALSE, FALSE),
    list("nearest_1d_2_5", "x1d", 2.5, "nearest", FALSE, FALSE),
    list("linear_2_align", "x2d", 2, "linear", TRUE, FALSE),
    list("linear_1_5", "x2d", c(1.5, 2.5), "linear", FALSE, FALSE),
    list("linear_3d_2", "x3d", 2, "linear", FALSE, FALSE),
    list("cubic_2", "x2d", 2, "cubic", FALSE, FALSE),
    list("cubic_2_align", "x2d", 2, "cubic", TRUE, FALSE),
    list("linear_aa_0_5", "x2d_large", 0.5, "linear", FALSE, TRUE),
    list("cubic_aa_1_5", "x2d", 1.5, "cubic", FALSE, TRUE)
  )
  for (case in cases) {
    x <- fixture[[case[[2]]]]
    out <- mlx_fn_upsample(x, case[[3]], mode = case[[4]],
                           align_corners = case[[5]], antialias = case[[6]])
    layer <- mlx_upsample(case[[3]], mode = case[[4]],
                          align_corners = case[[5]], antialias = case[[6]])
    expect_equal(as.array(out), as.array(fixture[[case[[1]]]]),
                 tolerance = 1e-5, label = case[[1]])
    expect_equal(as.array(out), as.array(mlx_forward(layer, x)),
                 label = case[[1]])
  }
})

test_that("functional upsample rejects bad input", {
  x <- array(1, c(1, 3, 3, 2))
  expect_error(mlx_fn_upsample(x, -1), "`scale_factor`",
               class = "rmlx_error_invalid_argument")
  expect_error(mlx_fn_upsample(x, 2, mode = "area"), "mode")
  expect_error(mlx_fn_upsample(x, 2, align_corners = NA), "`align_corners`",
               class = "rmlx_error_invalid_argument")
  expect_error(mlx_fn_upsample(x, 2, antialias = TRUE), "Upsample",
               class = "rmlx_error_mlx")
  expect_error(mlx_fn_upsample(array(1, c(3, 3)), 2), "Upsample",
               class = "rmlx_error_mlx")
  expect_error(mlx_fn_upsample(x, c(2, 2, 2)), "Upsample",
               class = "rmlx_error_mlx")
})

test_that("functional channel dropout matches MLX Python", {
  fixture <- functional_fixture("dropout_channels")
  mlx_random_seed(21)
  out_4d <- mlx_fn_dropout2d(fixture$x4, p = 0.5)
  out_3d <- mlx_fn_dropout2d(fixture$x3, p = 0.25)
  expect_equal(as.array(out_4d), as.array(fixture$dropout2d_4d))
  expect_equal(as.array(out_3d), as.array(fixture$dropout2d_3d))
  mlx_random_seed(22)
  out_5d <- mlx_fn_dropout3d(fixture$x5, p = 0.5)
  out_4d <- mlx_fn_dropout3d(fixture$x4_3d, p = 0.25)
  expect_equal(as.array(out_5d), as.array(fixture$dropout3d_5d))
  expect_equal(as.array(out_4d), as.array(fixture$dropout3d_4d))
})

test_that("functional channel dropout matches layer", {
  x <- array(seq_len(2 * 3 * 3 * 8), c(2, 3, 3, 8))
  layer <- mlx_dropout2d(0.5)
  set.seed(7)
  from_layer <- as.array(mlx_forward(layer, x))
  set.seed(7)
  from_function <- as.array(mlx_fn_dropout2d(x, 0.5))
  expect_identical(from_function, from_layer)
})

test_that("functional channel dropout passes x in evaluation", {
  x <- array(seq_len(2 * 2 * 3 * 3 * 4), c(2, 2, 3, 3, 4))
  set.seed(3)
  state <- .Random.seed
  out <- mlx_fn_dropout3d(x, p = 0.5, training = FALSE)
  expect_equal(as.array(out), x)
  expect_identical(.Random.seed, state)
})

test_that("functional channel dropout rejects bad input", {
  x <- array(1, c(1, 3, 3, 2))
  expect_error(mlx_fn_dropout2d(x, p = 1), "probability",
               class = "rmlx_error_invalid_argument")
  expect_error(mlx_fn_dropout2d(x, training = NA), "`training`",
               class = "rmlx_error_invalid_argument")
  # Dropout3d takes 4-d and 5-d input, also in evaluation mode.
  flat <- array(1, c(3, 3, 2))
  expect_error(mlx_fn_dropout3d(flat), "Dropout3d", class = "rmlx_error_mlx")
  expect_error(mlx_fn_dropout3d(flat, training = FALSE), "Dropout3d",
               class = "rmlx_error_mlx")
})
