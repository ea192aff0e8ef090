# Weights files moving between Rmlx, MLX Python and PyTorch. The Python side
# is tools/interop/interop.py, run with $PYTHON or the repository's .venv.
# These tests skip when run outside a checkout (e.g. from a source tarball)
# or when that Python lacks the packages they need.

repo_root <- function() {
  normalizePath(test_path("..", "..", ".."), mustWork = FALSE)
}

interop_script <- function() {
  file.path(repo_root(), "tools", "interop", "interop.py")
}

find_python <- function() {
  python <- Sys.getenv("PYTHON")
  if (nzchar(python)) {
    return(python)
  }
  venv <- file.path(repo_root(), ".venv", "bin", "python")
  if (file.exists(venv)) venv else ""
}

python_can_import <- function(python, module) {
  status <- suppressWarnings(system2(
    python, c("-c", shQuote(paste("import", module))),
    stdout = FALSE, stderr = FALSE
  ))
  identical(as.integer(status), 0L)
}

# Skips unless the interop script exists and `python` imports `modules`;
# returns the Python executable.
skip_without_python <- function(modules = "mlx.core") {
  script <- interop_script()
  skip_if_not(file.exists(script),
              paste("tools/interop/interop.py not found at", script))
  python <- find_python()
  skip_if(!nzchar(python),
          "Python not found: set PYTHON or create the repository's .venv")
  skip_if(!nzchar(Sys.which(python)),
          paste("Python executable not found:", python))
  for (module in modules) {
    skip_if_not(python_can_import(python, module),
                paste0("Python module ", module, " is not importable by ", python))
  }
  python
}

# Runs interop.py with the arguments in `...` and returns its output lines;
# raises an error that shows the output when the script fails.
run_interop <- function(python, ...) {
  args <- vapply(c(...), shQuote, character(1))
  output <- suppressWarnings(system2(
    python, c(shQuote(interop_script()), args),
    stdout = TRUE, stderr = TRUE
  ))
  status <- attr(output, "status")
  if (!is.null(status) && status != 0L) {
    stop(paste(c(paste("interop.py", paste(c(...), collapse = " "),
                       "failed with status", status), output),
               collapse = "\n"), call. = FALSE)
  }
  output
}

# Saves `model` and `x`, runs the MLX Python twin of `model` on `x`, and
# returns the Python output as an MLX array.
python_forward <- function(python, model_name, model, x) {
  weights <- withr::local_tempfile(fileext = ".safetensors")
  input <- withr::local_tempfile(fileext = ".safetensors")
  output <- withr::local_tempfile(fileext = ".safetensors")
  mlx_save_weights(model, weights)
  mlx_save_safetensors(list(x = x), input)
  run_interop(python, "forward", model_name, weights, input, output)
  mlx_load_safetensors(output)$y
}

custom_block <- mlx_module("Block",
  initialize = function(n_in, n_hidden, n_out) {
    self$input <- mlx_linear(n_in, n_hidden)
    self$hidden <- list(mlx_linear(n_hidden, n_hidden), mlx_layer_norm(n_hidden))
    self$scale <- as_mlx(rep(1, n_out))
    self$output <- mlx_linear(n_hidden, n_out)
  },
  forward = function(x) {
    h <- mlx_act_relu(mlx_forward(self$input, x))
    for (layer in self$hidden) h <- mlx_forward(layer, h)
    mlx_forward(self$output, h) * self$scale
  }
)

custom_outer <- mlx_module("Outer",
  initialize = function() {
    self$block <- custom_block(3, 4, 2)
    self$bias <- as_mlx(c(0, 0))
  },
  forward = function(x) mlx_forward(self$block, x) + self$bias
)

test_that("sequential MLP loads in MLX Python", {
  python <- skip_without_python()
  set.seed(1)
  model <- mlx_sequential(mlx_linear(6, 5), mlx_relu(), mlx_layer_norm(5),
                          mlx_linear(5, 3))
  mlx_param_set_values(model, list(layers.2.weight = rnorm(5),
                                   layers.2.bias = rnorm(5)))
  mlx_set_training(model, FALSE)
  x <- as_mlx(matrix(rnorm(24), 4, 6))
  expected <- as.array(mlx_forward(model, x))

  actual <- python_forward(python, "mlp", model, x)

  expect_equal(dim(actual), c(4, 3))
  expect_equal(as.array(actual), expected, tolerance = 1e-5)
})

