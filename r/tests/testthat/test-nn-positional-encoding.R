# Reference values come from tools/fixtures/make_transformer_fixtures.py
# (MLX Python 0.32.4).
pe_fx <- mlx_load_safetensors(test_path("fixtures", "transformer.safetensors"))

pe_value <- function(key) as.array(pe_fx[[key]])

test_that("rope matches MLX Python", {
  ropes <- list(
    default = mlx_rope(8),
    partial_traditional = mlx_rope(6, traditional = TRUE, base = 500,
                                   scale = 0.5)
  )
  for (name in names(ropes)) {
    x <- pe_fx[[paste0("rope_", name, "/x")]]
    expect_equal(as.array(mlx_forward(ropes[[name]], x)),
                 pe_value(paste0("rope_", name, "/y")),
                 tolerance = 1e-5, label = name)
    expect_equal(as.array(mlx_forward(ropes[[name]], x, offset = 3)),
                 pe_value(paste0("rope_", name, "/y_offset3")),
                 tolerance = 1e-5, label = paste(name, "offset 3"))
  }
  expect_s3_class(ropes$default, "mlx_rope")
  expect_length(mlx_parameters(ropes$default), 0)
})

test_that("sinusoidal encoding matches MLX Python", {
  layers <- list(
    default = mlx_sinusoidal_positional_encoding(8),
    options = mlx_sinusoidal_positional_encoding(
      6, min_freq = 0.01, max_freq = 2, scale = 1.5, cos_first = TRUE,
      full_turns = TRUE
    ),
    two = mlx_sinusoidal_positional_encoding(2)
  )
  for (name in names(layers)) {
    x <- pe_fx[[paste0("sinusoidal_", name, "/x")]]
    expect_equal(as.array(mlx_forward(layers[[name]], x)),
                 pe_value(paste0("sinusoidal_", name, "/y")),
                 tolerance = 1e-5, label = name)
  }
})

test_that("alibi matches MLX Python", {
  alibi <- mlx_alibi()
  expect_s3_class(alibi, "mlx_alibi")
  expect_equal(
    as.array(mlx_forward(alibi, pe_fx[["alibi_four_heads/scores"]])),
    pe_value("alibi_four_heads/y"), tolerance = 1e-6
  )
  prefix <- "alibi_six_heads_offset_mask/"
  y <- mlx_forward(alibi, pe_fx[[paste0(prefix, "scores")]], offset = 2,
                   mask = pe_fx[[paste0(prefix, "mask")]])
  expect_equal(as.array(y), pe_value(paste0(prefix, "y")), tolerance = 1e-6)
  bias <- mlx_create_alibi_matrix(5, 5, num_heads = 6, offset = 2)
  expect_equal(dim(bias), c(1, 6, 3, 5))
})

test_that("positional encoding arguments are checked", {
  expect_error(mlx_rope(3), class = "rmlx_error_invalid_argument")
  expect_error(mlx_rope(4, base = 0), class = "rmlx_error_invalid_argument")
  expect_error(mlx_sinusoidal_positional_encoding(5),
               class = "rmlx_error_invalid_argument")
  expect_error(mlx_sinusoidal_positional_encoding(4, min_freq = 0),
               class = "rmlx_error_invalid_argument")
  expect_error(mlx_create_alibi_matrix(2, 2, num_heads = 0),
               class = "rmlx_error_invalid_argument")
  expect_error(mlx_create_alibi_matrix(2, 2, num_heads = 2, offset = 3),
               class = "rmlx_error_mlx")
})

test_that("an R offset must be a non-negative whole number", {
  rope <- mlx_rope(4)
  x <- as_mlx(array(rnorm(2 * 3 * 4), c(2, 3, 4)))
  expect_error(mlx_forward(rope, x, offset = -1), class = "rmlx_error_invalid_argument")
  expect_error(mlx_forward(rope, x, offset = 1.5), "offset")
  expect_equal(dim(mlx_forward(rope, x, offset = 2L)), c(2, 3, 4))
})
