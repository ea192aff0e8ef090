opt_fx <- read_fixture("optimizers")

# A module holding the fixture's parameters as raw arrays "weight" and "bias".
raw_params <- mlx_module("RawParams",
  initialize = function() {
    self$weight <- as_mlx(opt_fx[["inputs/parameter/weight"]])
    self$bias <- as_mlx(c(opt_fx[["inputs/parameter/bias"]]))
  },
  forward = function(x) x
)

fixture_grads <- function(step) {
  list(
    weight = as_mlx(opt_fx[[sprintf("inputs/gradient/%d/weight", step)]]),
    bias = as_mlx(c(opt_fx[[sprintf("inputs/gradient/%d/bias", step)]]))
  )
}

# Parses a case name "optimizer=SGD,learning_rate=0.1,..." into a list.
parse_case <- function(case) {
  pairs <- strsplit(strsplit(case, ",", fixed = TRUE)[[1]], "=", fixed = TRUE)
  values <- lapply(pairs, `[[`, 2)
  names(values) <- vapply(pairs, `[[`, "", 1)
  values
}

make_optimizer <- function(options) {
  num <- function(key) as.numeric(options[[key]])
  flag <- function(key) options[[key]] == "1"
  lr <- if (identical(options$learning_rate, "None")) NULL else num("learning_rate")
  if (!is.null(options$schedule)) {
    lr <- mlx_exponential_decay(lr, num("schedule_decay_rate"))
  }
  switch(options$optimizer,
    RMSprop = mlx_optimizer_rmsprop(lr, alpha = num("alpha"), eps = num("eps")),
    Adagrad = mlx_optimizer_adagrad(lr, eps = num("eps")),
    AdaDelta = mlx_optimizer_adadelta(lr, rho = num("rho"), eps = num("eps")),
    Adamax = mlx_optimizer_adamax(lr, betas = c(num("beta1"), num("beta2")),
                                  eps = num("eps")),
    Lion = mlx_optimizer_lion(lr, betas = c(num("beta1"), num("beta2")),
                              weight_decay = num("weight_decay")),
    Muon = mlx_optimizer_muon(lr, momentum = num("momentum"),
                              weight_decay = num("weight_decay"),
                              nesterov = flag("nesterov"),
                              ns_steps = num("ns_steps")),
    Adafactor = mlx_optimizer_adafactor(
      lr, eps = c(num("eps1"), num("eps2")),
      clip_threshold = num("clip_threshold"), decay_rate = num("decay_rate"),
      beta_1 = if (options$beta_1 == "None") NULL else num("beta_1"),
      weight_decay = num("weight_decay"),
      scale_parameter = flag("scale_parameter"),
      relative_step = flag("relative_step"), warmup_init = flag("warmup_init")
    ),
    # The fixture's MultiOptimizer: "weight" to SGD, the rest to Adam.
    MultiOptimizer = mlx_optimizer_multi(
      list(mlx_optimizer_sgd(lr, momentum = 0.9),
           mlx_optimizer_adam(lr, bias_correction = TRUE)),
      list(function(name) name == "weight")
    ),
    SGD = mlx_optimizer_sgd(
      learning_rate = lr, momentum = num("momentum"),
      weight_decay = num("weight_decay"), dampening = num("dampening"),
      nesterov = flag("nesterov")
    ),
    Adam = mlx_optimizer_adam(
      learning_rate = lr,
      betas = c(num("beta1"), num("beta2")), eps = num("eps"),
      bias_correction = flag("bias_correction")
    ),
    AdamW = mlx_optimizer_adamw(
      learning_rate = lr,
      betas = c(num("beta1"), num("beta2")), eps = num("eps"),
      weight_decay = num("weight_decay"),
      bias_correction = flag("bias_correction")
    )
  )
}

cases <- unique(sub("/.*", "", grep("^optimizer=", names(opt_fx), value = TRUE)))
constant_cases <- cases[!grepl("schedule=", cases, fixed = TRUE)]
scheduled_cases <- cases[grepl("schedule=", cases, fixed = TRUE)]

test_that("fixture covers every optimizer", {
  kinds <- vapply(cases, function(case) parse_case(case)$optimizer, "")
  expect_setequal(unique(kinds), c(
    "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "AdaDelta", "Adamax",
    "Lion", "Muon", "Adafactor", "MultiOptimizer"
  ))
  expect_length(scheduled_cases, 7)
})

test_that("scheduled optimizer steps match MLX", {
  for (case in scheduled_cases) {
    module <- raw_params()
    optimizer <- make_optimizer(parse_case(case))
    for (step in 1:3) {
      mlx_optimizer_update(optimizer, module, fixture_grads(step))
      values <- mlx_param_values(module)
      for (name in c("weight", "bias")) {
        expected <- opt_fx[[sprintf("%s/mlx/%d/%s", case, step, name)]]
        expect_equal(c(values[[name]]), c(expected), tolerance = 1e-5,
                     label = sprintf("%s step %d %s", case, step, name))
      }
    }
  }
})