test_that("embedding and batch norm load in MLX Python", {
  python <- skip_without_python()
  set.seed(2)
  model <- mlx_sequential(mlx_embedding(7, 4), mlx_batch_norm(4),
                          mlx_linear(4, 2))
  # mlx_embedding() takes 1-based indices, even as MLX arrays, and MLX
  # Python takes 0-based ones.
  ids <- matrix(c(0L, 3L, 6L, 1L, 5L, 2L), 2, 3)
  ids_r <- as_mlx(ids + 1L)
  mlx_set_training(model, TRUE)
  mlx_forward(model, ids_r)
  running <- mlx_param_values(model)
  expect_false(all(running[["layers.1.running_mean"]] == 0))
  expect_false(all(running[["layers.1.running_var"]] == 1))
  mlx_set_training(model, FALSE)
  expected <- as.array(mlx_forward(model, ids_r))

  actual <- python_forward(python, "embedding", model, as_mlx(ids))

  expect_equal(dim(actual), c(2, 3, 2))
  expect_equal(as.vector(as.array(actual)), as.vector(expected),
               tolerance = 1e-5)
})

test_that("MLX Python weights load strictly", {
  python <- skip_without_python()
  for (model_name in c("mlp", "embedding")) {
    weights <- withr::local_tempfile(fileext = ".safetensors")
    data <- withr::local_tempfile(fileext = ".safetensors")
    run_interop(python, "export", model_name, "3", weights, data)
    model <- switch(model_name,
      mlp = mlx_sequential(mlx_linear(6, 5), mlx_relu(), mlx_layer_norm(5),
                           mlx_linear(5, 3)),
      embedding = mlx_sequential(mlx_embedding(7, 4), mlx_batch_norm(4),
                                 mlx_linear(4, 2))
    )
    mlx_load_weights(model, weights, strict = TRUE)
    mlx_set_training(model, FALSE)
    reference <- mlx_load_safetensors(data)
    x <- reference$x
    if (model_name == "embedding") {
      # MLX Python wrote 0-based token ids, and mlx_embedding() takes 1-based.
      x <- as_mlx(as.array(x) + 1L)
    }

    actual <- mlx_forward(model, x)

    expect_equal(dim(actual), dim(reference$y), label = model_name)
    expect_equal(as.vector(as.array(actual)), as.vector(as.array(reference$y)),
                 tolerance = 1e-5, label = model_name)
  }
})

test_that("PyTorch linear loads into mlx_linear", {
  python <- skip_without_python(c("mlx.core", "torch", "safetensors.torch"))
  weights <- withr::local_tempfile(fileext = ".safetensors")
  data <- withr::local_tempfile(fileext = ".safetensors")
  run_interop(python, "torch-linear", "4", weights, data)
  layer <- mlx_linear(6, 3)
  reference <- mlx_load_safetensors(data)

  mlx_load_weights(layer, weights, strict = TRUE)
  actual <- mlx_forward(layer, reference$x)

  expect_setequal(names(mlx_load_safetensors(weights)), c("weight", "bias"))
  expect_equal(dim(mlx_parameters(layer)$weight), c(3, 6))
  expect_equal(as.array(actual), as.array(reference$y), tolerance = 1e-5)
})

test_that("custom module names match MLX Python", {
  python <- skip_without_python()
  model <- custom_outer()

  python_names <- run_interop(python, "names", "custom")

  expect_setequal(names(mlx_parameters(model)), python_names)
})

test_that("custom module loads in MLX Python", {
  python <- skip_without_python()
  set.seed(5)
  model <- custom_outer()
  mlx_param_set_values(model, list(block.scale = c(2, -1), bias = c(0.5, -0.25)))
  x <- as_mlx(matrix(rnorm(12), 4, 3))
  expected <- as.array(mlx_forward(model, x))

  actual <- python_forward(python, "custom", model, x)

  expect_equal(as.array(actual), expected, tolerance = 1e-5)
})

test_that("MLX Python custom module loads in R", {
  python <- skip_without_python()
  weights <- withr::local_tempfile(fileext = ".safetensors")
  data <- withr::local_tempfile(fileext = ".safetensors")
  run_interop(python, "export", "custom", "6", weights, data)
  model <- custom_outer()
  reference <- mlx_load_safetensors(data)

  mlx_load_weights(model, weights, strict = TRUE)
  actual <- mlx_forward(model, reference$x)

  expect_equal(as.array(actual), as.array(reference$y), tolerance = 1e-5)
})

