# Loading PyTorch state dicts: names are matched module by module and each
# module's tensors are converted to MLX's layout by the converter of its
# type.

#' Load PyTorch weights into a model
#'
#' Loads a PyTorch `state_dict` saved as `.safetensors`
#' (`safetensors.torch.save_file(model.state_dict(), path)`) into the
#' matching Rmlx model, converting each layer's tensors to MLX's layout.
#' Each module of `model` is matched by its dotted path to the tensors
#' under the same prefix (after `rename`), and the converter of its type in
#' `name_map` turns them into the module's parameters.
#'
#' The converters of [mlx_torch_name_map()]:
#' * `Linear`, `Embedding`, `LayerNorm`: tensors as they are.
#' * `Bilinear`: weight from PyTorch's `(out, in1, in2)` to MLX's
#'   `(out, in2, in1)`.
#' * `BatchNorm`: as they are, without `num_batches_tracked`.
#' * `Conv1d`, `Conv2d`, `Conv3d`: weight from PyTorch's `(out, in, k...)`
#'   to MLX's channels-last `(out, k..., in)`.
#' * `ConvTranspose1d`, `ConvTranspose2d`, `ConvTranspose3d`: weight from
#'   `(in, out, k...)` to `(out, k..., in)`.
#' * `RNN`, `GRU`, `LSTM` (one layer, one direction, `batch_first = TRUE`
#'   in PyTorch): `weight_ih_l0` and `weight_hh_l0` become `Wxh`/`Whh` or
#'   `Wx`/`Wh` (both libraries order the gates i, f, g, o and r, z, n);
#'   the two biases are summed, except GRU's hidden bias of the n gate,
#'   which becomes `bhn`.
#' * `MultiHeadAttention`: the packed `in_proj_weight` and `in_proj_bias` of
#'   `torch.nn.MultiheadAttention` are split into `query_proj`,
#'   `key_proj` and `value_proj`, and `out_proj` is kept, as MLX Python's
#'   MultiHeadAttention names them.
#'
#' @param model An MLX module.
#' @param path A `.safetensors` file of PyTorch tensors.
#' @param name_map A named list of converters by module type name (as
#'   [mlx_named_modules()] objects print it, e.g. `"Conv2d"`). A converter is
#'   a function of `tensors` (a named list of MLX arrays, named relative to
#'   the module, e.g. `weight`) and `module`, returning the module's
#'   parameters as a named list, relative names too. Modules whose type is
#'   not in the map take their tensors as they are. Default:
#'   [mlx_torch_name_map()].
#' @param rename `NULL`, or a named character vector of regular expressions
#'   and replacements applied in order to the PyTorch names first, e.g.
#'   `c("^features\\\\." = "layers.")`.
#' @param strict If `TRUE` (the default), every PyTorch tensor must be used
#'   and every parameter of `model` must be given, with its shape; one error
#'   lists every mismatch.
#' @return The model, invisibly.
#' @examples
#' layer <- mlx_conv1d(2, 3, kernel_size = 2)
#' # PyTorch's Conv1d(2, 3, 2) weight has shape (3, 2, 2): (out, in, k).
#' path <- tempfile(fileext = ".safetensors")
#' mlx_save_safetensors(list(weight = array(rnorm(12), c(3, 2, 2)),
#'                           bias = rnorm(3)), path)
#' mlx_load_torch_weights(layer, path)
#' @export
mlx_load_torch_weights <- function(model, path, name_map = mlx_torch_name_map(),
                                   rename = NULL, strict = TRUE) {
  check_module(model)
  check_string(path)
  check_input_path(path, "path")
  check_bool(strict)
  if (!is.list(name_map) || (length(name_map) && (is.null(names(name_map)) ||
      !all(vapply(name_map, is.function, logical(1)))))) {
    received <- describe_value(name_map)
    abort_invalid("{.arg name_map} must be a named list of functions.",
                  "You supplied {received}.", rlang::current_env())
  }
  if (!is.null(rename) && (!is.character(rename) || is.null(names(rename)))) {
    received <- describe_value(rename)
    abort_invalid("{.arg rename} must be a named character vector or NULL.",
                  "You supplied {received}.", rlang::current_env())
  }

  tensors <- mlx_load_safetensors(path)
  torch_names <- names(tensors)
  for (i in seq_along(rename)) {
    torch_names <- gsub(names(rename)[[i]], rename[[i]], torch_names)
  }
  names(tensors) <- torch_names

  converted <- torch_convert_modules(model, tensors, name_map, rlang::current_env())
  unused <- setdiff(names(tensors), converted$used)
  unused <- unused[!grepl("(^|\\.)num_batches_tracked$", unused)]
  if (strict && length(unused)) {
    cli::cli_abort(c(
      "Every PyTorch tensor must match a parameter of the model.",
      x = "Not used ({length(unused)}): {paste(unused, collapse = ', ')}.",
      i = "Rename them with {.arg rename}, add a converter to {.arg name_map}, or use {.code strict = FALSE}."
    ), call = rlang::current_env(), class = c("rmlx_error_weights", "rmlx_error_invalid_argument"))
  }
  mlx_load_weights(model, converted$weights, strict = strict)
}

