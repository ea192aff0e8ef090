# Reference values come from tools/fixtures/make_recurrent_fixtures.py: MLX
# Python 0.32.4 for the MLX layers, PyTorch for the stacked layers.
rec_fx <- read_fixture("recurrent")

# Reads the string metadata of a fixture file: the "__metadata__" object of
# its JSON header, whose values in these files contain no quotes.
read_fixture_metadata <- function(name) {
  path <- test_path("fixtures", paste0(name, ".safetensors"))
  con <- file(path, "rb")
  on.exit(close(con))
  size <- readBin(con, "integer", n = 2, size = 4, endian = "little")
  header <- readChar(con, size[[1]] + size[[2]] * 2^32, useBytes = TRUE)
  block <- regmatches(header, regexpr('"__metadata__":\\{[^}]*\\}', header))
  pairs <- regmatches(block, gregexpr('"[^"]*":"[^"]*"', block))[[1]]
  keys <- sub('^"([^"]*)":.*$', "\\1", pairs)
  values <- sub('^"[^"]*":"([^"]*)"$', "\\1", pairs)
  as.list(stats::setNames(values, keys))
}
rec_fx_metadata <- read_fixture_metadata("recurrent")

# The fixture's entries of one case, without the "<case>/" prefix.
fixture_case <- function(case) {
  prefix <- paste0(case, "/")
  keys <- names(rec_fx)[startsWith(names(rec_fx), prefix)]
  stats::setNames(rec_fx[keys], substring(keys, nchar(prefix) + 1))
}

# The entries of a case under `prefix` ("param/", "grad/param/"), by the
# rest of their key.
fixture_params <- function(fx, prefix = "param/") {
  keys <- names(fx)[startsWith(names(fx), prefix)]
  stats::setNames(fx[keys], substring(keys, nchar(prefix) + 1))
}

# The layers of the fixture file, as the script makes them after a seed.
mlx_cases <- list(
  rnn = function() mlx_rnn(3, 4),
  rnn_relu = function() mlx_rnn(3, 4, nonlinearity = mlx_act_relu),
  rnn_no_bias = function() mlx_rnn(3, 4, bias = FALSE),
  gru = function() mlx_gru(3, 4),
  gru_no_bias = function() mlx_gru(3, 4, bias = FALSE),
  lstm = function() mlx_lstm(3, 4),
  lstm_no_bias = function() mlx_lstm(3, 4, bias = FALSE)
)

stacked_cases <- list(
  stacked_rnn = function() {
    mlx_stacked_rnn(3, 4, num_layers = 2, bidirectional = TRUE)
  },
  stacked_rnn_relu = function() {
    mlx_stacked_rnn(3, 4, num_layers = 3, nonlinearity = "relu")
  },
  stacked_gru = function() {
    mlx_stacked_gru(3, 4, num_layers = 2, bidirectional = TRUE)
  },
  stacked_lstm = function() {
    mlx_stacked_lstm(3, 4, num_layers = 2, bidirectional = TRUE)
  },
  stacked_lstm_no_bias = function() {
    mlx_stacked_lstm(3, 4, bias = FALSE, bidirectional = TRUE)
  }
)

make_case <- function(cases, case) {
  mlx_random_seed(42)
  cases[[case]]()
}

is_lstm_case <- function(case) grepl("lstm", case)

# The loss the fixture script differentiates: outputs times fixed weights.
mlx_case_loss <- function(case) {
  function(model, x, hidden, cell, w, w_c) {
    if (is_lstm_case(case)) {
      out <- mlx_forward(model, x, hidden = hidden, cell = cell)
      return(sum(out[[1]] * w) + sum(out[[2]] * w_c))
    }
    sum(mlx_forward(model, x, hidden = hidden) * w)
  }
}