# Twins of interop.py's LAYERS: every layer type with parameters, in
# .safetensors and .npz, both directions.
interop_layers <- list(
  linear = list(build = function() mlx_linear(6, 4), input = c(3, 6)),
  linear_no_bias = list(build = function() mlx_linear(6, 4, bias = FALSE),
                        input = c(3, 6)),
  embedding = list(build = function() mlx_embedding(7, 4), input = 7),
  layer_norm = list(build = function() mlx_layer_norm(6), input = c(3, 6)),
  batch_norm = list(build = function() mlx_batch_norm(6), input = c(4, 6)),
  conv1d = list(build = function() mlx_conv1d(3, 4, 3, padding = 1),
                input = c(2, 8, 3)),
  conv2d = list(build = function() mlx_conv2d(3, 4, 3, stride = 2),
                input = c(2, 7, 7, 3)),
  conv3d = list(build = function() mlx_conv3d(2, 3, 2), input = c(1, 4, 4, 4, 2)),
  conv_transpose1d = list(build = function() mlx_conv_transpose1d(3, 4, 3, stride = 2),
                          input = c(2, 5, 3)),
  conv_transpose2d = list(build = function() mlx_conv_transpose2d(3, 2, 3),
                          input = c(1, 4, 4, 3)),
  conv_transpose3d = list(build = function() mlx_conv_transpose3d(2, 3, 2),
                          input = c(1, 3, 3, 3, 2)),
  rnn = list(build = function() mlx_rnn(3, 5), input = c(2, 4, 3)),
  gru = list(build = function() mlx_gru(3, 5), input = c(2, 4, 3)),
  lstm = list(build = function() mlx_lstm(3, 5), input = c(2, 4, 3)),
  cnn = list(
    build = function() {
      mlx_sequential(mlx_conv2d(1, 4, 3, padding = 1), mlx_relu(),
                     mlx_max_pool2d(2), mlx_batch_norm(4), mlx_avg_pool2d(2),
                     mlx_dropout(0.5), mlx_upsample(2))
    },
    input = c(2, 8, 8, 1)
  ),
  quantized_linear = list(build = function() mlx_quantized_linear(64, 8),
                          input = c(3, 64)),
  quantized_linear_mxfp4 = list(
    build = function() mlx_quantized_linear(64, 8, mode = "mxfp4"),
    input = c(3, 64)
  ),
  quantized_embedding = list(
    build = function() mlx_quantized_embedding(10, 64, group_size = 32, bits = 8),
    input = 10
  ),
  linear_bfloat16 = list(build = function() mlx_set_dtype(mlx_linear(6, 4), "bfloat16"),
                         input = c(3, 6), dtype = "bfloat16"),
  linear_float16 = list(build = function() mlx_set_dtype(mlx_linear(6, 4), "float16"),
                        input = c(3, 6), dtype = "float16")
)

# The first output of a layer (an LSTM's hidden states) as a float vector.
layer_output <- function(layer, x) {
  y <- mlx_forward(layer, x)
  if (is.list(y)) y <- y[[1]]
  as.vector(as.array(mlx_astype(y, "float32")))
}

# Replaces every float parameter with random values (a positive running
# variance), so that no initial value can hide a mismatch.
randomize_floats <- function(layer) {
  params <- mlx_parameters(layer)
  values <- list()
  for (name in names(params)) {
    dtype <- mlx_dtype(params[[name]])
    if (!dtype %in% c("float32", "float16", "bfloat16")) next
    n <- prod(dim(params[[name]]))
    raw <- if (endsWith(name, "running_var")) runif(n, 0.5, 1.5) else rnorm(n)
    values[[name]] <- mlx_astype(
      as_mlx(array(raw, dim(params[[name]]))), dtype
    )
  }
  mlx_param_set_values(layer, values)
  layer
}

tolerance_for <- function(spec) {
  if (is.null(spec$dtype)) 1e-5 else 1e-2
}

