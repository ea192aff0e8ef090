# Reference values: tools/fixtures/make_pooling_fixtures.py (MLX Python
# 0.32.4 and PyTorch 2.13). The options repeat that script's cases.
pool_fixture <- function(name) {
  mlx_load_safetensors(test_path("fixtures", paste0(name, ".safetensors")))
}

test_that("pooling matches MLX Python and PyTorch", {
  fixture <- pool_fixture("pooling")
  cases <- list(
    list(key = "1d_k3_s2_p1", dims = 1, make = function(f) f(3, 2, 1)),
    list(key = "2d_mixed", dims = 2,
         make = function(f) f(c(2, 3), c(1, 2), c(1, 1))),
    list(key = "2d_default", dims = 2, make = function(f) f(2)),
    list(key = "3d_k3_s2_p1", dims = 3, make = function(f) f(3, 2, 1))
  )
  makers <- list(
    max = list(mlx_max_pool1d, mlx_max_pool2d, mlx_max_pool3d),
    avg = list(mlx_avg_pool1d, mlx_avg_pool2d, mlx_avg_pool3d)
  )
  for (case in cases) {
    x <- fixture[[paste0("x", case$dims, "d")]]
    for (kind in c("max", "avg")) {
      key <- paste0(kind, case$key)
      layer <- case$make(makers[[kind]][[case$dims]])
      out <- as.array(mlx_forward(layer, x))
      expect_equal(out, as.array(fixture[[key]]), tolerance = 1e-6,
                   label = key)
      torch_y <- fixture[[paste0("torch_", key)]]
      if (!is.null(torch_y)) {
        expect_equal(out, as.array(torch_y), tolerance = 1e-5, label = key)
      }
    }
  }
})

test_that("max pool matches base R", {
  x <- array(c(1, 5, 3, 2, 8, 4), c(1, 6, 1))
  out <- as.vector(mlx_forward(mlx_max_pool1d(2), x))
  expect_equal(out, c(5, 3, 8))
  avg <- as.vector(mlx_forward(mlx_avg_pool1d(3, stride = 3), x))
  expect_equal(avg, c(mean(c(1, 5, 3)), mean(c(2, 8, 4))), tolerance = 1e-6)
})

test_that("upsample matches MLX Python", {
  fixture <- pool_fixture("upsample")
  cases <- list(
    list(key = "nearest_2", x = "x2d", make = function() mlx_upsample(2)),
    list(key = "linear_2_align", x = "x2d",
         make = function() mlx_upsample(2, "linear", align_corners = TRUE)),
    list(key = "linear_1_5", x = "x2d",
         make = function() mlx_upsample(c(1.5, 2.5), "linear")),
    list(key = "cubic_2", x = "x2d", make = function() mlx_upsample(2, "cubic")),
    list(key = "linear_3d_2", x = "x3d",
         make = function() mlx_upsample(2, "linear"))
  )
  for (case in cases) {
    out <- as.array(mlx_forward(case$make(), fixture[[case$x]]))
    expect_equal(out, as.array(fixture[[case$key]]), tolerance = 1e-5,
                 label = case$key)
  }
})

test_that("channel dropout drops whole channels", {
  drop <- mlx_dropout2d(0.5)
  x <- array(1, c(2, 3, 3, 4))
  out <- as.array(mlx_forward(drop, x))
  # Each channel of each sample is all zeros or all 2 (= 1 / (1 - p)).
  for (n in 1:2) {
    for (ch in 1:4) {
      values <- unique(as.vector(out[n, , , ch]))
      expect_length(values, 1)
      expect_true(values %in% c(0, 2))
    }
  }
  mlx_set_training(drop, FALSE)
  expect_equal(as.array(mlx_forward(drop, x)), x)
})

test_that("pooling and upsample reject bad options", {
  expect_error(mlx_max_pool2d(c(1, 2, 3)), "kernel_size")
  expect_error(mlx_max_pool2d(0), class = "rmlx_error_mlx")
  expect_error(mlx_upsample(-1), "scale_factor")
  expect_error(mlx_upsample(2, mode = "area"), "mode")
  expect_error(mlx_dropout3d(1), "probability")
  expect_error(mlx_forward(mlx_max_pool2d(2), array(1, c(4, 4))),
               class = "rmlx_error_mlx")
})