stacked_case_loss <- function(case, lengths) {
  function(model, x, hidden, cell, w, w_h, w_c) {
    out <- if (is_lstm_case(case)) {
      mlx_forward(model, x, hidden = hidden, cell = cell, lengths = lengths)
    } else {
      mlx_forward(model, x, hidden = hidden, lengths = lengths)
    }
    loss <- sum(out[[1]] * w) + sum(out[[2]] * w_h)
    if (is_lstm_case(case)) loss <- loss + sum(out[[3]] * w_c)
    loss
  }
}

# Checks the weights of each case, made after the fixture's seed, against
# the fixture.
expect_initial_weights <- function(cases) {
  for (case in names(cases)) {
    fx <- fixture_case(case)
    layer <- make_case(cases, case)
    params <- mlx_param_values(layer)
    expected <- fixture_params(fx)
    expect_named(params, names(expected), ignore.order = TRUE, label = case)
    for (name in names(expected)) {
      expect_equal(params[[name]], expected[[name]], tolerance = 1e-7,
                   label = paste(case, name))
    }
  }
}

test_that("recurrent initial weights match MLX", {
  expect_initial_weights(mlx_cases)
})

test_that("recurrent forward matches MLX and PyTorch", {
  for_each_kernel_path({
    for (case in names(mlx_cases)) {
      fx <- fixture_case(case)
      layer <- make_case(mlx_cases, case)
      if (is_lstm_case(case)) {
        out <- mlx_forward(layer, fx$x)
        expect_length(out, 2)
        expect_mlx_equal(out[[1]], fx$y, tolerance = 1e-5)
        expect_mlx_equal(out[[2]], fx$c, tolerance = 1e-5)
        out <- mlx_forward(layer, fx$x, hidden = fx$hidden, cell = fx$cell)
        expect_mlx_equal(out[[1]], fx$y_state, tolerance = 1e-5)
        expect_mlx_equal(out[[2]], fx$c_state, tolerance = 1e-5)
        out <- mlx_forward(layer, fx$x, cell = fx$cell)
        expect_mlx_equal(out[[1]], fx$y_cell_only, tolerance = 1e-5)
        expect_mlx_equal(mlx_forward(layer, fx$x1)[[1]], fx$y1, tolerance = 1e-5)
        expect_mlx_equal(mlx_forward(layer, fx$x)[[1]], fx$torch_y,
                         tolerance = 1e-5)
      } else {
        expect_mlx_equal(mlx_forward(layer, fx$x), fx$y, tolerance = 1e-5)
        expect_mlx_equal(mlx_forward(layer, fx$x, fx$hidden), fx$y_state,
                         tolerance = 1e-5)
        expect_mlx_equal(mlx_forward(layer, fx$x1), fx$y1, tolerance = 1e-5)
        expect_mlx_equal(mlx_forward(layer, fx$x), fx$torch_y, tolerance = 1e-5)
      }
    }
  })
})

test_that("recurrent gradients match MLX", {
  for_each_kernel_path({
    for (case in names(mlx_cases)) {
      fx <- fixture_case(case)
      layer <- make_case(mlx_cases, case)
      w_c <- fx$w_c %||% fx$w
      grads <- mlx_value_and_grad(layer, mlx_case_loss(case))(
        fx$x, fx$hidden, fx$cell, fx$w, w_c
      )$grads
      expected <- fixture_params(fx, "grad/param/")
      expect_setequal(names(grads), names(expected))
      for (name in names(expected)) {
        expect_mlx_equal(grads[[name]], expected[[name]], tolerance = 1e-4)
      }
    }
  })
})

test_that("recurrent gradients match finite differences", {
  x <- as_f64(array(sin(1:24), c(2, 4, 3)))
  hidden <- as_f64(matrix(cos(1:4), 2, 2))
  cases <- list(
    rnn = function() mlx_rnn(3, 2),
    gru = function() mlx_gru(3, 2),
    lstm = function() mlx_lstm(3, 2)
  )
  for (case in names(cases)) {
    layer <- make_case(cases, case)
    mlx_set_dtype(layer, "float64")
    loss <- function(model, x, hidden) {
      out <- mlx_forward(model, x, hidden = hidden)
      if (is.list(out)) out <- out[[1]] + 2 * out[[2]]
      sum(out * out)
    }
    # NOTE: MLX 0.32.4 computes float64 exp (so sigmoid) to about float32
    # accuracy, so a larger step keeps that rounding below the tolerance.
    expect_grad_matches_fd(layer, loss, x, hidden, h = 3e-3, tolerance = 1e-4,
                           label = case)
  }
})