test_that("every layer type's weights load in MLX Python", {
  python <- skip_without_python()
  dir <- withr::local_tempdir()
  set.seed(11)
  expected <- list()
  for (name in names(interop_layers)) {
    spec <- interop_layers[[name]]
    layer <- randomize_floats(spec$build())
    mlx_set_training(layer, FALSE)
    if (length(spec$input) == 1) {
      ids <- matrix(sample.int(spec$input, 6, replace = TRUE), 2, 3)
      x_python <- as_mlx(ids - 1L, dtype = "int32")
      x_r <- as_mlx(ids, dtype = "int32")
    } else {
      x_r <- mlx_astype(as_mlx(array(rnorm(prod(spec$input)), spec$input)),
                        spec$dtype %||% "float32")
      x_python <- x_r
    }
    expected[[name]] <- layer_output(layer, x_r)
    mlx_save_weights(layer, file.path(dir, paste0(name, ".safetensors")))
    mlx_save_weights(layer, file.path(dir, paste0(name, ".npz")))
    mlx_save_safetensors(list(x = x_python),
                         file.path(dir, paste0(name, "_input.safetensors")))
  }

  run_interop(python, "layers-forward", dir)

  for (name in names(interop_layers)) {
    for (format in c("safetensors", "npz")) {
      output <- file.path(dir, sprintf("%s_%s_output.safetensors", name, format))
      actual <- mlx_load(output)$y
      expect_equal(as.vector(as.array(mlx_astype(actual, "float32"))),
                   expected[[name]], tolerance = tolerance_for(interop_layers[[name]]),
                   label = paste(name, format))
    }
  }
})

test_that("every layer type's MLX Python weights load in R", {
  python <- skip_without_python()
  dir <- withr::local_tempdir()
  run_interop(python, "layers-export", dir, "12")
  for (name in names(interop_layers)) {
    spec <- interop_layers[[name]]
    data <- mlx_load(file.path(dir, paste0(name, "_data.safetensors")))
    x <- data$x
    if (length(spec$input) == 1) {
      # MLX Python wrote 0-based indices; the R layers take 1-based ones.
      x <- x + 1L
    }
    for (format in c("safetensors", "npz")) {
      layer <- spec$build()
      mlx_load_weights(layer, file.path(dir, paste0(name, ".", format)))
      mlx_set_training(layer, FALSE)
      expect_equal(layer_output(layer, x),
                   as.vector(as.array(mlx_astype(data$y, "float32"))),
                   tolerance = tolerance_for(spec), label = paste(name, format))
      expect_identical(
        vapply(mlx_parameters(layer), mlx_dtype, ""),
        vapply(mlx_load(file.path(dir, paste0(name, ".", format))), mlx_dtype, "")[
          names(mlx_parameters(layer))],
        label = paste(name, format, "dtypes")
      )
    }
  }
})

# Twins of the PyTorch models of interop.py's torch-export, with the same
# module names.
torch_small_cnn <- mlx_module("SmallCNN",
  initialize = function() {
    self$conv1 <- mlx_conv2d(1, 4, 3, padding = 1)
    self$pool <- mlx_max_pool2d(2)
    self$conv2 <- mlx_conv2d(4, 6, 3)
    self$head <- mlx_linear(6, 3)
  },
  forward = function(x) {
    h <- mlx_forward(self$pool, mlx_act_relu(mlx_forward(self$conv1, x)))
    h <- mlx_act_relu(mlx_forward(self$conv2, h))
    mlx_forward(self$head, mlx_mean(h, axis = c(2, 3)))
  }
)

torch_holder <- mlx_module("Holder",
  initialize = function(...) {
    layers <- list(...)
    for (name in names(layers)) self[[name]] <- layers[[name]]
  },
  forward = function(x) x
)

# The layout of MLX Python's MultiHeadAttention: four projections.
torch_attention <- mlx_module("MultiHeadAttention",
  initialize = function(dims) {
    self$query_proj <- mlx_linear(dims, dims)
    self$key_proj <- mlx_linear(dims, dims)
    self$value_proj <- mlx_linear(dims, dims)
    self$out_proj <- mlx_linear(dims, dims)
  },
  forward = function(x) x
)

expect_close_arrays <- function(actual, expected, label) {
  expect_identical(dim(actual), dim(expected), label = label)
  expect_equal(as.array(actual), as.array(expected), tolerance = 1e-5,
               label = label)
}

torch_export_dir <- function(python) {
  dir <- withr::local_tempdir(.local_envir = parent.frame(2))
  run_interop(python, "torch-export", dir, "21")
  dir
}

test_that("PyTorch-trained CNN predicts the same in R", {
  python <- skip_without_python(c("mlx.core", "torch", "safetensors.torch"))
  dir <- torch_export_dir(python)
  data <- mlx_load(file.path(dir, "torch_cnn_data.safetensors"))
  model <- torch_small_cnn()

  mlx_load_torch_weights(model, file.path(dir, "torch_cnn.safetensors"))

  expect_close_arrays(mlx_forward(model, data$x), data$y, "cnn")
  expect_identical(dim(mlx_parameters(model)$conv2.weight), c(6L, 3L, 3L, 4L))
})

