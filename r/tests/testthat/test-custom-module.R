# A module with a built-in child, a list of modules and a raw parameter.
block <- mlx_module("Block",
  initialize = function(n_in, n_hidden, n_out) {
    self$input <- mlx_linear(n_in, n_hidden)
    self$hidden <- list(mlx_linear(n_hidden, n_hidden), mlx_layer_norm(n_hidden))
    self$scale <- as_mlx(rep(1, n_out))
    self$output <- mlx_linear(n_hidden, n_out)
    self$n_out <- n_out
  },
  forward = function(x) {
    h <- mlx_act_relu(mlx_forward(self$input, x))
    for (layer in self$hidden) h <- mlx_forward(layer, h)
    mlx_forward(self$output, h) * self$scale
  }
)

# A custom module whose child is another custom module.
outer <- mlx_module("Outer",
  initialize = function() {
    self$block <- block(3, 4, 2)
    self$bias <- as_mlx(c(0, 0))
  },
  forward = function(x) mlx_forward(self$block, x) + self$bias
)

make_batch <- function() {
  set.seed(8)
  list(x = matrix(rnorm(18), 6, 3), y = matrix(rnorm(12), 6, 2))
}

test_that("custom module parameters are named", {
  model <- block(3, 4, 2)
  expect_setequal(names(mlx_parameters(model)), c(
    "input.weight", "input.bias",
    "hidden.0.weight", "hidden.0.bias", "hidden.1.weight", "hidden.1.bias",
    "scale", "output.weight", "output.bias"
  ))
  expect_s3_class(model, "Block")
  expect_s3_class(model, "mlx_module")
  expect_equal(model$n_out, 2)
})

test_that("nested custom module parameters are named", {
  model <- outer()
  names <- names(mlx_parameters(model))
  expect_true(all(c("bias", "block.scale", "block.hidden.1.weight",
                    "block.input.weight") %in% names))
  expect_length(names, 10)
})

test_that("custom module forward matches base R", {
  model <- block(3, 4, 2)
  p <- mlx_param_values(model)
  mlx_param_set_values(model, list(scale = c(2, -1)))
  x <- make_batch()$x
  affine <- function(x, w, b) x %*% t(w) + matrix(b, nrow(x), length(b), byrow = TRUE)
  h <- pmax(affine(x, p[["input.weight"]], p[["input.bias"]]), 0)
  h <- affine(h, p[["hidden.0.weight"]], p[["hidden.0.bias"]])
  h <- t(apply(h, 1, function(row) {
    (row - mean(row)) / sqrt(mean((row - mean(row))^2) + 1e-5)
  }))
  h <- h * matrix(p[["hidden.1.weight"]], nrow(h), 4, byrow = TRUE) +
    matrix(p[["hidden.1.bias"]], nrow(h), 4, byrow = TRUE)
  y <- affine(h, p[["output.weight"]], p[["output.bias"]])
  y <- y * matrix(c(2, -1), nrow(y), 2, byrow = TRUE)
  expect_mlx_equal(mlx_forward(model, x), y, tolerance = 1e-4)
})

test_that("custom module trains", {
  data <- make_batch()
  set.seed(9)
  model <- outer()
  loss <- function(model, x, y) mlx_mse_loss(mlx_forward(model, x), y)
  step <- mlx_train_step(model, mlx_optimizer_adam(learning_rate = 0.05), loss)
  losses <- vapply(1:15, function(i) as.numeric(as.array(step(data$x, data$y))), 0)
  expect_lt(losses[[15]], losses[[1]])
})

test_that("frozen custom parameters do not train", {
  data <- make_batch()
  model <- outer()
  mlx_freeze(model, c("block.input.weight", "scale"))
  before <- mlx_param_values(model)
  loss <- function(model, x, y) mlx_mse_loss(mlx_forward(model, x), y)
  step <- mlx_train_step(model, mlx_optimizer_sgd(learning_rate = 0.1), loss)
  for (i in 1:3) step(data$x, data$y)
  after <- mlx_param_values(model)
  expect_equal(after[["block.input.weight"]], before[["block.input.weight"]])
  expect_equal(after[["block.scale"]], before[["block.scale"]])
  expect_false(isTRUE(all.equal(after[["block.output.weight"]],
                                before[["block.output.weight"]])))
})