test_that("rnn nonlinearity forms agree", {
  fx <- fixture_case("rnn_relu")
  forms <- list(
    name = "relu",
    layer = mlx_relu(),
    closure = function(x) mlx_act_relu(x)
  )
  for (form in names(forms)) {
    mlx_random_seed(42)
    layer <- mlx_rnn(3, 4, nonlinearity = forms[[form]])
    expect_mlx_equal(mlx_forward(layer, fx$x), fx$y, tolerance = 1e-5)
    expect_named(mlx_parameters(layer), c("Wxh", "Whh", "bias"))
  }
  # A closure keeps working after the caller drops its references.
  mlx_random_seed(42)
  layer <- mlx_rnn(3, 4, nonlinearity = function(x) mlx_act_relu(x))
  gc()
  expect_mlx_equal(mlx_forward(layer, fx$x), fx$y, tolerance = 1e-5)
  expect_error(mlx_rnn(3, 4, nonlinearity = "cosh"), class = "rmlx_error_invalid_argument")
  expect_error(mlx_rnn(3, 4, nonlinearity = 1), "activation function")
})

test_that("rnn applies every named activation as its function", {
  x <- as_mlx(array(rnorm(2 * 5 * 3, sd = 3), c(2, 5, 3)))
  known <- Rmlx:::rnn_activation_names()
  for (name in names(known)) {
    mlx_random_seed(7)
    by_name <- mlx_rnn(3, 4, nonlinearity = name)
    mlx_random_seed(7)
    # A closure goes through R, so it checks the C++ table against the
    # R function of the same name.
    by_closure <- mlx_rnn(3, 4, nonlinearity = function(x) known[[name]](x))
    expect_equal(as.array(mlx_forward(by_name, x)),
                 as.array(mlx_forward(by_closure, x)),
                 tolerance = 1e-6, label = name)
  }
})

test_that("recurrent print matches MLX", {
  mlx_random_seed(1)
  expect_identical(format(mlx_gru(3, 4)),
                   rec_fx_metadata[["gru/repr"]])
  expect_identical(format(mlx_lstm(3, 4, bias = FALSE)),
                   rec_fx_metadata[["lstm_no_bias/repr"]])
  expect_identical(
    format(mlx_rnn(3, 4)),
    "RNN(input_dims=3, hidden_size=4, nonlinearity=tanh, bias=True)"
  )
  expect_identical(
    format(mlx_rnn(3, 4, nonlinearity = mlx_leaky_relu(0.2))),
    paste0("RNN(input_dims=3, hidden_size=4, nonlinearity=LeakyReLU(), ",
           "bias=True\n  (nonlinearity): LeakyReLU()\n)")
  )
  expect_output(print(mlx_lstm(3, 4)), "<mlx_module> LSTM, 128 parameters")
  expect_s3_class(mlx_lstm(3, 4), "mlx_lstm")
  expect_s3_class(mlx_stacked_gru(3, 4), "mlx_stacked_gru")
  expect_identical(
    format(mlx_stacked_gru(3, 4, num_layers = 2, dropout = 0.5)),
    paste0(
      "StackedGRU(input_size=3, hidden_size=4, num_layers=2, bias=True, ",
      "dropout=0.5, bidirectional=False\n",
      "  (layers.0): GRU(input_dims=3, hidden_size=4, bias=True)\n",
      "  (layers.1): GRU(input_dims=4, hidden_size=4, bias=True)\n)"
    )
  )
})

