sched_fx <- read_fixture("schedules")
init_fx <- read_fixture("init")
opt_fx2 <- read_fixture("optimizers")

test_that("schedules match MLX", {
  linear <- mlx_linear_schedule(0, 0.1, 5)
  cosine <- mlx_cosine_decay(0.1, 10, 0.01)
  cases <- list(
    "exponential_decay(init=0.1,decay_rate=0.9)" = mlx_exponential_decay(0.1, 0.9),
    "step_decay(init=0.1,decay_rate=0.5,step_size=3)" = mlx_step_decay(0.1, 0.5, 3),
    "cosine_decay(init=0.1,decay_steps=10,end=0.0)" = mlx_cosine_decay(0.1, 10),
    "cosine_decay(init=0.1,decay_steps=10,end=0.01)" = cosine,
    "linear_schedule(init=0.0,end=0.1,steps=5)" = linear,
    "linear_schedule(init=0.1,end=0.0,steps=20)" = mlx_linear_schedule(0.1, 0, 20),
    "join_schedules(schedules=[linear_schedule(init=0.0,end=0.1,steps=5),cosine_decay(init=0.1,decay_steps=10,end=0.01)],boundaries=[5])" =
      mlx_join_schedules(list(linear, cosine), 5),
    "join_schedules(schedules=[linear_schedule(init=0.0,end=0.1,steps=5),exponential_decay(init=0.1,decay_rate=0.8),cosine_decay(init=0.1,decay_steps=10,end=0.01)],boundaries=[5,12])" =
      mlx_join_schedules(list(linear, mlx_exponential_decay(0.1, 0.8), cosine), c(5, 12))
  )
  steps <- c(sched_fx[["steps"]])
  for (name in names(cases)) {
    expected <- c(sched_fx[[paste0(name, "/values")]])
    expect_equal(cases[[name]](steps), expected, tolerance = 1e-7, label = name)
    expect_equal(cases[[name]](c(0, 5, 12)), expected[c(1, 6, 13)],
                 tolerance = 1e-7, label = name)
  }
})

test_that("schedule class, print and plot", {
  lr <- mlx_cosine_decay(0.1, 100, end = 0.001)
  expect_s3_class(lr, c("mlx_schedule", "function"))
  expect_output(print(lr), "cosine_decay\\(init = 0.1, decay_steps = 100, end = 0.001\\)")
  path <- withr::local_tempfile(fileext = ".pdf")
  grDevices::pdf(path)
  expect_invisible(plot(lr, steps = 0:200))
  grDevices::dev.off()
  expect_gt(file.size(path), 0)
})

test_that("schedule argument errors", {
  expect_error(mlx_step_decay(0.1, 0.5, 0), "step_size")
  expect_error(mlx_cosine_decay(0.1, 0), "decay_steps")
  expect_error(mlx_linear_schedule(0, 0.1, 2.5), "steps")
  expect_error(mlx_join_schedules(list(mlx_exponential_decay(0.1, 0.9)), 3),
               "boundaries")
  expect_error(mlx_join_schedules(list(function(s) s), numeric()), "schedules")
  expect_error(mlx_exponential_decay(0.1, 0.9)(-1), "step")
})

test_that("schedule drives the learning rate", {
  # Lion moves each weight by exactly the learning rate.
  module <- mlx_linear(1, 1, bias = FALSE)
  mlx_param_set_values(module, list(weight = matrix(0, 1, 1)))
  opt <- mlx_optimizer_lion(mlx_linear_schedule(0, 0.3, 3))
  moves <- numeric()
  for (i in 1:4) {
    before <- c(mlx_param_values(module)$weight)
    mlx_optimizer_update(opt, module, list(weight = as_mlx(matrix(1, 1, 1))))
    moves[i] <- before - c(mlx_param_values(module)$weight)
  }
  expect_equal(moves, c(0, 0.1, 0.2, 0.3), tolerance = 1e-6)
  expect_equal(c(as.array(mlx_optimizer_state(opt)$learning_rate)), 0.3,
               tolerance = 1e-6)
})

