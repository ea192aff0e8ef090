# Quantized layers, mlx_quantize() and the quantized array operations,
# against values from tools/fixtures/make_quantized_fixtures.py (MLX Python
# 0.32.4).

quantized_fx <- mlx_load_safetensors(test_path("fixtures", "quantized_layers.safetensors"))
quantize_fx <- mlx_load_safetensors(test_path("fixtures", "quantize.safetensors"))

layer_cases <- list(
  list(mode = "affine", group_size = 64, bits = 4),
  list(mode = "affine", group_size = 32, bits = 2),
  list(mode = "affine", group_size = 64, bits = 3),
  list(mode = "affine", group_size = 32, bits = 1),
  list(mode = "affine", group_size = 64, bits = 6),
  list(mode = "mxfp4", group_size = 32, bits = 4),
  list(mode = "nvfp4", group_size = 16, bits = 4),
  list(mode = "mxfp8", group_size = 32, bits = 8)
)
array_cases <- c(layer_cases, list(list(mode = "affine", group_size = 128, bits = 8)))

case_name <- function(case) {
  sprintf("%s_g%d_b%d", case$mode, case$group_size, case$bits)
}

expect_same_array <- function(actual, expected, label) {
  expect_identical(mlx_dtype(actual), mlx_dtype(expected), label = label)
  expect_equal(as.array(actual), as.array(expected), label = label)
}

test_that("quantized linear from linear matches MLX Python", {
  for (case in layer_cases) {
    prefix <- paste0(case_name(case), "_linear_")
    linear <- mlx_linear(64, 5)
    mlx_load_weights(linear, list(weight = quantized_fx[[paste0(prefix, "weight")]],
                                  bias = quantized_fx[[paste0(prefix, "bias")]]))

    layer <- mlx_to_quantized(linear, case$group_size, case$bits, case$mode)

    params <- mlx_parameters(layer)
    expected_names <- c("weight", "scales", if (case$mode == "affine") "biases", "bias")
    expect_identical(names(params), expected_names, label = case_name(case))
    for (name in names(params)) {
      expect_same_array(params[[name]], quantized_fx[[paste0(prefix, "param_", name)]],
                        paste(case_name(case), name))
    }
    expect_equal(as.array(mlx_forward(layer, quantized_fx$x)),
                 as.array(quantized_fx[[paste0(prefix, "y")]]),
                 tolerance = 1e-5, label = case_name(case))
    expect_identical(names(mlx_parameters(layer, trainable = TRUE)), "bias")
  }
})

test_that("quantized embedding from embedding matches MLX Python", {
  ids <- as.array(quantized_fx$ids) + 1L
  for (case in layer_cases) {
    prefix <- paste0(case_name(case), "_embedding_")
    embedding <- mlx_embedding(10, 64)
    mlx_load_weights(embedding, list(weight = quantized_fx[[paste0(prefix, "weight")]]))

    layer <- mlx_to_quantized(embedding, case$group_size, case$bits, case$mode)

    expect_s3_class(layer, "mlx_quantized_embedding")
    for (name in names(mlx_parameters(layer))) {
      expect_same_array(mlx_parameters(layer)[[name]],
                        quantized_fx[[paste0(prefix, "param_", name)]],
                        paste(case_name(case), name))
    }
    expected <- as.array(quantized_fx[[paste0(prefix, "y")]])
    expect_equal(as.array(mlx_forward(layer, ids)), expected, tolerance = 1e-6,
                 label = case_name(case))
    expect_equal(as.array(mlx_forward(layer, as_mlx(ids, dtype = "int32"))),
                 expected, tolerance = 1e-6, label = case_name(case))
    expect_equal(as.array(mlx_as_linear(layer, quantized_fx$x)),
                 as.array(quantized_fx[[paste0(prefix, "as_linear")]]),
                 tolerance = 1e-5, label = case_name(case))
  }
})

test_that("quantized layers from scratch follow the seed", {
  mlx_random_seed(5)
  layer <- mlx_quantized_linear(64, 4)
  params <- mlx_parameters(layer)
  expect_same_array(params$weight, quantized_fx$scratch_linear_weight, "weight")
  expect_same_array(params$scales, quantized_fx$scratch_linear_scales, "scales")
  expect_same_array(params$biases, quantized_fx$scratch_linear_biases, "biases")
  expect_equal(as.vector(as.array(params$bias)), rep(0, 4))
  expect_length(mlx_parameters(layer, trainable = TRUE), 0)

  mlx_random_seed(5)
  emb <- mlx_quantized_embedding(6, 32, group_size = 32, bits = 8)
  expect_same_array(mlx_parameters(emb)$weight,
                    quantized_fx$scratch_embedding_weight, "embedding weight")
})

