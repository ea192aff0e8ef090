# Checkpoints: a run resumed from mlx_load_checkpoint() ends with the same
# weights as the same run without the interruption.

checkpoint_model <- function() {
  mlx_sequential(mlx_linear(4, 8), mlx_relu(), mlx_dropout(0.3), mlx_linear(8, 1))
}

checkpoint_loss <- function(model, x, y) {
  mlx_mse_loss(mlx_forward(model, x), y)
}

# Runs `steps` training steps on batches sampled in R, so that R's RNG,
# MLX's dropout masks and the optimizer all take part.
train_steps <- function(step, data, steps) {
  for (i in seq_len(steps)) {
    rows <- sample.int(nrow(data$x), 8)
    step(data$x[rows, , drop = FALSE], data$y[rows, , drop = FALSE])
  }
}

checkpoint_data <- function() {
  set.seed(100)
  x <- matrix(rnorm(64 * 4), 64, 4)
  list(x = x, y = x %*% c(1, -2, 0.5, 3) + 0.1)
}

test_that("resumed run matches uninterrupted run", {
  data <- checkpoint_data()
  path <- withr::local_tempfile(fileext = ".safetensors")

  set.seed(1)
  model <- checkpoint_model()
  opt <- mlx_optimizer_adam(learning_rate = 0.01)
  step <- mlx_train_step(model, opt, checkpoint_loss)
  train_steps(step, data, 5)
  mlx_save_checkpoint(path, model, opt, step, metadata = c(epoch = "1"))
  train_steps(step, data, 5)
  uninterrupted <- mlx_param_values(model)

  set.seed(999)
  resumed <- checkpoint_model()
  opt2 <- mlx_optimizer_adam(learning_rate = 0.01)
  step2 <- mlx_train_step(resumed, opt2, checkpoint_loss)
  metadata <- mlx_load_checkpoint(path, resumed, opt2, step2)
  train_steps(step2, data, 5)

  expect_identical(metadata[["epoch"]], "1")
  expect_identical(as.numeric(as.array(mlx_optimizer_state(opt2)$step)), 10)
  expect_equal(mlx_param_values(resumed), uninterrupted, tolerance = 1e-6)
})

test_that("checkpoint holds model, optimizer and random state", {
  path <- withr::local_tempfile(fileext = ".safetensors")
  model <- mlx_linear(2, 1)
  opt <- mlx_optimizer_sgd(learning_rate = 0.1, momentum = 0.9)
  grads <- lapply(mlx_parameters(model), function(p) p * 0 + 1)
  mlx_optimizer_update(opt, model, grads)

  mlx_save_checkpoint(path, model, opt)

  arrays <- mlx_load(path)
  expect_true(all(c("model.weight", "model.bias", "random.r_seed") %in% names(arrays)))
  expect_true(any(startsWith(names(arrays), "optimizer.")))
  expect_identical(attr(arrays, "metadata")[["rmlx.checkpoint"]], "1")
})

test_that("checkpoint errors", {
  path <- withr::local_tempfile(fileext = ".safetensors")
  model <- mlx_linear(2, 1)
  mlx_save_checkpoint(path, model)
  expect_error(mlx_load_checkpoint(path, model, mlx_optimizer_sgd(learning_rate = 0.1)),
               "saved without an optimizer")
  expect_error(mlx_load_checkpoint(path, mlx_linear(3, 1)),
               class = "rmlx_error_weights")
  expect_error(mlx_save_checkpoint(tempfile(fileext = ".npz"), model), ".safetensors")
  expect_error(mlx_save_checkpoint(path, model, metadata = c(rmlx.x = "1")), "reserved|Reserved")
  weights <- withr::local_tempfile(fileext = ".safetensors")
  mlx_save_weights(model, weights)
  expect_error(mlx_load_checkpoint(weights, model), "checkpoint metadata")
})

test_that("checkpoint rejects optimizer of another class", {
  path <- withr::local_tempfile(fileext = ".safetensors")
  model <- mlx_linear(2, 1)
  adam <- mlx_optimizer_adam(learning_rate = 0.1)
  mlx_optimizer_update(adam, model, lapply(mlx_parameters(model), function(p) p * 0 + 1))
  mlx_save_checkpoint(path, model, adam)

  resumed <- mlx_linear(2, 1)
  before <- mlx_param_values(resumed)
  sgd <- mlx_optimizer_sgd(learning_rate = 0.1, momentum = 0.9)
  expect_error(mlx_load_checkpoint(path, resumed, sgd),
               class = "rmlx_error_invalid_argument")
  expect_error(mlx_load_checkpoint(path, resumed, sgd), "mlx_optimizer_adam")
  expect_identical(names(mlx_optimizer_state(sgd)), c("step", "learning_rate"))
  expect_identical(mlx_param_values(resumed), before)
})

test_that("checkpoint shape error has no strict hint", {
  path <- withr::local_tempfile(fileext = ".safetensors")
  mlx_save_checkpoint(path, mlx_linear(2, 1))
  error <- tryCatch(mlx_load_checkpoint(path, mlx_linear(3, 1)), error = identity)
  expect_s3_class(error, "rmlx_error_weights")
  expect_no_match(conditionMessage(error), "strict")
})