test_that("initializers match MLX after mlx_random_seed", {
  cases <- list(
    "constant(shape=(2, 3),value=0.5)" = list(mlx_init_constant(0.5), c(2, 3)),
    "normal(shape=(3, 4),mean=1.0,std=2.0)" = list(mlx_init_normal(1, 2), c(3, 4)),
    "uniform(shape=(3, 4),low=-1.0,high=2.0)" = list(mlx_init_uniform(-1, 2), c(3, 4)),
    "identity(shape=(3, 3))" = list(mlx_init_identity(), c(3, 3)),
    "glorot_normal(shape=(4, 3))" = list(mlx_init_glorot_normal(), c(4, 3)),
    "glorot_normal(shape=(2, 3, 5),gain=2.0)" = list(mlx_init_glorot_normal(2), c(2, 3, 5)),
    "glorot_uniform(shape=(4, 3))" = list(mlx_init_glorot_uniform(), c(4, 3)),
    "glorot_uniform(shape=(2, 3, 5),gain=2.0)" = list(mlx_init_glorot_uniform(2), c(2, 3, 5)),
    "he_normal(shape=(4, 3))" = list(mlx_init_he_normal(), c(4, 3)),
    "he_normal(shape=(4, 3),mode='fan_out',gain=2.0)" = list(mlx_init_he_normal("fan_out", 2), c(4, 3)),
    "he_uniform(shape=(4, 3))" = list(mlx_init_he_uniform(), c(4, 3)),
    "he_uniform(shape=(4, 3, 2),mode='fan_out',gain=2.0)" = list(mlx_init_he_uniform("fan_out", 2), c(4, 3, 2)),
    "sparse(shape=(4, 6),sparsity=0.5)" = list(mlx_init_sparse(0.5), c(4, 6)),
    "sparse(shape=(5, 4),sparsity=0.3,mean=1.0,std=0.5)" = list(mlx_init_sparse(0.3, 1, 0.5), c(5, 4)),
    "orthogonal(shape=(3, 5))" = list(mlx_init_orthogonal(), c(3, 5)),
    "orthogonal(shape=(5, 3),gain=2.0)" = list(mlx_init_orthogonal(2), c(5, 3))
  )
  for (name in names(cases)) {
    init <- cases[[name]][[1]]
    # The seed of tools/fixtures/make_init_fixtures.py.
    mlx_random_seed(1234)
    value <- init(mlx_zeros(cases[[name]][[2]]))
    expect_equal(as.array(value), init_fx[[name]], tolerance = 1e-5, label = name)
  }
})

test_that("initializers follow set.seed", {
  init <- mlx_init_he_uniform()
  set.seed(3)
  a <- as.array(init(matrix(0, 4, 3)))
  set.seed(3)
  b <- as.array(init(matrix(0, 4, 3)))
  expect_identical(a, b)
  c <- as.array(init(matrix(0, 4, 3)))
  expect_false(identical(a, c))
})

test_that("initializer argument errors", {
  expect_error(mlx_init_identity()(matrix(0, 2, 3)), "square")
  expect_error(mlx_init_glorot_normal()(1:3), "2 dimensions")
  expect_error(mlx_init_he_normal(mode = "fan"), "mode")
  expect_error(mlx_init_sparse(1.5)(matrix(0, 2, 2)), "sparsity")
  expect_error(mlx_init_sparse(1.5), class = "rmlx_error_invalid_argument")
  expect_error(mlx_init_sparse(-0.1), "from 0 to 1")
  expect_error(mlx_init_normal(dtype = "nope"))
  expect_output(print(mlx_init_normal(0, 2)), "normal\\(mean = 0, std = 2\\)")
})

