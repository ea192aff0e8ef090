mse_loss_fn <- function(model, x, y) mlx_mse_loss(mlx_forward(model, x), y)

make_data <- function() {
  set.seed(3)
  list(x = matrix(rnorm(32), 8, 4), y = matrix(rnorm(16), 8, 2))
}

run_steps <- function(compile, steps = 5) {
  data <- make_data()
  set.seed(21)
  model <- mlx_sequential(mlx_linear(4, 6), mlx_tanh(), mlx_linear(6, 2))
  optimizer <- mlx_optimizer_adam(learning_rate = 0.05)
  step <- mlx_train_step(model, optimizer, mse_loss_fn, compile = compile)
  losses <- vapply(seq_len(steps), function(i) {
    as.numeric(as.array(step(data$x, data$y)))
  }, numeric(1))
  list(losses = losses, params = mlx_param_values(model))
}

test_that("compiled and eager steps agree", {
  compiled <- run_steps(compile = TRUE)
  eager <- run_steps(compile = FALSE)
  expect_equal(compiled$losses, eager$losses, tolerance = 1e-5)
  expect_equal(compiled$params, eager$params, tolerance = 1e-5)
})

test_that("train step decreases the loss", {
  losses <- run_steps(compile = TRUE, steps = 20)$losses
  expect_lt(losses[[20]], losses[[1]])
})

test_that("compiled step calls the loss once", {
  calls <- 0
  counting_loss <- function(model, x, y) {
    calls <<- calls + 1
    mse_loss_fn(model, x, y)
  }
  data <- make_data()
  model <- mlx_linear(4, 2)
  step <- mlx_train_step(model, mlx_optimizer_sgd(learning_rate = 0.1),
                         counting_loss)
  step(data$x, data$y)
  calls_after_first <- calls
  for (i in 1:4) step(data$x, data$y)
  expect_gt(calls_after_first, 0)
  expect_equal(calls, calls_after_first)
})

test_that("eager step calls the loss every time", {
  calls <- 0
  counting_loss <- function(model, x, y) {
    calls <<- calls + 1
    mse_loss_fn(model, x, y)
  }
  data <- make_data()
  model <- mlx_linear(4, 2)
  step <- mlx_train_step(model, mlx_optimizer_sgd(learning_rate = 0.1),
                         counting_loss, compile = FALSE)
  for (i in 1:3) step(data$x, data$y)
  expect_equal(calls, 3)
})

test_that("train step matches a manual update", {
  data <- make_data()
  set.seed(4)
  model <- mlx_linear(4, 2)
  start <- mlx_param_values(model)
  grads <- mlx_value_and_grad(model, mse_loss_fn)(data$x, data$y)$grads
  step <- mlx_train_step(model, mlx_optimizer_sgd(learning_rate = 0.1),
                         mse_loss_fn)
  step(data$x, data$y)
  after <- mlx_param_values(model)
  for (name in names(start)) {
    expected <- start[[name]] - 0.1 * as.array(grads[[name]])
    expect_equal(after[[name]], expected, tolerance = 1e-5, label = name)
  }
})

test_that("value_and_grad names grads by dotted names", {
  data <- make_data()
  model <- mlx_sequential(mlx_linear(4, 6), mlx_relu(), mlx_linear(6, 2))
  out <- mlx_value_and_grad(model, mse_loss_fn)(data$x, data$y)
  expect_named(out, c("value", "grads"))
  expect_setequal(names(out$grads), names(mlx_parameters(model)))
  expect_equal(dim(out$grads[["layers.2.weight"]]), c(2, 6))
  expected_value <- as.array(mse_loss_fn(model, data$x, data$y))
  expect_equal(as.array(out$value), expected_value, tolerance = 1e-6)
})

test_that("value_and_grad rejects a non-array loss", {
  model <- mlx_linear(2, 1)
  vg <- mlx_value_and_grad(model, function(model, x) "not an array")
  expect_error(vg(matrix(1, 2, 2)), "must return an MLX array")
  expect_error(mlx_value_and_grad(model, 1), "function")
})