test_that("custom module nests in sequential", {
  model <- mlx_sequential(block(3, 4, 2), mlx_relu(), mlx_linear(2, 1))
  names <- names(mlx_parameters(model))
  expect_true("layers.0.hidden.0.weight" %in% names)
  expect_true("layers.2.weight" %in% names)
  y <- mlx_forward(model, make_batch()$x)
  expect_equal(dim(y), c(6, 1))
})

test_that("custom module gradient matches finite differences", {
  data <- make_batch()
  set.seed(10)
  model <- block(3, 4, 2)
  mlx_set_dtype(model, "float64")
  loss <- function(model, x, y) mlx_mse_loss(mlx_forward(model, x), y)
  # NOTE: MLX 0.32.4's layer norm in float64 agrees with base R only to
  # about 2e-7, so the step and tolerance are those of float32.
  expect_grad_matches_fd(model, loss, as_f64(data$x), as_f64(data$y),
                         h = 1e-3, tolerance = 1e-3)
})

test_that("custom module saves and loads", {
  model <- outer()
  path <- withr::local_tempfile(fileext = ".safetensors")
  mlx_save_weights(model, path)
  other <- outer()
  mlx_load_weights(other, path)
  expect_equal(mlx_param_values(other), mlx_param_values(model))
})

test_that("forward error becomes an R error", {
  failing <- mlx_module("Failing", forward = function(x) stop("forward failed"))
  expect_error(mlx_forward(failing(), 1), "forward failed")
  wrong <- mlx_module("Wrong", forward = function(x) "a string")
  expect_error(mlx_forward(wrong(), 1), "must return an MLX array")
})

test_that("forward error inside a training step", {
  failing <- mlx_module("Failing", forward = function(x) stop("forward failed"))
  model <- failing()
  model$w <- as_mlx(1)
  loss <- function(model, x) mlx_sum(mlx_forward(model, x))
  step <- mlx_train_step(model, mlx_optimizer_sgd(learning_rate = 0.1), loss)
  expect_error(step(1), "forward failed")
})

test_that("mlx_module validates arguments", {
  expect_error(mlx_module("M"), "forward")
  expect_error(mlx_module("M", initialize = 1, forward = identity), "initialize")
  expect_error(mlx_module("M", NULL, identity, function() 1), "named")
  expect_output(print(block), "Block")
})

test_that("custom methods see self", {
  counter <- mlx_module("Counter",
    initialize = function() self$count <- 0,
    forward = function(x) x,
    bump = function() self$count <- self$count + 1
  )
  model <- counter()
  model$bump()
  model$bump()
  expect_equal(model$count, 2)
})

test_that("gc frees a dropped module", {
  gc()
  before <- Rmlx:::mlx_active_memory_()
  model <- outer()
  big <- mlx_linear(512, 512)
  model$extra <- big
  mlx_param_values(model)
  rm(big)
  during <- Rmlx:::mlx_active_memory_()
  rm(model)
  gc()
  gc()
  after <- Rmlx:::mlx_active_memory_()
  expect_gt(during, before + 512 * 512 * 4 - 1)
  expect_lt(after, during - 512 * 512 * 4 + 1)
})

test_that("custom module forward may take no input", {
  constant <- mlx_module("Constant",
    initialize = function() self$value <- as_mlx(c(1, 2)),
    forward = function() self$value * 2
  )
  model <- constant()
  expect_equal(as.numeric(mlx_forward(model)), c(2, 4))
  grads <- mlx_value_and_grad(model, function(m) mlx_sum(mlx_forward(m)))()
  expect_equal(as.numeric(grads$grads$value), c(2, 2))
})
