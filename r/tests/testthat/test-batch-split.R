# Split batches (threads > 1) against the same batches run whole.

split_model <- function() {
  set.seed(5)
  mlx_sequential(mlx_linear(4, 8), mlx_relu(), mlx_linear(8, 3))
}

split_data <- function(n = 9) {
  set.seed(6)
  list(x = matrix(rnorm(n * 4), n, 4), y = factor(sample(1:3, n, TRUE)))
}

ce_loss <- function(reduction) {
  function(model, x, y) {
    mlx_cross_entropy(mlx_forward(model, x), y, reduction = reduction)
  }
}

test_that("a split value and gradient equal the whole batch's", {
  data <- split_data()
  for (reduction in c("mean", "sum")) {
    model <- split_model()
    whole <- mlx_value_and_grad(model, ce_loss(reduction))(data$x, data$y)
    for (threads in 2:3) {
      split <- mlx_value_and_grad(model, ce_loss(reduction),
        threads = threads, reduction = reduction
      )(data$x, data$y)
      expect_equal(as.numeric(split$value), as.numeric(whole$value),
                   tolerance = 1e-6)
      expect_identical(names(split$grads), names(whole$grads))
      for (name in names(whole$grads)) {
        expect_equal(as.array(split$grads[[name]]),
                     as.array(whole$grads[[name]]), tolerance = 1e-5)
      }
    }
  }
})

test_that("per-example outputs of a split batch are concatenated in order", {
  data <- split_data(7)
  model <- split_model()
  loss <- function(model, x, y) {
    per_example <- mlx_cross_entropy(mlx_forward(model, x), y,
                                     reduction = "none")
    list(mlx_mean(per_example), per_example)
  }
  whole <- mlx_value_and_grad(model, loss)(data$x, data$y)
  split <- mlx_value_and_grad(model, loss, threads = 2)(data$x, data$y)
  expect_equal(as.array(split$value[[2]]), as.array(whole$value[[2]]),
               tolerance = 1e-6)
  expect_equal(as.numeric(split$value[[1]]), as.numeric(whole$value[[1]]),
               tolerance = 1e-6)
})

test_that("a split training step follows the whole batch's", {
  data <- split_data(16)
  run <- function(threads, compile) {
    model <- split_model()
    step <- mlx_train_step(model, mlx_optimizer_adam(learning_rate = 0.05),
                           ce_loss("mean"), compile = compile,
                           threads = threads)
    losses <- vapply(1:4, function(i) as.numeric(step(data$x, data$y)),
                     numeric(1))
    list(losses = losses, params = mlx_param_values(model))
  }
  for (compile in c(TRUE, FALSE)) {
    whole <- run(1, compile)
    split <- run(2, compile)
    expect_equal(split$losses, whole$losses, tolerance = 1e-5)
    expect_equal(split$params, whole$params, tolerance = 1e-5)
    expect_lt(whole$losses[[4]], whole$losses[[1]])
  }
})

test_that("split batches reject what they cannot split", {
  data <- split_data()
  model <- split_model()
  vg <- mlx_value_and_grad(model, ce_loss("mean"), threads = 2)
  expect_error(vg(data$x, data$y[1:8]), "input 2 has shape \\(8\\)")
  expect_error(vg(data$x, list(1)), "argument 2 of the batch must be an array")
  expect_error(mlx_value_and_grad(model, ce_loss("mean"), threads = 0),
               "threads")
  expect_error(mlx_value_and_grad(model, ce_loss("mean"), threads = 257),
               "`threads` must be a whole number from 1 to 256")
  expect_error(mlx_value_and_grad(model, ce_loss("mean"), reduction = "max"),
               "reduction")
  expect_error(mlx_train_step(model, mlx_optimizer_sgd(learning_rate = 0.1),
                              ce_loss("mean"), threads = 1.5), "threads")

  normalized <- mlx_sequential(mlx_linear(4, 3), mlx_batch_norm(3))
  step <- mlx_train_step(normalized, mlx_optimizer_sgd(learning_rate = 0.1),
                         ce_loss("mean"), threads = 2)
  expect_error(step(data$x, data$y), "BatchNorm in training mode")
})

test_that("mlx_num_threads() counts the processors", {
  threads <- mlx_num_threads()
  expect_true(is.numeric(threads) && length(threads) == 1 && threads >= 1)
  expect_lte(threads, parallel::detectCores())
})

test_that("split integer scalar outputs", {
  data <- split_data(9)
  model <- split_model()
  loss <- function(model, x, y) {
    logits <- mlx_forward(model, x)
    correct <- mlx_argmax(logits, axis = 2) == y
    list(mlx_cross_entropy(logits, y, reduction = "mean"), mlx_sum(correct))
  }
  whole <- mlx_value_and_grad(model, loss)(data$x, data$y)
  count <- as.numeric(whole$value[[2]])
  logits <- as.array(mlx_forward(model, data$x))
  correct <- max.col(logits, ties.method = "first") == as.integer(data$y)
  expect_equal(sum(correct), count)

  mean_split <- mlx_value_and_grad(model, loss, threads = 3)(data$x, data$y)
  # Three parts of 3 examples: the size-weighted mean of the parts' counts.
  part_counts <- vapply(split(correct, rep(1:3, each = 3)), sum, numeric(1))
  expect_identical(mlx_dtype(mean_split$value[[2]]), "float32")
  expect_equal(as.numeric(mean_split$value[[2]]), mean(part_counts),
               tolerance = 1e-6)

  sum_split <- mlx_value_and_grad(model, loss, threads = 3,
                                  reduction = "sum")(data$x, data$y)
  expect_identical(mlx_dtype(sum_split$value[[2]]), "int32")
  expect_equal(as.numeric(sum_split$value[[2]]), count)
})

test_that("a forked child gets an error, not a hang", {
  skip_on_os("windows")
  vg <- mlx_value_and_grad(split_model(), ce_loss("mean"), threads = 2)
  data <- split_data()
  expected <- as.numeric(vg(data$x, data$y)$value)

  # MLX's stream threads do not exist in a forked child: without the check
  # its first evaluation would wait forever, so collect with a timeout.
  job <- parallel::mcparallel(
    tryCatch(as.numeric(mlx_sum(as_mlx(1:3))),
             error = function(e) conditionMessage(e))
  )
  result <- parallel::mccollect(job, wait = FALSE, timeout = 30)
  if (is.null(result)) {
    tools::pskill(job$pid)
    parallel::mccollect(job, wait = TRUE)
  }
  expect_false(is.null(result))
  expect_match(unlist(result), "forked from the one that loaded Rmlx")
  expect_equal(as.numeric(vg(data$x, data$y)$value), expected)
})