test_that("quantized embedding checks R indices", {
  emb <- mlx_quantized_embedding(4, 64)
  expect_error(mlx_forward(emb, c(0L, 1L)), class = "rmlx_error_index")
  expect_error(mlx_forward(emb, 5L), class = "rmlx_error_index")
  out <- as.array(mlx_forward(emb, as_mlx(c(1L, 9L), dtype = "int32")))
  expect_false(anyNA(out[1, ]))
  expect_true(all(is.nan(out[2, ])))
})

test_that("quantized layers print as MLX Python", {
  expect_match(format(mlx_quantized_linear(64, 8)),
               "QuantizedLinear(input_dims=64, output_dims=8, bias=True, group_size=64, bits=4, mode=affine)",
               fixed = TRUE)
  expect_match(format(mlx_quantized_embedding(10, 64, mode = "mxfp4")),
               "QuantizedEmbedding(10, 64, group_size=32, bits=4, mode=mxfp4)",
               fixed = TRUE)
})

test_that("quantization settings are checked", {
  expect_error(mlx_quantized_linear(64, 8, mode = "int4"), "mode")
  expect_error(mlx_quantized_linear(64, 8, group_size = 16), "group_size")
  expect_error(mlx_quantized_linear(64, 8, bits = 7), "bits")
  expect_error(mlx_quantized_linear(64, 8, mode = "mxfp4", group_size = 64),
               "group_size")
  expect_error(mlx_quantized_linear(64, 8, mode = "mxfp8", bits = 4), "bits")
  expect_error(mlx_quantized_linear(100, 8), "multiple of")
  expect_error(mlx_quantized_embedding(10, 48), "multiple of")
  expect_error(mlx_to_quantized(mlx_relu()), "linear or embedding")
  expect_error(mlx_to_quantized(mlx_linear(8, 2)), "multiple of")
  expect_error(mlx_forward(mlx_quantized_linear(64, 2), matrix(1, 2, 32)),
               "last dimension 64")
})

test_that("quantize a model matches MLX Python", {
  model <- mlx_sequential(mlx_linear(64, 8), mlx_relu(), mlx_linear(8, 2))
  floats <- quantized_fx[startsWith(names(quantized_fx), "model_float_")]
  names(floats) <- sub("model_float_", "", names(floats))
  mlx_load_weights(model, floats)

  expect_warning(
    mlx_quantize(model, group_size = 32, bits = 4),
    "layers.2 (Linear, input size 8, group size 32)", fixed = TRUE
  )

  types <- vapply(mlx_named_modules(model), function(m) class(m)[[1]], "")
  expect_identical(unname(types[c("layers.0", "layers.2")]),
                   c("mlx_quantized_linear", "mlx_linear"))
  expect_equal(as.array(mlx_forward(model, quantized_fx$x)),
               as.array(quantized_fx$model_y), tolerance = 1e-5)
  path <- withr::local_tempfile(fileext = ".safetensors")
  mlx_save_weights(model, path)
  expect_setequal(names(mlx_load(path)),
                  c("layers.0.weight", "layers.0.scales", "layers.0.biases",
                    "layers.0.bias", "layers.2.weight", "layers.2.bias"))

  mlx_dequantize(model)
  types <- vapply(mlx_named_modules(model), function(m) class(m)[[1]], "")
  expect_identical(unname(types[["layers.0"]]), "mlx_linear")
  expect_equal(as.array(mlx_forward(model, quantized_fx$x)),
               as.array(quantized_fx$model_y), tolerance = 1e-5)
})

test_that("class predicate chooses layers and settings", {
  set.seed(3)
  model <- mlx_sequential(mlx_linear(64, 64), mlx_relu(), mlx_linear(64, 32),
                          mlx_embedding(5, 32))
  seen <- character()
  mlx_quantize(model, class_predicate = function(path, layer) {
    seen <<- c(seen, path)
    if (path == "layers.0") list(bits = 8, group_size = 32)
    else if (path == "layers.3") list(mode = "mxfp4")
    else FALSE
  })

  expect_identical(seen, c("layers.0", "layers.1", "layers.2", "layers.3"))
  expect_match(format(model), "layers.0): QuantizedLinear(input_dims=64, output_dims=64, bias=True, group_size=32, bits=8", fixed = TRUE)
  expect_match(format(model), "layers.2): Linear", fixed = TRUE)
  expect_match(format(model), "QuantizedEmbedding(5, 32, group_size=32, bits=4, mode=mxfp4)", fixed = TRUE)

  expect_error(mlx_quantize(model, class_predicate = function(path, layer) TRUE),
               "only linear and embedding")
  expect_error(mlx_quantize(model, class_predicate = function(path, layer) "yes"),
               "must return TRUE, FALSE or a list")
  expect_error(mlx_quantize(model, class_predicate = function(path, layer) list(bits = 7)),
               "bits")
})