test_that("init_parameters selects parameters", {
  model <- mlx_sequential(mlx_linear(3, 4), mlx_layer_norm(4), mlx_linear(4, 2))
  before <- mlx_param_values(model)
  mlx_init_parameters(model, mlx_init_constant(2), layer = "Linear",
                      parameter = "weight")
  after <- mlx_param_values(model)
  expect_true(all(after$layers.0.weight == 2))
  expect_true(all(after$layers.2.weight == 2))
  expect_equal(after$layers.1.weight, before$layers.1.weight)
  expect_equal(after$layers.0.bias, before$layers.0.bias)

  mlx_init_parameters(model, mlx_init_constant(-1), pattern = "bias$")
  after <- mlx_param_values(model)
  expect_true(all(after$layers.0.bias == -1))
  expect_true(all(after$layers.1.bias == -1))

  mlx_init_parameters(model, mlx_init_constant(5), names = "layers.2.bias")
  after <- mlx_param_values(model)
  expect_true(all(after$layers.2.bias == 5))
  expect_true(all(after$layers.0.bias == -1))

  expect_error(mlx_init_parameters(model, mlx_init_constant(0), names = "nope"),
               "nope")
  expect_error(mlx_init_parameters(model, 3), "initializer")
})

test_that("init_parameters is reproducible", {
  make <- function() {
    model <- mlx_sequential(mlx_linear(3, 4), mlx_linear(4, 2))
    set.seed(10)
    mlx_init_parameters(model, mlx_init_orthogonal(), parameter = "weight")
    values <- mlx_param_values(model)
    list(values$layers.0.weight, values$layers.1.weight)
  }
  expect_identical(make(), make())
})

test_that("clip_grad_norm matches MLX", {
  grads <- list(
    weight = as_mlx(opt_fx2[["inputs/gradient/1/weight"]]),
    bias = as_mlx(c(opt_fx2[["inputs/gradient/1/bias"]]))
  )
  for (max_norm in c("0.5", "100.0")) {
    out <- mlx_clip_grad_norm(grads, as.numeric(max_norm))
    prefix <- paste0("clip/", max_norm, "/")
    expect_named(out, c("grads", "total_norm"))
    expect_equal(c(as.array(out$total_norm)),
                 c(opt_fx2[[paste0(prefix, "total_norm")]]), tolerance = 1e-6)
    expect_equal(c(as.array(out$grads$weight)),
                 c(opt_fx2[[paste0(prefix, "weight")]]), tolerance = 1e-6)
    expect_equal(c(as.array(out$grads$bias)),
                 c(opt_fx2[[paste0(prefix, "bias")]]), tolerance = 1e-6)
  }
  expect_error(mlx_clip_grad_norm(grads, -1), "max_norm")
  expect_error(mlx_clip_grad_norm(list(1), 1), "grads")
})

test_that("checkpoint gives the same gradients", {
  make <- function(checkpointed) {
    mlx_random_seed(4)
    block <- mlx_sequential(mlx_linear(4, 8), mlx_tanh())
    head <- mlx_linear(8, 1)
    if (checkpointed) block <- mlx_checkpoint(block)
    mlx_sequential(block, head)
  }
  loss <- function(model, x) mlx_sum(mlx_forward(model, x)^2)
  x <- matrix(seq(-1, 1, length.out = 12), 3, 4)
  plain <- mlx_value_and_grad(make(FALSE), loss)(x)
  checked <- mlx_value_and_grad(make(TRUE), loss)(x)
  expect_equal(as.array(checked$value), as.array(plain$value), tolerance = 1e-6)
  names(checked$grads) <- sub("module.", "", names(checked$grads), fixed = TRUE)
  expect_setequal(names(checked$grads), names(plain$grads))
  for (name in names(plain$grads)) {
    expect_equal(as.array(checked$grads[[name]]), as.array(plain$grads[[name]]),
                 tolerance = 1e-6, label = name)
  }
  expect_error(mlx_checkpoint(3), "module")
})