test_that("recurrent constructors reject bad arguments", {
  expect_error(mlx_lstm(0, 4), class = "rmlx_error_invalid_argument")
  expect_error(mlx_gru(3, 1.5), "hidden_size")
  expect_error(mlx_rnn(3, 4, bias = NA), "bias")
  expect_error(mlx_stacked_lstm(3, 4, num_layers = 0), "num_layers")
  expect_error(mlx_stacked_gru(3, 4, dropout = 1), "dropout")
  expect_error(mlx_stacked_rnn(3, 4, bidirectional = "yes"), "bidirectional")
})

test_that("recurrent forward rejects bad inputs", {
  layer <- mlx_lstm(3, 4)
  expect_error(mlx_forward(layer, array(1, c(2, 5, 2))),
               "\\[LSTM\\] Expected x of shape", class = "rmlx_error_mlx")
  expect_error(mlx_forward(layer, 1:3), "LSTM")
  expect_error(mlx_forward(layer, array(1, c(2, 5, 3)), hidden = matrix(1, 3, 4)),
               "Expected hidden of shape \\(2, 4\\)")
  expect_error(mlx_forward(layer, array(1, c(2, 5, 3)), lengths = 1),
               "Unknown")
})

test_that("stacked initial weights follow the cell order", {
  expect_initial_weights(stacked_cases)
})

test_that("stacked forward with lengths matches PyTorch", {
  for_each_kernel_path({
    for (case in names(stacked_cases)) {
      fx <- fixture_case(case)
      layer <- make_case(stacked_cases, case)
      lengths <- as.integer(fx$lengths)
      out <- if (is_lstm_case(case)) {
        mlx_forward(layer, fx$x, fx$hidden, fx$cell, lengths)
      } else {
        mlx_forward(layer, fx$x, fx$hidden, lengths = lengths)
      }
      expect_mlx_equal(out[[1]], fx$output, tolerance = 1e-5)
      expect_mlx_equal(out[[2]], fx$h_n, tolerance = 1e-5)
      if (is_lstm_case(case)) {
        expect_mlx_equal(out[[3]], fx$c_n, tolerance = 1e-5)
      }
      full <- if (is_lstm_case(case)) {
        mlx_forward(layer, fx$x, hidden = fx$hidden, cell = fx$cell)
      } else {
        mlx_forward(layer, fx$x, hidden = fx$hidden)
      }
      expect_mlx_equal(full[[1]], fx$full_output, tolerance = 1e-5)
      expect_mlx_equal(full[[2]], fx$full_h_n, tolerance = 1e-5)
    }
  })
})

test_that("stacked gradients match PyTorch", {
  for_each_kernel_path({
    for (case in names(stacked_cases)) {
      fx <- fixture_case(case)
      layer <- make_case(stacked_cases, case)
      loss <- stacked_case_loss(case, as.integer(fx$lengths))
      w_c <- fx$w_c %||% fx$w_h
      grads <- mlx_value_and_grad(layer, loss)(
        fx$x, fx$hidden, fx$cell %||% fx$hidden, fx$w, fx$w_h, w_c
      )$grads
      expected <- fixture_params(fx, "grad/param/")
      expect_setequal(names(grads), names(expected))
      for (name in names(expected)) {
        expect_mlx_equal(grads[[name]], expected[[name]], tolerance = 1e-4)
      }
    }
  })
})

test_that("stacked input gradient matches PyTorch", {
  for_each_kernel_path({
    fx <- fixture_case("stacked_lstm")
    # The input becomes a parameter of a wrapper, so its gradient is reported.
    wrapper <- mlx_module(
      "InputAsParameter",
      initialize = function(layer, x) {
        self$layer <- layer
        self$x <- as_mlx(x)
      },
      forward = function(hidden, cell, lengths) {
        mlx_forward(self$layer, self$x, hidden, cell, lengths)
      }
    )
    model <- wrapper(make_case(stacked_cases, "stacked_lstm"), fx$x)
    loss <- function(model, hidden, cell) {
      out <- mlx_forward(model, hidden, cell, as.integer(fx$lengths))
      sum(out[[1]] * fx$w) + sum(out[[2]] * fx$w_h) + sum(out[[3]] * fx$w_c)
    }
    grads <- mlx_value_and_grad(model, loss)(fx$hidden, fx$cell)$grads
    expect_mlx_equal(grads$x, fx$`grad/x`, tolerance = 1e-4)
  })
})

