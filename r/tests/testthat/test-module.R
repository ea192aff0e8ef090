make_mlp <- function() {
  mlx_sequential(mlx_linear(4, 8), mlx_relu(), mlx_linear(8, 2))
}

test_that("sequential parameters have dotted names", {
  model <- make_mlp()
  expect_setequal(names(mlx_parameters(model)), c(
    "layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"
  ))
  expect_equal(dim(mlx_parameters(model)[["layers.2.weight"]]), c(2, 8))
  expect_equal(mlx_num_parameters(model), 4 * 8 + 8 + 8 * 2 + 2)
})

test_that("param_set_values replaces named parameters", {
  model <- make_mlp()
  before <- mlx_param_values(model)
  new_bias <- c(1, 2)
  mlx_param_set_values(model, list("layers.2.bias" = new_bias))
  after <- mlx_param_values(model)
  expect_equal(c(after[["layers.2.bias"]]), new_bias)
  expect_equal(after[["layers.0.weight"]], before[["layers.0.weight"]])
  expect_equal(mlx_dtype(mlx_parameters(model)[["layers.2.bias"]]), "float32")
})

test_that("param_set_values rejects unknown names", {
  model <- make_mlp()
  expect_error(mlx_param_set_values(model, list(nonexistent = 1)))
  expect_silent(mlx_param_set_values(model, list(nonexistent = 1), strict = FALSE))
  expect_error(mlx_param_set_values(model, list(1, 2)), "named")
})

test_that("freeze by dotted name", {
  model <- make_mlp()
  mlx_freeze(model, "layers.0.weight")
  expect_setequal(names(mlx_parameters(model, trainable = TRUE)),
                  c("layers.0.bias", "layers.2.weight", "layers.2.bias"))
  expect_length(mlx_parameters(model), 4)
  mlx_unfreeze(model, "layers.0.weight")
  expect_length(mlx_parameters(model, trainable = TRUE), 4)
})

test_that("freeze by local key", {
  model <- make_mlp()
  mlx_freeze(model, "bias")
  expect_setequal(names(mlx_parameters(model, trainable = TRUE)),
                  c("layers.0.weight", "layers.2.weight"))
  mlx_unfreeze(model, "bias")
  expect_length(mlx_parameters(model, trainable = TRUE), 4)
})

test_that("freeze all and unknown names", {
  model <- make_mlp()
  mlx_freeze(model)
  expect_length(mlx_parameters(model, trainable = TRUE), 0)
  mlx_unfreeze(model)
  expect_length(mlx_parameters(model, trainable = TRUE), 4)
  expect_error(mlx_freeze(model, "nonexistent"), "Not found")
  expect_error(mlx_freeze(model, NA_character_), "character vector")
})

test_that("frozen parameters get no gradients", {
  model <- make_mlp()
  mlx_freeze(model, "layers.0.weight")
  loss <- function(model, x) mlx_sum(mlx_forward(model, x))
  grads <- mlx_value_and_grad(model, loss)(matrix(1, 3, 4))$grads
  expect_false("layers.0.weight" %in% names(grads))
  expect_true("layers.0.bias" %in% names(grads))
})

test_that("set_training propagates to children", {
  model <- mlx_sequential(mlx_linear(2, 2), mlx_dropout(0.5))
  expect_true(mlx_training(model))
  mlx_set_training(model, FALSE)
  expect_false(mlx_training(model))
  expect_false(mlx_training(mlx_children(model)$layers[[2]]))
  mlx_set_training(model)
  expect_true(mlx_training(mlx_children(model)$layers[[2]]))
})

test_that("named_modules and children", {
  model <- make_mlp()
  modules <- mlx_named_modules(model)
  expect_setequal(names(modules), c("", "layers.0", "layers.1", "layers.2"))
  expect_s3_class(modules[["layers.0"]], "mlx_linear")
  expect_s3_class(modules[["layers.1"]], "mlx_relu")
  # `[[""]]` never matches in R, so the root is found by position.
  expect_identical(modules[[which(names(modules) == "")]], model)
  children <- mlx_children(model)
  expect_named(children, "layers")
  expect_length(children$layers, 3)
  expect_s3_class(children$layers[[3]], "mlx_linear")
})

test_that("child module shares parameters", {
  model <- make_mlp()
  first <- mlx_children(model)$layers[[1]]
  mlx_param_set_values(first, list(bias = rep(5, 8)))
  expect_equal(c(mlx_param_values(model)[["layers.0.bias"]]), rep(5, 8))
})

test_that("print shows type and layers", {
  model <- make_mlp()
  expect_output(print(model), "<mlx_module> Sequential, 58 parameters")
  expect_output(print(model), "(layers.0): Linear(input_dims=4, output_dims=8",
                fixed = TRUE)
  mlx_set_training(model, FALSE)
  expect_output(print(model), "(eval mode)", fixed = TRUE)
})

test_that("save and load weights round trip", {
  model <- make_mlp()
  path <- withr::local_tempfile(fileext = ".safetensors")
  mlx_save_weights(model, path)
  other <- make_mlp()
  mlx_load_weights(other, path)
  expect_equal(mlx_param_values(other), mlx_param_values(model))
  x <- matrix(seq(-1, 1, length.out = 12), 3, 4)
  expect_equal(as.array(mlx_forward(other, x)), as.array(mlx_forward(model, x)))
})

test_that("saved weights load as safetensors", {
  model <- make_mlp()
  path <- withr::local_tempfile(fileext = ".safetensors")
  mlx_save_weights(model, path)
  arrays <- mlx_load_safetensors(path)
  expect_setequal(names(arrays), names(mlx_parameters(model)))
  expect_equal(as.array(arrays[["layers.0.weight"]]),
               mlx_param_values(model)[["layers.0.weight"]])
})

