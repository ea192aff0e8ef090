# Reference values come from tools/fixtures/make_transformer_fixtures.py
# (MLX Python 0.32.4). The layer cases themselves are in
# test-nn-transformer.R.
at_fx <- mlx_load_safetensors(test_path("fixtures", "transformer.safetensors"))

test_that("causal mask matches MLX Python in every float dtype", {
  for (dtype in c("float32", "float16", "bfloat16")) {
    mask <- mlx_create_additive_causal_mask(5, dtype)
    expect_equal(mlx_dtype(mask), dtype)
    expect_equal(as.array(mlx_astype(mask, "float32")),
                 as.array(at_fx[[paste0("mask/causal_", dtype)]]),
                 label = dtype)
  }
})

test_that("low-precision attention under a causal mask has no NaN", {
  for (dtype in c("float16", "bfloat16")) {
    mlx_random_seed(42)
    layer <- mlx_multi_head_attention(8, 2)
    mlx_set_dtype(layer, dtype)
    x <- mlx_astype(at_fx[["mask/attention_x"]], dtype)
    y <- mlx_forward(layer, x, x, x, mlx_create_additive_causal_mask(5, dtype))
    values <- as.array(mlx_astype(y, "float32"))
    expect_false(anyNA(values), label = dtype)
    expect_equal(values, as.array(at_fx[[paste0("mask/attention_", dtype)]]),
                 tolerance = 2e-2, label = dtype)
  }
})

test_that("attention parameters have MLX Python's names", {
  layer <- mlx_multi_head_attention(8, 2, bias = TRUE)
  expect_setequal(
    names(mlx_parameters(layer)),
    paste0(rep(c("query_proj", "key_proj", "value_proj", "out_proj"),
               each = 2), c(".weight", ".bias"))
  )
  expect_s3_class(layer, "mlx_multi_head_attention")
})

test_that("attention arguments are checked", {
  expect_error(mlx_multi_head_attention(8, 3),
               class = "rmlx_error_invalid_argument")
  expect_error(mlx_multi_head_attention(8, 2, value_dims = 5),
               class = "rmlx_error_invalid_argument")
  expect_error(mlx_multi_head_attention(8, 2, key_input_dims = 0),
               class = "rmlx_error_invalid_argument")
  expect_error(mlx_create_additive_causal_mask(3, "int32"),
               class = "rmlx_error_invalid_argument")
  layer <- mlx_multi_head_attention(8, 2)
  expect_error(mlx_forward(layer, matrix(1, 3, 8), matrix(1, 3, 8),
                           matrix(1, 3, 8)),
               class = "rmlx_error_mlx")
})

test_that("an R logical mask selects the pairs that attend", {
  set.seed(3)
  layer <- mlx_multi_head_attention(8, 2)
  x <- as_mlx(array(rnorm(2 * 5 * 8), c(2, 5, 8)))
  causal <- lower.tri(diag(5), diag = TRUE)
  by_logical <- mlx_forward(layer, x, x, x, causal)
  by_additive <- mlx_forward(layer, x, x, x,
                             mlx_create_additive_causal_mask(5))
  expect_equal(as.array(by_logical), as.array(by_additive), tolerance = 1e-6)

  encoder <- mlx_transformer_encoder(1, 8, 2)
  expect_equal(
    as.array(mlx_forward(encoder, x, causal)),
    as.array(mlx_forward(encoder, x, mlx_create_additive_causal_mask(5))),
    tolerance = 1e-6
  )
})