test_that("linear mse gradient matches finite differences", {
  data <- make_data()
  model <- mlx_linear(4, 2)
  mlx_set_dtype(model, "float64")
  expect_grad_matches_fd(model, mse_loss_fn, as_f64(data$x), as_f64(data$y))
})

test_that("layer norm gradient matches finite differences", {
  data <- make_data()
  model <- mlx_layer_norm(4)
  mlx_param_set_values(model, list(weight = c(0.5, -1, 2, 1.5),
                                   bias = c(0, 0.25, -0.5, 1)))
  mlx_set_dtype(model, "float64")
  loss <- function(model, x) mlx_sum(mlx_forward(model, x)^3)
  expect_grad_matches_fd(model, loss, as_f64(data$x), tolerance = 1e-5)
})

test_that("batch norm gradient matches finite differences", {
  data <- make_data()
  model <- mlx_batch_norm(4)
  mlx_param_set_values(model, list(weight = c(0.5, -1, 2, 1.5),
                                   bias = c(0, 0.25, -0.5, 1)))
  mlx_set_dtype(model, "float64")
  # In eval mode the forward pass does not update the running statistics
  # between the finite-difference evaluations.
  mlx_set_training(model, FALSE)
  loss <- function(model, x) mlx_sum(mlx_forward(model, x)^3)
  expect_grad_matches_fd(model, loss, as_f64(data$x), tolerance = 1e-5)
})

test_that("batch norm training gradient matches finite differences", {
  data <- make_data()
  model <- mlx_batch_norm(4, track_running_stats = FALSE)
  mlx_param_set_values(model, list(weight = c(0.5, -1, 2, 1.5),
                                   bias = c(0, 0.25, -0.5, 1)))
  mlx_set_dtype(model, "float64")
  loss <- function(model, x) mlx_sum(mlx_forward(model, x)^3)
  expect_grad_matches_fd(model, loss, as_f64(data$x), tolerance = 1e-5)
})

test_that("embedding cross entropy gradient matches finite differences", {
  set.seed(5)
  model <- mlx_embedding(5, 3)
  mlx_set_dtype(model, "float64")
  indices <- c(1L, 5L, 3L, 3L)
  labels <- c(1L, 2L, 3L, 1L)
  loss <- function(model, indices, labels) {
    mlx_cross_entropy(mlx_forward(model, indices), labels, reduction = "mean")
  }
  # NOTE: MLX 0.32.4 computes exp in float64 only to about 1e-8, so the
  # step and tolerance are those of float32.
  expect_grad_matches_fd(model, loss, indices, labels, h = 1e-3,
                         tolerance = 1e-4)
})

test_that("step gives NaN loss for labels out of range", {
  set.seed(3)
  model <- mlx_sequential(mlx_linear(4, 3))
  loss_fn <- function(model, x, y) {
    mlx_cross_entropy(mlx_forward(model, x), y, reduction = "mean")
  }
  step <- mlx_train_step(model, mlx_optimizer_sgd(learning_rate = 0), loss_fn)
  x <- matrix(rnorm(40), 10, 4)
  expect_true(is.nan(as.numeric(step(x, rep(5L, 10)))))
  expect_true(is.nan(as.numeric(step(x, rep(0L, 10)))))
  expect_false(is.nan(as.numeric(step(x, rep(3L, 10)))))
})

test_that("step accepts whole-number double labels", {
  set.seed(3)
  model <- mlx_sequential(mlx_linear(4, 3))
  loss_fn <- function(model, x, y) {
    mlx_cross_entropy(mlx_forward(model, x), y, reduction = "mean")
  }
  x <- matrix(rnorm(40), 10, 4)
  labels <- c(1, 2, 3, 1, 2, 3, 1, 2, 3, 1)
  direct <- as.numeric(mlx_cross_entropy(mlx_forward(model, x), labels,
                                         reduction = "mean"))
  step <- mlx_train_step(model, mlx_optimizer_sgd(learning_rate = 0), loss_fn)
  expect_equal(as.numeric(step(x, labels)), direct, tolerance = 1e-6)
})

