# MLX's memory counters and the collection of unreachable arrays.

test_that("mlx_memory reports active, peak and cache bytes", {
  x <- as_mlx(matrix(1, 512, 512))
  mlx_eval(x)
  memory <- mlx_memory()
  expect_named(memory, c("active", "peak", "cache"))
  expect_gte(memory[["active"]], 512 * 512 * 4)
  expect_gte(memory[["peak"]], memory[["active"]])
  expect_gte(memory[["cache"]], 0)
})

test_that("mlx_memory resets the peak", {
  big <- as_mlx(array(1, c(1024, 1024, 4)))
  mlx_eval(big)
  rm(big)
  gc()
  before <- mlx_memory(reset_peak = TRUE)
  after <- mlx_memory()
  expect_gte(before[["peak"]], 16 * 1024^2)
  expect_lt(after[["peak"]], before[["peak"]])
})

test_that("mlx_memory peak covers arrays kept over a reset", {
  x <- as_mlx(matrix(1, 1000, 1000))
  mlx_eval(x)
  mlx_memory(reset_peak = TRUE)
  memory <- mlx_memory()
  expect_gte(memory[["active"]], 1000 * 1000 * 4)
  expect_gte(memory[["peak"]], memory[["active"]])
})

test_that("mlx_clear_cache empties MLX's buffer cache", {
  x <- as_mlx(matrix(1, 256, 256)) * 2
  mlx_eval(x)
  rm(x)
  gc()
  expect_gt(mlx_memory()[["cache"]], 0)
  expect_null(mlx_clear_cache())
  expect_identical(mlx_memory()[["cache"]], 0)
})

test_that("mlx_memory rejects a non-logical reset_peak", {
  expect_error(mlx_memory(reset_peak = "yes"), "reset_peak")
})

# A loss whose forward pass leaves about 4 MiB of arrays that only R's
# garbage collector can free.
garbage_loss <- function(model, x) {
  out <- mlx_forward(model, x)
  mlx_mean(out * out)
}

garbage_growth <- function(collect_bytes, steps = 40) {
  withr::local_options(rmlx.collect_bytes = collect_bytes)
  set.seed(1)
  model <- mlx_linear(64, 256)
  x <- as_mlx(matrix(rnorm(4096 * 64), 4096, 64))
  vg <- mlx_value_and_grad(model, garbage_loss)
  out <- vg(x)
  mlx_eval(out$value)
  gc()
  start <- mlx_memory()[["active"]]
  for (i in seq_len(steps)) {
    out <- vg(x)
    mlx_eval(out$value)
  }
  mlx_memory()[["active"]] - start
}

test_that("training loops collect their unreachable arrays", {
  # Each step leaves two (4096, 256) float32 arrays, 8 MiB, behind.
  growth <- garbage_growth(16 * 1024^2)
  expect_lt(growth, 48 * 1024^2)
})

test_that("rmlx.collect_bytes = Inf leaves collection to R", {
  gc()
  growth <- garbage_growth(Inf, steps = 10)
  expect_gt(growth, 40 * 1024^2)
})

test_that("an invalid rmlx.collect_bytes raises a clear error", {
  x <- as_mlx(1)
  for (bad in list("64", -1, NA_real_, c(1, 2))) {
    withr::local_options(rmlx.collect_bytes = bad)
    expect_error(mlx_eval(x), "rmlx.collect_bytes", class = "rmlx_error_invalid_argument")
  }
})

test_that("training functions fail in a forked child", {
  skip_on_os("windows")
  model <- mlx_linear(2, 1)
  loss <- function(model, x, y) mlx_mse_loss(mlx_forward(model, x), y)
  vg <- mlx_value_and_grad(model, loss)
  step <- mlx_train_step(model, mlx_optimizer_sgd(0.1), loss)
  x <- matrix(1, 4, 2)
  y <- matrix(0, 4, 1)
  # An evaluation in the parent starts MLX's stream thread, which the child
  # lacks. as_mlx() evaluates a matrix, so without a check it would wait
  # forever: collect with a timeout.
  expected <- as.numeric(vg(x, y)$value)
  lr <- mlx_cosine_decay(1e-3, decay_steps = 900)
  calls <- list(
    value_and_grad = function() vg(x, y),
    train_step = function() step(x, y),
    as_mlx = function() as_mlx(x),
    schedule = function() lr(1:3)
  )
  for (name in names(calls)) {
    job <- parallel::mcparallel(
      tryCatch(calls[[name]](), error = function(e) conditionMessage(e))
    )
    result <- parallel::mccollect(job, wait = FALSE, timeout = 30)
    # Ends and reaps the child either way, so that parallel has no child
    # left to stop when R exits.
    tools::pskill(job$pid)
    parallel::mccollect(job, wait = TRUE)
    expect_false(is.null(result), label = paste(name, "timed out"))
    if (!is.null(result)) {
      expect_match(unlist(result), "forked from the one that loaded Rmlx",
                   label = name)
    }
  }
  expect_equal(as.numeric(vg(x, y)$value), expected)
})

# Runs a loop that leaves 200 MiB of unreachable arrays and evaluates them
# without mlx_eval(), in a new R process with RMLX_GC_THRESHOLD_MB set to
# `value`. Returns the process's output lines, with stderr.
run_with_gc_threshold <- function(value) {
  script <- withr::local_tempfile(fileext = ".R")
  writeLines(c(
    "suppressMessages(library(Rmlx))",
    "options(rmlx.collect_bytes = Inf)",
    "base <- as_mlx(matrix(1, 512, 512))",
    "max_active <- 0",
    "for (i in 1:200) {",
    "  s <- as.array(mlx_sum(base * i))",
    "  max_active <- max(max_active, mlx_memory()[['active']])",
    "}",
    "cat('max active MiB:', max_active / 2^20, '\\n')"
  ), script)
  env <- c(
    paste0("RMLX_GC_THRESHOLD_MB=", shQuote(value)),
    paste0("R_LIBS=", shQuote(paste(.libPaths(), collapse = ":")))
  )
  suppressWarnings(system2(
    file.path(R.home("bin"), "Rscript"), shQuote(script),
    env = env, stdout = TRUE, stderr = TRUE
  ))
}

max_active_mib <- function(output) {
  line <- grep("^max active MiB:", output, value = TRUE)
  as.numeric(sub("^max active MiB: ", "", line))
}

test_that("RMLX_GC_THRESHOLD_MB bounds the active memory", {
  skip_on_os("windows")
  output <- run_with_gc_threshold("8")
  expect_length(max_active_mib(output), 1)
  expect_lt(max_active_mib(output), 32)
  expect_false(any(grepl("RMLX_GC_THRESHOLD_MB", output)))
})

test_that("invalid RMLX_GC_THRESHOLD_MB keeps the default", {
  skip_on_os("windows")
  for (value in c("abc", "-3", "inf", "nan", "8MB")) {
    output <- run_with_gc_threshold(value)
    expect_true(
      any(grepl(paste0("RMLX_GC_THRESHOLD_MB=\"", value, "\" is invalid"),
                output, fixed = TRUE)),
      label = paste("message for", value)
    )
    # The loop runs to its end. Telling the default, 1024 MiB, from
    # collection turned off would take more than 1 GiB of arrays.
    expect_length(max_active_mib(output), 1)
  }
  empty <- run_with_gc_threshold("")
  expect_false(any(grepl("RMLX_GC_THRESHOLD_MB", empty)))
})
