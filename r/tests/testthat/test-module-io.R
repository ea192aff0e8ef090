# Weights files: .safetensors and .npz in every dtype, metadata, and the
# errors of mlx_load_weights(). The .npz fixtures come from mx.savez and
# numpy.savez (tools/fixtures/make_io_fixtures.py).

io_reference <- mlx_load(test_path("fixtures", "io_reference.safetensors"))

test_that("npz from MLX Python and numpy loads", {
  files <- c("io_mlx.npz", "io_numpy.npz", "io_mlx_compressed.npz",
             "io_numpy_compressed.npz")
  for (file in files) {
    loaded <- mlx_load(test_path("fixtures", file))
    expect_length(attr(loaded, "metadata"), 0)
    for (name in names(loaded)) {
      expect_identical(mlx_dtype(loaded[[name]]), mlx_dtype(io_reference[[name]]),
                       label = paste(file, name))
      expect_equal(as.array(mlx_astype(loaded[[name]], "float64")),
                   as.array(mlx_astype(io_reference[[name]], "float64")),
                   label = paste(file, name))
    }
  }
  expect_setequal(names(mlx_load(test_path("fixtures", "io_mlx.npz"))),
                  names(io_reference))
})

test_that("a damaged compressed npz gives an error", {
  bytes <- readBin(test_path("fixtures", "io_numpy_compressed.npz"), "raw",
                   file.size(test_path("fixtures", "io_numpy_compressed.npz")))
  # Overwrite the start of the first entry's deflate stream, which follows
  # its 30-byte local header and name.
  name_length <- as.integer(bytes[27]) + 256L * as.integer(bytes[28])
  extra_length <- as.integer(bytes[29]) + 256L * as.integer(bytes[30])
  start <- 30L + name_length + extra_length + 1L
  bytes[start:(start + 7L)] <- as.raw(0xff)
  path <- tempfile(fileext = ".npz")
  writeBin(bytes, path)
  expect_error(mlx_load(path), "could not be decompressed")
})

test_that("npz offsets near 2^64 give a truncation error", {
  bytes <- readBin(test_path("fixtures", "io_numpy.npz"), "raw",
                   file.size(test_path("fixtures", "io_numpy.npz")))
  # Append a zip64 locator whose end record offset is 2^64 - 2, then a copy
  # of the 22-byte end record with its entry count set to 0xFFFF, which
  # sends the reader to that offset.
  end_record <- utils::tail(bytes, 22L)
  end_record[9:12] <- as.raw(0xff)
  locator <- c(as.raw(c(0x50, 0x4b, 0x06, 0x07)), as.raw(rep(0, 4)),
               as.raw(c(0xfe, rep(0xff, 7))), as.raw(c(1, 0, 0, 0)))
  path <- withr::local_tempfile(fileext = ".npz")
  writeBin(c(bytes, locator, end_record), path)
  expect_error(mlx_load(path), "truncated")
})

test_that("arrays round trip in both formats", {
  for (extension in c(".safetensors", ".npz")) {
    path <- withr::local_tempfile(fileext = extension)
    if (extension == ".npz") {
      mlx_savez(io_reference, path)
    } else {
      mlx_save_safetensors(io_reference, path)
    }
    loaded <- mlx_load(path)
    expect_identical(names(loaded), sort(names(io_reference)))
    for (name in names(io_reference)) {
      expect_identical(mlx_dtype(loaded[[name]]), mlx_dtype(io_reference[[name]]))
      expect_identical(dim(loaded[[name]]), dim(io_reference[[name]]))
      expect_identical(as.array(mlx_astype(loaded[[name]], "float64")),
                       as.array(mlx_astype(io_reference[[name]], "float64")),
                       label = paste(extension, name))
    }
  }
})

test_that("safetensors metadata round trips", {
  path <- withr::local_tempfile(fileext = ".safetensors")
  mlx_save_safetensors(list(a = as_mlx(1:3)), path,
                       metadata = c(step = "10", note = "run 1"))
  metadata <- attr(mlx_load_safetensors(path), "metadata")
  expect_identical(metadata[["step"]], "10")
  expect_identical(metadata[["note"]], "run 1")
  expect_error(mlx_save_safetensors(list(a = 1), path, metadata = c("x")),
               "unique, non-empty names")
})

test_that("module weights save to npz and safetensors", {
  set.seed(1)
  model <- mlx_sequential(mlx_linear(3, 4), mlx_relu(), mlx_linear(4, 2))
  x <- as_mlx(matrix(rnorm(6), 2, 3))
  expected <- as.array(mlx_forward(model, x))
  for (extension in c(".npz", ".safetensors")) {
    path <- withr::local_tempfile(fileext = extension)
    mlx_save_weights(model, path)
    other <- mlx_sequential(mlx_linear(3, 4), mlx_relu(), mlx_linear(4, 2))
    mlx_load_weights(other, path)
    expect_equal(as.array(mlx_forward(other, x)), expected, label = extension)
  }
  path <- withr::local_tempfile(fileext = ".safetensors")
  mlx_save_weights(model, path, metadata = c(epoch = "3"))
  expect_identical(attr(mlx_load(path), "metadata")[["epoch"]], "3")
})

test_that("load_weights lists every mismatch at once", {
  model <- mlx_sequential(mlx_linear(3, 4), mlx_linear(4, 2))
  weights <- list(
    "layers.0.weight" = as_mlx(matrix(0, 3, 4)),
    "layers.0.bias" = as_mlx(rep(0, 4)),
    "layers.1.weight" = as_mlx(matrix(0, 2, 4)),
    "layers.2.weight" = as_mlx(matrix(0, 2, 2)),
    "extra" = as_mlx(1)
  )
  error <- expect_error(mlx_load_weights(model, weights),
                        class = "rmlx_error_weights")
  message <- conditionMessage(error)
  expect_match(message, "Missing (1): layers.1.bias", fixed = TRUE)
  expect_match(message, "Not in the model (2): layers.2.weight, extra", fixed = TRUE)
  expect_match(message, "layers.0.weight: expected (4, 3), received (3, 4)",
               fixed = TRUE)
  expect_silent(mlx_load_weights(model, weights[c("layers.0.bias", "extra")],
                                 strict = FALSE))
})

test_that("weights file errors", {
  layer <- mlx_linear(2, 2)
  expect_error(mlx_save_weights(layer, tempfile(fileext = ".bin")),
               "must end in")
  expect_error(mlx_save_weights(layer, tempfile(fileext = ".npz"),
                                metadata = c(a = "b")), "no metadata")
  expect_error(mlx_load(tempfile(fileext = ".npz")), "not found")
  text <- withr::local_tempfile(fileext = ".npz")
  writeLines("not a zip", text)
  expect_error(mlx_load(text), "not a zip archive")
  expect_error(mlx_savez(list(a = 1), tempfile(fileext = ".safetensors")), ".npz")
})

test_that("saveRDS of arrays and modules explains how to save", {
  path <- withr::local_tempfile(fileext = ".rds")
  saveRDS(as_mlx(1:3), path)
  expect_error(as.array(readRDS(path)), "mlx_save_safetensors")
  saveRDS(mlx_linear(2, 2), path)
  expect_error(mlx_forward(readRDS(path), matrix(1, 1, 2)), "mlx_save_weights")
})