test_that("embedding gives NaN rows out of range", {
  embedding <- mlx_embedding(5, 2)
  out <- as.array(mlx_forward(embedding, as_mlx(c(7L, 0L, 5L))))
  expect_true(all(is.nan(out[1, ])))
  expect_true(all(is.nan(out[2, ])))
  expect_false(any(is.nan(out[3, ])))
})

test_that("compiled and eager steps draw the same dropout masks", {
  run <- function(compile) {
    set.seed(5)
    model <- mlx_sequential(mlx_linear(4, 8), mlx_dropout(0.5), mlx_linear(8, 1))
    loss_fn <- function(model, x, y) mlx_mse_loss(mlx_forward(model, x), y)
    step <- mlx_train_step(model, mlx_optimizer_sgd(learning_rate = 0.1),
                           loss_fn, compile = compile)
    x <- as_mlx(matrix(seq(0.1, 2.4, by = 0.1), 6, 4))
    y <- as_mlx(matrix(1, 6, 1))
    vapply(1:4, function(i) as.numeric(step(x, y)), numeric(1))
  }
  compiled <- run(TRUE)
  expect_equal(run(FALSE), compiled, tolerance = 1e-6)
  expect_gt(length(unique(compiled)), 1)
})

# A character-level language model as the Jane Austen example builds it: the
# loss returns the final LSTM states, which the next step starts from.
char_lstm_steps <- function(compile, steps = 3) {
  set.seed(8)
  ids <- matrix(sample.int(7, 4 * 6 * (steps + 1), replace = TRUE), 4)
  set.seed(12)
  model <- mlx_module("CharLSTM",
    initialize = function() {
      self$embedding <- mlx_embedding(7, 3)
      self$lstm <- mlx_stacked_lstm(3, 5, num_layers = 2)
      self$head <- mlx_linear(5, 7)
    },
    forward = function(x, hidden, cell) {
      embedded <- mlx_forward(self$embedding, x)
      out <- mlx_forward(self$lstm, embedded, hidden = hidden, cell = cell)
      list(mlx_forward(self$head, out[[1]]), out[[2]], out[[3]])
    }
  )()
  loss_fn <- function(model, x, y, hidden, cell) {
    out <- mlx_forward(model, x, hidden, cell)
    list(mlx_cross_entropy(out[[1]], y, reduction = "mean"), out[[2]], out[[3]])
  }
  step <- mlx_train_step(model, mlx_optimizer_adam(learning_rate = 0.01),
                         loss_fn, compile = compile)
  hidden <- cell <- as_mlx(array(0, c(2, 4, 5)))
  results <- list()
  for (k in seq_len(steps)) {
    columns <- (k - 1) * 6 + 1:6
    x <- as_mlx(ids[, columns], dtype = "int32")
    y <- as_mlx(ids[, columns + 1], dtype = "int32")
    before <- mlx_forward(model, x, hidden, cell)
    out <- step(x, y, hidden, cell)
    results[[k]] <- list(loss = as.numeric(out[[1]]),
                         hidden = as.array(out[[2]]), cell = as.array(out[[3]]),
                         expected_hidden = as.array(before[[2]]),
                         expected_cell = as.array(before[[3]]))
    hidden <- out[[2]]
    cell <- out[[3]]
  }
  results
}

test_that("step returns carried LSTM states", {
  for (compile in c(TRUE, FALSE)) {
    results <- char_lstm_steps(compile)
    for (result in results) {
      expect_equal(dim(result$hidden), c(2L, 4L, 5L))
      expect_equal(result$hidden, result$expected_hidden, tolerance = 1e-5)
      expect_equal(result$cell, result$expected_cell, tolerance = 1e-5)
    }
    expect_false(isTRUE(all.equal(results[[2]]$hidden, results[[1]]$hidden)))
  }
})

test_that("compiled and eager LSTM steps agree", {
  compiled <- char_lstm_steps(compile = TRUE)
  eager <- char_lstm_steps(compile = FALSE)
  for (k in seq_along(compiled)) {
    expect_equal(compiled[[k]]$loss, eager[[k]]$loss, tolerance = 1e-5)
    expect_equal(compiled[[k]]$hidden, eager[[k]]$hidden, tolerance = 1e-5)
  }
})