test_that("PyTorch transposed convolutions convert", {
  python <- skip_without_python(c("mlx.core", "torch", "safetensors.torch"))
  dir <- torch_export_dir(python)
  data <- mlx_load(file.path(dir, "torch_transposed_data.safetensors"))
  model <- torch_holder(
    ct1 = mlx_conv_transpose1d(3, 4, 3, stride = 2),
    ct2 = mlx_conv_transpose2d(3, 2, 3, stride = 2, padding = 1),
    ct3 = mlx_conv_transpose3d(2, 3, 2)
  )

  mlx_load_torch_weights(model, file.path(dir, "torch_transposed.safetensors"))

  expect_close_arrays(mlx_forward(model$ct1, data$x1), data$y1, "ct1")
  expect_close_arrays(mlx_forward(model$ct2, data$x2), data$y2, "ct2")
  expect_close_arrays(mlx_forward(model$ct3, data$x3), data$y3, "ct3")
})

test_that("PyTorch RNN, GRU and LSTM convert", {
  python <- skip_without_python(c("mlx.core", "torch", "safetensors.torch"))
  dir <- torch_export_dir(python)
  data <- mlx_load(file.path(dir, "torch_recurrent_data.safetensors"))
  model <- torch_holder(rnn = mlx_rnn(3, 5), gru = mlx_gru(3, 5),
                        lstm = mlx_lstm(3, 5))

  mlx_load_torch_weights(model, file.path(dir, "torch_recurrent.safetensors"))

  expect_close_arrays(mlx_forward(model$rnn, data$x), data$rnn, "rnn")
  expect_close_arrays(mlx_forward(model$gru, data$x), data$gru, "gru")
  expect_close_arrays(mlx_forward(model$lstm, data$x)[[1]], data$lstm, "lstm")
})

test_that("PyTorch MultiheadAttention in_proj splits", {
  python <- skip_without_python(c("mlx.core", "torch", "safetensors.torch"))
  dir <- torch_export_dir(python)
  data <- mlx_load(file.path(dir, "torch_attention_data.safetensors"))
  model <- torch_holder(attn = torch_attention(8))

  mlx_load_torch_weights(model, file.path(dir, "torch_attention.safetensors"))

  attn <- model$attn
  expect_close_arrays(mlx_forward(attn$query_proj, data$x), data$q, "query")
  expect_close_arrays(mlx_forward(attn$key_proj, data$x), data$k, "key")
  expect_close_arrays(mlx_forward(attn$value_proj, data$x), data$v, "value")
  expect_close_arrays(mlx_forward(attn$out_proj, data$x), data$out, "out")
})

test_that("PyTorch Bilinear weight transposes", {
  python <- skip_without_python(c("mlx.core", "torch", "safetensors.torch"))
  dir <- torch_export_dir(python)
  data <- mlx_load(file.path(dir, "torch_bilinear_data.safetensors"))
  model <- torch_holder(square = mlx_bilinear(3, 3, 2),
                        wide = mlx_bilinear(3, 4, 2))

  mlx_load_torch_weights(model, file.path(dir, "torch_bilinear.safetensors"))

  expect_close_arrays(mlx_forward(model$square, data$x1, data$x2),
                      data$square, "square")
  expect_close_arrays(mlx_forward(model$wide, data$x1, data$x3),
                      data$wide, "wide")
})

test_that("PyTorch import reports unused tensors and takes renames", {
  python <- skip_without_python(c("mlx.core", "torch", "safetensors.torch"))
  dir <- torch_export_dir(python)
  path <- file.path(dir, "torch_cnn.safetensors")
  expect_error(mlx_load_torch_weights(torch_holder(conv1 = mlx_conv2d(1, 4, 3, padding = 1)), path),
               "conv2.bias, conv2.weight, head.bias, head.weight", fixed = TRUE)
  renamed <- torch_holder(first = mlx_conv2d(1, 4, 3, padding = 1))
  mlx_load_torch_weights(renamed, path, rename = c("^conv1\\." = "first."),
                         strict = FALSE)
  torch_weight <- mlx_load(path)$conv1.weight
  expect_equal(as.array(mlx_parameters(renamed)$first.weight),
               as.array(mlx_transpose(torch_weight, c(1, 3, 4, 2))))
  map <- mlx_torch_name_map()
  map$Conv2d <- function(tensors, module) stop("no conversion")
  expect_error(mlx_load_torch_weights(torch_small_cnn(), path, name_map = map),
               "converter failed")
})