#' Converters from PyTorch layouts
#'
#' Returns the default `name_map` of [mlx_load_torch_weights()]: a named
#' list of functions by Rmlx module type. Add an entry for a type of your
#' own, or replace one, and pass the list on.
#'
#' @return A named list of functions `function(tensors, module)`.
#' @examples
#' map <- mlx_torch_name_map()
#' names(map)
#' # A module written in R whose PyTorch twin calls its weight "w":
#' map$Scale <- function(tensors, module) list(scale = tensors$w)
#' @export
mlx_torch_name_map <- function() {
  conv <- function(tensors, module) {
    out <- tensors
    if (!is.null(out$weight)) {
      rank <- length(dim(out$weight))
      out$weight <- mlx_transpose(out$weight, c(1, seq(3, rank), 2))
    }
    out
  }
  conv_transpose <- function(tensors, module) {
    out <- tensors
    if (!is.null(out$weight)) {
      rank <- length(dim(out$weight))
      out$weight <- mlx_transpose(out$weight, c(2, seq(3, rank), 1))
    }
    out
  }
  list(
    Linear = torch_as_is,
    Bilinear = function(tensors, module) {
      out <- tensors
      if (!is.null(out$weight)) {
        out$weight <- mlx_transpose(out$weight, c(1, 3, 2))
      }
      out
    },
    Embedding = torch_as_is,
    LayerNorm = torch_as_is,
    BatchNorm = function(tensors, module) {
      tensors[names(tensors) != "num_batches_tracked"]
    },
    Conv1d = conv,
    Conv2d = conv,
    Conv3d = conv,
    ConvTranspose1d = conv_transpose,
    ConvTranspose2d = conv_transpose,
    ConvTranspose3d = conv_transpose,
    RNN = function(tensors, module) {
      torch_check_recurrent(tensors, "RNN")
      out <- list(Wxh = tensors$weight_ih_l0, Whh = tensors$weight_hh_l0)
      if (!is.null(tensors$bias_ih_l0)) {
        out$bias <- tensors$bias_ih_l0 + tensors$bias_hh_l0
      }
      out
    },
    LSTM = function(tensors, module) {
      torch_check_recurrent(tensors, "LSTM")
      out <- list(Wx = tensors$weight_ih_l0, Wh = tensors$weight_hh_l0)
      if (!is.null(tensors$bias_ih_l0)) {
        out$bias <- tensors$bias_ih_l0 + tensors$bias_hh_l0
      }
      out
    },
    GRU = function(tensors, module) {
      torch_check_recurrent(tensors, "GRU")
      out <- list(Wx = tensors$weight_ih_l0, Wh = tensors$weight_hh_l0)
      if (!is.null(tensors$bias_ih_l0)) {
        hidden <- dim(tensors$bias_hh_l0)[[1]] / 3
        # r and z take both biases; n takes the input bias here and the
        # hidden one inside r * (Wh h + bhn), as in PyTorch.
        rz <- seq_len(2 * hidden)
        n <- seq(2 * hidden + 1, 3 * hidden)
        out$b <- mlx_concatenate(list(
          tensors$bias_ih_l0[rz] + tensors$bias_hh_l0[rz],
          tensors$bias_ih_l0[n]
        ))
        out$bhn <- tensors$bias_hh_l0[n]
      }
      out
    },
    MultiHeadAttention = function(tensors, module) {
      out <- tensors[startsWith(names(tensors), "out_proj.")]
      weight <- tensors$in_proj_weight
      if (is.null(weight)) {
        # Separate q/k/v weights (PyTorch with kdim or vdim set).
        projections <- c(q = "query_proj", k = "key_proj", v = "value_proj")
        for (key in names(projections)) {
          out[[paste0(projections[[key]], ".weight")]] <-
            tensors[[paste0(key, "_proj_weight")]]
        }
      } else {
        dims <- dim(weight)[[1]] / 3
        rows <- list(seq_len(dims), seq(dims + 1, 2 * dims), seq(2 * dims + 1, 3 * dims))
        for (i in 1:3) {
          prefix <- c("query_proj", "key_proj", "value_proj")[[i]]
          out[[paste0(prefix, ".weight")]] <- weight[rows[[i]], ]
          if (!is.null(tensors$in_proj_bias)) {
            out[[paste0(prefix, ".bias")]] <- tensors$in_proj_bias[rows[[i]]]
          }
        }
      }
      out
    }
  )
}

