# Argument checks shared by the package. Each raises a cli error whose
# headline states the rule and whose "x" bullet shows the value received.

abort_invalid <- function(headline, received, call, class = NULL) {
  cli::cli_abort(
    c(headline, x = received),
    call = call,
    class = c(class, "rmlx_error_invalid_argument"),
    .envir = parent.frame()
  )
}

# A short description of a value for error bullets.
describe_value <- function(x) {
  if (is.null(x)) {
    return("NULL")
  }
  if (is.object(x)) {
    return(paste0(
      "an object of class <", paste(class(x), collapse = "/"),
      "> and length ", length(x)
    ))
  }
  if (!is.atomic(x)) {
    return(paste(with_article(typeof(x)), "of length", length(x)))
  }
  if (!is.null(dim(x))) {
    return(paste(with_article(typeof(x)), "array of dim", paste(dim(x), collapse = " x ")))
  }
  if (length(x) == 1) {
    value <- if (is.character(x)) encodeString(x, quote = "\"") else format(x)
    return(paste0("the ", typeof(x), " value ", value))
  }
  paste(with_article(typeof(x)), "vector of length", length(x))
}

with_article <- function(word) {
  paste(if (grepl("^[aeiou]", word)) "an" else "a", word)
}

check_mlx_array <- function(x, arg = rlang::caller_arg(x),
                            call = rlang::caller_env()) {
  if (!inherits(x, "mlx_array")) {
    received <- describe_value(x)
    abort_invalid(
      "{.arg {arg}} must be an MLX array.",
      "You supplied {received}.",
      call
    )
  }
  invisible(x)
}

check_bool <- function(x, arg = rlang::caller_arg(x),
                       call = rlang::caller_env()) {
  if (!is.logical(x) || length(x) != 1 || is.na(x)) {
    received <- describe_value(x)
    abort_invalid(
      "{.arg {arg}} must be TRUE or FALSE.",
      "You supplied {received}.",
      call
    )
  }
  invisible(x)
}

check_string <- function(x, arg = rlang::caller_arg(x),
                         call = rlang::caller_env()) {
  if (!is.character(x) || length(x) != 1 || is.na(x)) {
    received <- describe_value(x)
    abort_invalid(
      "{.arg {arg}} must be a single string.",
      "You supplied {received}.",
      call
    )
  }
  invisible(x)
}

check_number <- function(x, arg = rlang::caller_arg(x),
                         call = rlang::caller_env()) {
  if (!is.numeric(x) || length(x) != 1 || !is.finite(x)) {
    received <- describe_value(x)
    abort_invalid(
      "{.arg {arg}} must be a finite number.",
      "You supplied {received}.",
      call
    )
  }
  invisible(x)
}

# A whole number of at least `min`.
# A whole number of at least `min` that fits in a 32-bit integer, the type
# MLX uses for sizes.
check_count <- function(x, min = 0, max = .Machine$integer.max,
                        arg = rlang::caller_arg(x),
                        call = rlang::caller_env()) {
  if (!is.numeric(x) || length(x) != 1 || !is.finite(x) || x != trunc(x) ||
    x < min || x > max) {
    received <- describe_value(x)
    abort_invalid(
      "{.arg {arg}} must be a whole number from {min} to {max}.",
      "You supplied {received}.",
      call
    )
  }
  invisible(x)
}

# A vector of whole numbers of at least `min`, each below 2^31.
check_counts <- function(x, min = 0, arg = rlang::caller_arg(x),
                         call = rlang::caller_env()) {
  if (!is.numeric(x) || anyNA(x) || any(!is.finite(x)) ||
    any(x != trunc(x)) || any(x < min) || any(x > .Machine$integer.max)) {
    received <- describe_value(x)
    abort_invalid(
      "{.arg {arg}} must be a vector of whole numbers of at least {min}.",
      "You supplied {received}.",
      call
    )
  }
  invisible(x)
}

mlx_dtype_names <- c(
  "bool", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32",
  "int64", "float16", "bfloat16", "float32", "float64", "complex64"
)

check_dtype <- function(x, arg = rlang::caller_arg(x),
                        call = rlang::caller_env()) {
  if (!is.character(x) || length(x) != 1 || !x %in% mlx_dtype_names) {
    received <- describe_value(x)
    abort_invalid(
      "{.arg {arg}} must be one of {.val {mlx_dtype_names}}.",
      "You supplied {received}.",
      call
    )
  }
  invisible(x)
}

check_device <- function(x, arg = rlang::caller_arg(x),
                         call = rlang::caller_env()) {
  if (!is.null(x) &&
    (!is.character(x) || length(x) != 1 || !x %in% c("cpu", "gpu"))) {
    received <- describe_value(x)
    abort_invalid(
      "{.arg {arg}} must be {.val cpu}, {.val gpu} or NULL.",
      "You supplied {received}.",
      call
    )
  }
  invisible(x)
}

# Runs `expr`, turning an error raised in C++ (a condition without a call,
# as cpp11 signals them) into an error of the R function `call` with the C++
# message as its reason. Errors raised in R pass through unchanged.
with_cpp_errors <- function(expr, call = rlang::caller_env()) {
  withCallingHandlers(expr, error = function(e) {
    if (is.null(conditionCall(e)) && !inherits(e, "rlang_error")) {
      message <- conditionMessage(e)
      cli::cli_abort(
        c("MLX rejected the input.", x = "{message}"),
        call = call,
        class = "rmlx_error_mlx"
      )
    }
  })
}