test_that("stacked gradients match finite differences", {
  mlx_random_seed(3)
  layer <- mlx_stacked_lstm(2, 2, num_layers = 2, bidirectional = TRUE)
  mlx_set_dtype(layer, "float64")
  x <- as_f64(array(sin(1:24), c(3, 4, 2)))
  loss <- function(model, x) {
    out <- mlx_forward(model, x, lengths = c(4L, 1L, 3L))
    sum(out[[1]] * out[[1]]) + sum(out[[2]]) + 2 * sum(out[[3]])
  }
  # The step is larger for the reason given in the test above.
  expect_grad_matches_fd(layer, loss, x, h = 3e-3, tolerance = 1e-4)
})

test_that("recurrent kernels match MLX operations", {
  x <- array(sin(1:120), c(4, 6, 5))
  hidden <- array(cos(1:48), c(4, 4, 3))
  cell <- array(sin(2 * (1:48)), c(4, 4, 3))
  lengths <- c(6L, 0L, 3L, 5L)
  w <- array(cos(3 * (1:144)), c(4, 6, 6))
  loss <- function(model, x, hidden, cell) {
    out <- if (is.null(cell)) {
      mlx_forward(model, x, hidden = hidden, lengths = lengths)
    } else {
      mlx_forward(model, x, hidden = hidden, cell = cell, lengths = lengths)
    }
    total <- sum(out[[1]] * w) + sum(out[[2]] * out[[2]])
    if (length(out) == 3) total <- total + sum(out[[3]])
    total
  }
  for (kind in c("lstm", "gru")) {
    results <- list()
    for (enabled in c(TRUE, FALSE)) {
      old <- mlx_custom_kernels(enabled)
      mlx_random_seed(21)
      layer <- if (kind == "lstm") {
        mlx_stacked_lstm(5, 3, num_layers = 2, bidirectional = TRUE)
      } else {
        mlx_stacked_gru(5, 3, num_layers = 2, bidirectional = TRUE)
      }
      initial_cell <- if (kind == "lstm") cell else NULL
      results[[length(results) + 1]] <- mlx_value_and_grad(layer, loss)(
        x, hidden, initial_cell
      )
      mlx_custom_kernels(old)
    }
    fused <- results[[1]]
    ops <- results[[2]]
    expect_equal(as.array(fused$value), as.array(ops$value),
                 tolerance = 1e-5, label = kind)
    expect_setequal(names(fused$grads), names(ops$grads))
    for (name in names(ops$grads)) {
      expect_equal(as.array(fused$grads[[name]]), as.array(ops$grads[[name]]),
                   tolerance = 1e-4, label = paste(kind, name))
    }
  }
})

test_that("stacked lengths are checked", {
  layer <- mlx_stacked_gru(3, 4)
  x <- array(1, c(2, 5, 3))
  expect_error(mlx_forward(layer, x, lengths = c(5L, 6L)),
               "between 0 and the number of steps, 5",
               class = "rmlx_error_invalid_argument")
  expect_error(mlx_forward(layer, x, lengths = c(-1, 2)), "Found -1")
  expect_error(mlx_forward(layer, x, lengths = 5L), "one entry per sequence")
  expect_error(mlx_forward(layer, x, lengths = c(2, NA)), "without NA")
  expect_error(mlx_forward(layer, x, lengths = c(2.5, 1)), "whole numbers")
  expect_error(mlx_forward(layer, x, lengths = "5"), "whole numbers")
  expect_error(mlx_forward(layer, x[1, , ], lengths = 5L), "batched")
  expect_error(mlx_forward(layer, x, hidden = array(1, c(2, 4))),
               "\\(num_layers \\* directions, N, hidden_size\\)")
  # Lengths given as an MLX array pass through to the layer.
  out <- mlx_forward(layer, x, lengths = as_mlx(c(5L, 2L), dtype = "int32"))
  expect_identical(dim(out[[1]]), c(2L, 5L, 4L))
  expect_equal(as.array(out[[1]])[2, 3:5, ], array(0, c(3, 4)))
})