test_that("optimizer steps match MLX", {
  for (case in constant_cases) {
    module <- raw_params()
    optimizer <- make_optimizer(parse_case(case))
    for (step in 1:3) {
      mlx_optimizer_update(optimizer, module, fixture_grads(step))
      values <- mlx_param_values(module)
      for (name in c("weight", "bias")) {
        expected <- opt_fx[[sprintf("%s/mlx/%d/%s", case, step, name)]]
        expect_equal(c(values[[name]]), c(expected), tolerance = 1e-5,
                     label = sprintf("%s step %d %s", case, step, name))
      }
    }
  }
})

test_that("optimizer state matches MLX", {
  for (case in constant_cases) {
    module <- raw_params()
    optimizer <- make_optimizer(parse_case(case))
    for (step in 1:3) mlx_optimizer_update(optimizer, module, fixture_grads(step))
    state <- lapply(mlx_optimizer_state(optimizer), as.array)
    prefix <- paste0(case, "/mlx/state/")
    expected_names <- sub(prefix, "", grep(prefix, names(opt_fx), fixed = TRUE,
                                           value = TRUE), fixed = TRUE)
    expect_setequal(names(state), expected_names)
    for (name in expected_names) {
      expect_equal(c(state[[name]]), c(opt_fx[[paste0(prefix, name)]]),
                   tolerance = 1e-5, label = paste(case, name))
    }
  }
})

test_that("optimizer state names and step count", {
  optimizer <- mlx_optimizer_adam(learning_rate = 0.1)
  expect_equal(c(as.array(mlx_optimizer_state(optimizer)$step)), 0)
  module <- raw_params()
  mlx_optimizer_update(optimizer, module, fixture_grads(1))
  mlx_optimizer_update(optimizer, module, fixture_grads(2))
  state <- mlx_optimizer_state(optimizer)
  expect_setequal(names(state), c("step", "learning_rate", "weight.m",
                                  "weight.v", "bias.m", "bias.v"))
  expect_equal(c(as.array(state$step)), 2)
})

test_that("set_state resumes a run", {
  case <- constant_cases[grepl("optimizer=Adam,", constant_cases, fixed = TRUE)][[1]]
  options <- parse_case(case)
  first <- make_optimizer(options)
  module <- raw_params()
  mlx_optimizer_update(first, module, fixture_grads(1))
  path <- withr::local_tempfile(fileext = ".safetensors")
  mlx_save_safetensors(mlx_optimizer_state(first), path)

  resumed <- make_optimizer(options)
  mlx_optimizer_set_state(resumed, mlx_load_safetensors(path))
  for (step in 2:3) mlx_optimizer_update(resumed, module, fixture_grads(step))

  values <- mlx_param_values(module)
  expect_equal(c(values$weight), c(opt_fx[[paste0(case, "/mlx/3/weight")]]),
               tolerance = 1e-5)
  expect_equal(c(values$bias), c(opt_fx[[paste0(case, "/mlx/3/bias")]]),
               tolerance = 1e-5)
  expect_equal(c(as.array(mlx_optimizer_state(resumed)$step)), 3)
})

test_that("update with some gradients leaves others", {
  module <- raw_params()
  before <- mlx_param_values(module)
  optimizer <- mlx_optimizer_sgd(learning_rate = 0.1)
  mlx_optimizer_update(optimizer, module, fixture_grads(1)["bias"])
  after <- mlx_param_values(module)
  expect_equal(after$weight, before$weight)
  expected_bias <- c(before$bias) - 0.1 * c(opt_fx[["inputs/gradient/1/bias"]])
  expect_equal(c(after$bias), expected_bias, tolerance = 1e-6)
})

test_that("learning_rate is required", {
  expect_error(mlx_optimizer_sgd(), "learning_rate")
  expect_error(mlx_optimizer_adam(), "learning_rate")
  expect_error(mlx_optimizer_adamw(), "learning_rate")
})

test_that("optimizer rejects bad arguments", {
  expect_error(mlx_optimizer_adam(learning_rate = 0.1, betas = 0.9))
  expect_error(mlx_optimizer_sgd(function(step) 0.1), "or a schedule")
  optimizer <- mlx_optimizer_sgd(learning_rate = 0.1)
  expect_error(mlx_optimizer_update(optimizer, raw_params(), list(1)), "named")
  expect_error(mlx_optimizer_update(list(), raw_params(), list()), "optimizer")
})

test_that("optimizer prints its settings", {
  expect_output(print(mlx_optimizer_sgd(learning_rate = 0.1, momentum = 0.9)),
                "momentum: 0.9")
})