test_that("multi optimizer routes and checks filters", {
  model <- mlx_sequential(mlx_linear(3, 4), mlx_linear(4, 2))
  opt <- mlx_optimizer_multi(
    list(mlx_optimizer_adam(0.01), mlx_optimizer_sgd(0.1)),
    list(function(name) grepl("^layers\\.0\\.", name))
  )
  grads <- lapply(mlx_parameters(model), function(p) p * 0 + 1)
  mlx_optimizer_update(opt, model, grads)
  state <- names(mlx_optimizer_state(opt))
  expect_true("states.0.layers.0.weight.m" %in% state)
  expect_true("states.1.layers.1.weight.v" %in% state)
  expect_error(mlx_optimizer_multi(list(mlx_optimizer_sgd(0.1)), list("x")),
               "filters")
  expect_error(mlx_optimizer_multi(list(), list()), "optimizers")
  bad <- mlx_optimizer_multi(list(mlx_optimizer_sgd(0.1), mlx_optimizer_sgd(0.1)),
                             list(function(name) "yes"))
  expect_error(mlx_optimizer_update(bad, model, grads), "TRUE or FALSE")
})

test_that("option errors", {
  expect_error(mlx_optimizer_rmsprop(0.1, alpha = 1.5), "alpha")
  expect_error(mlx_optimizer_adagrad(0.1, eps = 0), "eps")
  expect_error(mlx_optimizer_adadelta(0.1, rho = 2), "rho")
  expect_error(mlx_optimizer_lion(0.1, weight_decay = -1), "weight_decay")
  expect_error(mlx_optimizer_muon(0.1, momentum = 1), "momentum")
  expect_error(mlx_optimizer_adafactor(relative_step = FALSE), "learning rate")
  expect_error(mlx_optimizer_adafactor(decay_rate = 0.5), "decay_rate")
  expect_error(mlx_optimizer_adafactor(eps = 1), "eps")
  expect_error(mlx_optimizer_rmsprop(), "learning_rate")
})

test_that("saved state resumes every optimizer exactly", {
  makers <- list(
    function() mlx_optimizer_rmsprop(0.01),
    function() mlx_optimizer_adagrad(0.01),
    function() mlx_optimizer_adadelta(1),
    function() mlx_optimizer_adamax(0.01),
    function() mlx_optimizer_lion(mlx_cosine_decay(0.01, 5), weight_decay = 0.1),
    function() mlx_optimizer_muon(0.02),
    function() mlx_optimizer_adafactor(beta_1 = 0.9),
    function() mlx_optimizer_adamw(mlx_linear_schedule(0, 0.01, 3)),
    function() mlx_optimizer_multi(list(mlx_optimizer_adam(0.01),
                                        mlx_optimizer_muon(0.02)), list("bias$"))
  )
  x <- matrix(seq(-1, 1, length.out = 12), 4, 3)
  y <- matrix(c(1, 0, -1, 2), 4, 1)
  loss <- function(model, x, y) mlx_mse_loss(mlx_forward(model, x), y)
  run <- function(model, opt, steps) {
    vg <- mlx_value_and_grad(model, loss)
    for (i in seq_len(steps)) mlx_optimizer_update(opt, model, vg(x, y)$grads)
  }
  make_model <- function() {
    mlx_random_seed(8)
    mlx_sequential(mlx_linear(3, 5), mlx_relu(), mlx_linear(5, 1))
  }
  for (i in seq_along(makers)) {
    reference <- make_model()
    run(reference, makers[[i]](), 5)

    model <- make_model()
    opt <- makers[[i]]()
    run(model, opt, 2)
    weights <- withr::local_tempfile(fileext = ".safetensors")
    state <- withr::local_tempfile(fileext = ".safetensors")
    mlx_save_weights(model, weights)
    mlx_optimizer_save(opt, state)

    resumed <- make_model()
    mlx_load_weights(resumed, weights)
    resumed_opt <- mlx_optimizer_load(makers[[i]](), state)
    run(resumed, resumed_opt, 3)
    expect_identical(mlx_param_values(resumed), mlx_param_values(reference),
                     label = class(opt)[[1]])
  }
})