test_that("stacked last step state is in the final states", {
  for_each_kernel_path({
    mlx_random_seed(4)
    layer <- mlx_stacked_gru(3, 4, num_layers = 2, bidirectional = TRUE)
    x <- array(sin(1:45), c(3, 5, 3))
    lengths <- c(5L, 2L, 4L)
    out <- mlx_forward(layer, x, lengths = lengths)
    output <- as.array(out[[1]])
    final <- as.array(out[[2]])
    for (n in 1:3) {
      # Forward direction: the output at the last valid step; backward
      # direction: the output at the first step.
      expect_equal(final[3, n, ], output[n, lengths[[n]], 1:4], tolerance = 1e-6)
      expect_equal(final[4, n, ], output[n, 1, 5:8], tolerance = 1e-6)
    }
  })
})

test_that("stacked dropout follows the training mode", {
  set.seed(5)
  layer <- mlx_stacked_rnn(2, 8, num_layers = 2, dropout = 0.5)
  x <- array(sin(1:40), c(2, 10, 2))
  trained <- as.array(mlx_forward(layer, x)[[1]])
  mlx_set_training(layer, FALSE)
  evaluated <- as.array(mlx_forward(layer, x)[[1]])
  expect_false(isTRUE(all.equal(trained, evaluated)))
  expect_equal(as.array(mlx_forward(layer, x)[[1]]), evaluated)
})

test_that("stacked layer takes unbatched input", {
  for_each_kernel_path({
    mlx_random_seed(6)
    layer <- mlx_stacked_lstm(3, 2, bidirectional = TRUE)
    x <- matrix(sin(1:15), 5, 3)
    out <- mlx_forward(layer, x)
    expect_identical(dim(out[[1]]), c(5L, 4L))
    expect_identical(dim(out[[2]]), c(2L, 2L))
    batched <- mlx_forward(layer, array(x, c(1, 5, 3)))
    expect_equal(as.array(out[[1]]), as.array(batched[[1]])[1, , ],
                 tolerance = 1e-6)
  })
})

test_that("stacked layer trains in compiled steps", {
  x <- array(sin(1:60), c(4, 5, 3))
  lengths <- c(5L, 2L, 4L, 1L)
  y <- matrix(c(1, -1, 0.5, 0), 4, 1)
  # The loss reads the top layer's final states of both directions.
  loss <- function(model, x, lengths, y) {
    out <- mlx_forward(model$rnn, x, lengths = lengths)
    final <- mlx_concatenate(list(out[[2]][3, , ], out[[2]][4, , ]), axis = 2)
    mlx_mse_loss(mlx_forward(model$head, final), y)
  }
  classifier <- mlx_module(
    "Classifier",
    initialize = function() {
      self$rnn <- mlx_stacked_gru(3, 4, num_layers = 2, bidirectional = TRUE)
      self$head <- mlx_linear(8, 1)
    },
    forward = function(x) x
  )
  losses <- list()
  for (compile in c(TRUE, FALSE)) {
    mlx_random_seed(11)
    model <- classifier()
    step <- mlx_train_step(model, mlx_optimizer_sgd(learning_rate = 0.1),
                           loss, compile = compile)
    losses[[length(losses) + 1]] <- vapply(
      1:4, function(i) as.numeric(step(x, lengths, y)), numeric(1)
    )
  }
  expect_equal(losses[[1]], losses[[2]], tolerance = 1e-5)
  expect_lt(losses[[1]][[4]], losses[[1]][[1]])
})