test_that("quantize reaches layers inside R modules", {
  block <- mlx_module("Block",
    initialize = function() {
      self$proj <- mlx_linear(32, 4)
      self$extra <- list(mlx_linear(32, 32))
    },
    forward = function(x) mlx_forward(self$proj, mlx_forward(self$extra[[1]], x))
  )
  model <- block()
  x <- as_mlx(matrix(rnorm(64), 2, 32))
  before <- as.array(mlx_forward(model, x))

  mlx_quantize(model, group_size = 32, bits = 8)

  expect_s3_class(model$proj, "mlx_quantized_linear")
  expect_s3_class(model$extra[[1]], "mlx_quantized_linear")
  expect_equal(as.array(mlx_forward(model, x)), before, tolerance = 0.05)
})

test_that("a single layer quantizes to a new layer", {
  layer <- mlx_linear(64, 2)
  quantized <- mlx_quantize(layer)
  expect_s3_class(quantized, "mlx_quantized_linear")
  expect_s3_class(mlx_dequantize(quantized), "mlx_linear")
})

test_that("array quantize matches MLX Python for every mode", {
  w <- quantize_fx$w
  for (case in array_cases) {
    name <- case_name(case)
    packed <- mlx_quantize(w, case$group_size, case$bits, case$mode)
    expect_identical(names(packed), c("weight", "scales", if (case$mode == "affine") "biases"))
    expect_same_array(packed$weight, quantize_fx[[paste0(name, "_wq")]], name)
    expect_same_array(packed$scales, quantize_fx[[paste0(name, "_scales")]], name)

    settings <- list(group_size = case$group_size, bits = case$bits, mode = case$mode)
    dequantized <- do.call(mlx_dequantize, c(list(packed$weight, packed$scales, packed$biases), settings))
    expect_equal(as.array(dequantized), as.array(quantize_fx[[paste0(name, "_dequantized")]]),
                 label = name)
    product <- do.call(mlx_quantized_matmul, c(list(quantize_fx$x, packed$weight, packed$scales, packed$biases), settings))
    expect_equal(as.array(product), as.array(quantize_fx[[paste0(name, "_matmul")]]),
                 tolerance = 1e-5, label = name)
    product <- do.call(mlx_quantized_matmul, c(list(quantize_fx$x_t, packed$weight, packed$scales, packed$biases, transpose = FALSE), settings))
    expect_equal(as.array(product), as.array(quantize_fx[[paste0(name, "_matmul_nt")]]),
                 tolerance = 1e-5, label = name)

    stacked <- mlx_quantize(quantize_fx$w_stack, case$group_size, case$bits, case$mode)
    rhs <- as.array(quantize_fx$rhs_indices) + 1
    gathered <- do.call(mlx_gather_qmm, c(
      list(quantize_fx$x_gather, stacked$weight, stacked$scales, stacked$biases,
           rhs_indices = rhs), settings))
    expect_equal(as.array(gathered), as.array(quantize_fx[[paste0(name, "_gather")]]),
                 tolerance = 1e-5, label = name)
  }
})

test_that("array quantize keeps bfloat16 scales", {
  packed <- mlx_quantize(quantize_fx$w_bf16)
  expect_same_array(packed$weight, quantize_fx$bf16_wq, "weight")
  expect_same_array(packed$scales, quantize_fx$bf16_scales, "scales")
  expect_same_array(packed$biases, quantize_fx$bf16_biases, "biases")
})

test_that("array quantize errors", {
  w <- quantize_fx$w
  packed <- mlx_quantize(w)
  expect_error(mlx_quantize(as_mlx(rnorm(64))), "at least 2")
  expect_error(mlx_quantize(as_mlx(matrix(1, 2, 48))), "divisible")
  expect_error(mlx_dequantize(packed$weight, packed$scales), "biases")
  expect_error(mlx_dequantize(packed$weight, packed$scales, packed$biases, mode = "mxfp4"),
               "must be NULL")
  expect_error(mlx_dequantize(packed$weight, packed$scales, packed$biases, bits = 8),
               "MLX rejected")
  expect_error(mlx_gather_qmm(quantize_fx$x_gather, packed$weight, packed$scales,
                              packed$biases, rhs_indices = 2), "1-based")
  expect_error(mlx_quantize("a"), "MLX module or an MLX array")
})

test_that("array quantization takes R matrices and its own output", {
  set.seed(11)
  m <- matrix(rnorm(2 * 64), 2, 64)
  from_r <- mlx_quantize(m, group_size = 32, bits = 8)
  from_mlx <- mlx_quantize(as_mlx(m), group_size = 32, bits = 8)
  for (name in c("weight", "scales", "biases")) {
    expect_equal(as.array(from_r[[name]]), as.array(from_mlx[[name]]))
  }
  whole <- mlx_dequantize(from_r, group_size = 32, bits = 8)
  parts <- mlx_dequantize(from_r$weight, from_r$scales, from_r$biases,
                          group_size = 32, bits = 8)
  expect_equal(as.array(whole), as.array(parts))
  # 8-bit affine quantization keeps each value within half a step of
  # its group's range.
  expect_lt(max(abs(as.array(whole) - m)), max(abs(m)) / 100)
})