torch_as_is <- function(tensors, module) tensors

torch_check_recurrent <- function(tensors, type) {
  extra <- grep("_l[1-9]|_reverse$", names(tensors), value = TRUE)
  if (length(extra)) {
    cli::cli_abort(c(
      "Only one-layer, one-direction PyTorch {type}s convert to {.cls {type}}.",
      x = "Found {paste(extra, collapse = ', ')}."
    ), call = NULL)
  }
}

# Walks the model from the root: a module whose type has a converter takes
# every tensor under its prefix (its children included); other modules take
# their own parameters by name. Returns the converted weights and the
# PyTorch names used.
torch_convert_modules <- function(model, tensors, name_map, call) {
  modules <- mlx_named_modules(model)
  weights <- list()
  used <- character()
  covered <- character()
  for (i in seq_along(modules)) {
    path <- names(modules)[[i]]
    if (any(startsWith(paste0(path, "."), covered))) next
    module <- modules[[i]]
    type <- module_type_(module_ptr(module))
    prefix <- if (path == "") "" else paste0(path, ".")
    under <- names(tensors)[startsWith(names(tensors), prefix)]
    converter <- name_map[[type]]
    if (is.null(converter)) {
      own <- names(module_keys_(module_ptr(module)))
      own <- own[module_keys_(module_ptr(module))[own] %in% c("array", "arrays")]
      local <- substring(under, nchar(prefix) + 1)
      picked <- under[sub("\\..*$", "", local) %in% own]
      if (length(picked)) {
        weights[picked] <- unname(tensors[picked])
        used <- c(used, picked)
      }
      next
    }
    covered <- c(covered, prefix)
    local_tensors <- tensors[under]
    names(local_tensors) <- substring(under, nchar(prefix) + 1)
    result <- tryCatch(
      converter(local_tensors, module),
      error = function(e) {
        cli::cli_abort("The {.val {type}} converter failed on module {.val {path}}.",
                       parent = e, call = call)
      }
    )
    if (length(result)) {
      weights[paste0(prefix, names(result))] <- unname(result)
    }
    used <- c(used, under)
  }
  list(weights = weights, used = used)
}