test_that("load_weights strict errors", {
  model <- make_mlp()
  weights <- mlx_param_values(model)
  missing_one <- weights[-1]
  expect_error(mlx_load_weights(model, missing_one))
  expect_silent(mlx_load_weights(model, missing_one, strict = FALSE))
  extra <- c(weights, list(extra = 1))
  expect_error(mlx_load_weights(model, extra))
  bad_shape <- weights
  bad_shape[["layers.0.weight"]] <- matrix(0, 3, 3)
  expect_error(mlx_load_weights(model, bad_shape))
  expect_equal(mlx_param_values(model), weights)
})

test_that("load_weights from a file with a wrong shape fails", {
  path <- withr::local_tempfile(fileext = ".safetensors")
  mlx_save_weights(mlx_linear(3, 2), path)
  expect_error(mlx_load_weights(mlx_linear(4, 2), path))
  expect_error(mlx_load_weights(mlx_linear(3, 2), tempfile()), "not found")
})

test_that("readRDS module gives an R error", {
  path <- withr::local_tempfile(fileext = ".rds")
  saveRDS(mlx_linear(3, 2), path)
  restored <- readRDS(path)
  expect_error(mlx_forward(restored, matrix(1, 2, 3)), "readRDS")
  expect_error(mlx_parameters(restored), "readRDS")
  expect_output(print(restored), "no longer exists")
})

test_that("set.seed makes weights reproducible", {
  set.seed(11)
  a <- mlx_param_values(mlx_linear(4, 3))
  set.seed(11)
  b <- mlx_param_values(mlx_linear(4, 3))
  set.seed(12)
  c <- mlx_param_values(mlx_linear(4, 3))
  expect_equal(a, b)
  expect_false(isTRUE(all.equal(a$weight, c$weight)))
})

test_that("successive layers get different weights", {
  set.seed(11)
  a <- mlx_param_values(mlx_linear(4, 3))
  b <- mlx_param_values(mlx_linear(4, 3))
  expect_false(isTRUE(all.equal(a$weight, b$weight)))
})

test_that("mlx_random_seed matches across sessions", {
  mlx_random_seed(5)
  a <- mlx_param_values(mlx_embedding(4, 2))
  mlx_random_seed(5)
  b <- mlx_param_values(mlx_embedding(4, 2))
  expect_equal(a, b)
})

test_that("set_dtype converts parameters", {
  model <- make_mlp()
  mlx_set_dtype(model, "float16")
  dtypes <- vapply(mlx_parameters(model), mlx_dtype, "")
  expect_true(all(dtypes == "float16"))
})

test_that("check_module rejects non-modules", {
  expect_error(mlx_parameters(list()), "MLX module")
  expect_error(mlx_forward(1, 2), "MLX module")
})

test_that("module cannot contain itself", {
  self_holder <- mlx_module("SelfHolder",
    initialize = function() self$me <- self,
    forward = function(x) x
  )
  expect_error(self_holder(), "cannot contain itself")
  outer <- mlx_sequential(mlx_linear(2, 2))
  holder <- mlx_module("Holder",
    initialize = function(child) self$child <- child,
    forward = function(x) x
  )
  inner <- holder(outer)
  expect_no_error(holder(outer))
  wrapper <- holder(inner)
  expect_error(inner$loop <- wrapper, "cannot contain itself")
})

test_that("param_set_values rejects new shapes", {
  layer <- mlx_linear(4, 1)
  expect_error(
    mlx_param_set_values(layer, list(weight = matrix(0, 2, 4))),
    "keep each parameter's shape"
  )
  expect_error(mlx_param_set_values(layer, list(bias = 1:2)), "shape")
  expect_equal(dim(mlx_parameters(layer)$weight), c(1L, 4L))
})

test_that("forward names unknown inputs", {
  layer <- mlx_linear(3, 1)
  expect_error(mlx_forward(layer, foo = matrix(1, 5, 3)), "Unknown")
  expect_error(mlx_forward(layer, matrix(1, 4, 4)), class = "rmlx_error_mlx")
})

test_that("save needs an existing folder", {
  missing_folder <- file.path(tempdir(), "no-such-folder", "w.safetensors")
  expect_error(mlx_save_weights(mlx_linear(2, 1), missing_folder), "must exist")
  expect_error(
    mlx_save_safetensors(list(a = 1, a = 2), tempfile(fileext = ".safetensors")),
    "unique"
  )
})

test_that("MLX memory is collected as it grows", {
  # Each array holds 100 MB that only R's collector can free; without the
  # memory-triggered collection 30 of them would hold 3 GB.
  peak <- 0
  for (i in 1:30) {
    z <- mlx_zeros(c(5000, 5000)) + i
    mlx_eval(z)
    peak <- max(peak, Rmlx:::mlx_active_memory_())
  }
  expect_lt(peak, 1.6e9)
})

test_that("module rejects nested and named lists", {
  nested <- mlx_module("Nested",
    initialize = function() {
      self$blocks <- list(list(mlx_linear(3, 4)), list(mlx_linear(4, 2)))
    },
    forward = function(x) x
  )
  expect_error(nested(), "only MLX modules or only MLX arrays")
  named <- mlx_module("Named",
    initialize = function() self$blocks <- list(a = mlx_linear(2, 2)),
    forward = function(x) x
  )
  expect_error(named(), "must be unnamed")
  plain <- mlx_module("Plain",
    initialize = function() self$settings <- list(size = 3, name = "x"),
    forward = function(x) x
  )
  expect_equal(plain()$settings$size, 3)
})
