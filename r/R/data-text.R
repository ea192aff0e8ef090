#' Character vocabularies for text models
#'
#' Map text to the 1-based integer ids that [mlx_embedding()] and
#' [mlx_cross_entropy()] take, one id per Unicode character, and back.
#'
#' - `mlx_char_vocab()` returns the distinct characters of `text`, sorted by
#'   Unicode code point, so the same text gives the same vocabulary in any
#'   locale.
#' - `mlx_char_encode()` returns the position of each character of `text` in
#'   `vocab`. A character missing from `vocab` raises an error that names it.
#' - `mlx_char_decode()` pastes the characters `vocab[ids]` into one string.
#'
#' @param text A character vector without `NA`. `mlx_char_encode()` joins
#'   its elements with no separator.
#' @param vocab A character vector of distinct single characters, such as
#'   `mlx_char_vocab()` returns.
#' @param ids Whole numbers in `[1, length(vocab)]`: an R vector or an MLX
#'   array.
#' @return `mlx_char_vocab()`: a character vector of single characters.
#'   `mlx_char_encode()`: an integer vector with one id per character.
#'   `mlx_char_decode()`: a string.
#' @examples
#' vocab <- mlx_char_vocab(c("hello", "world"))
#' vocab
#' ids <- mlx_char_encode("low", vocab)
#' ids
#' mlx_char_decode(ids, vocab)
#' @name char_vocab
NULL

#' @rdname char_vocab
#' @export
mlx_char_vocab <- function(text) {
  check_text(text)
  codes <- sort(unique(utf8ToInt(paste(enc2utf8(text), collapse = ""))))
  intToUtf8(codes, multiple = TRUE)
}

#' @rdname char_vocab
#' @export
mlx_char_encode <- function(text, vocab) {
  check_text(text)
  codes <- vocab_codes(vocab)
  chars <- utf8ToInt(paste(enc2utf8(text), collapse = ""))
  ids <- match(chars, codes)
  if (anyNA(ids)) {
    unknown <- intToUtf8(unique(chars[is.na(ids)]), multiple = TRUE)
    cli::cli_abort(c(
      "Every character of {.arg text} must be in {.arg vocab}.",
      "x" = "Not in {.arg vocab}: {.val {unknown}}."
    ))
  }
  ids
}

#' @rdname char_vocab
#' @export
mlx_char_decode <- function(ids, vocab) {
  codes <- vocab_codes(vocab)
  if (inherits(ids, "mlx_array")) {
    ids <- as.vector(ids)
  }
  if (!is.numeric(ids) || anyNA(ids) || any(ids != trunc(ids))) {
    received <- describe_value(ids)
    abort_invalid("{.arg ids} must be whole numbers without NA.",
                  "You supplied {received}.", rlang::current_env())
  }
  bad <- ids < 1 | ids > length(codes)
  if (any(bad)) {
    abort_invalid(
      "{.arg ids} must be in [1, {length(codes)}], the size of {.arg vocab}.",
      "Found {ids[bad][[1]]} at position {which(bad)[[1]]}.",
      rlang::current_env(),
      class = "rmlx_error_index"
    )
  }
  intToUtf8(codes[ids])
}

check_text <- function(text, arg = rlang::caller_arg(text),
                       call = rlang::caller_env()) {
  if (!is.character(text) || anyNA(text)) {
    received <- describe_value(text)
    abort_invalid("{.arg {arg}} must be a character vector without NA.",
                  "You supplied {received}.", call)
  }
}

# Returns the Unicode code points of `vocab`, after checking that it is a
# vector of distinct single characters.
vocab_codes <- function(vocab, call = rlang::caller_env()) {
  if (!is.character(vocab) || length(vocab) == 0 || anyNA(vocab) ||
      any(nchar(vocab, type = "chars") != 1)) {
    received <- describe_value(vocab)
    abort_invalid(
      "{.arg vocab} must be a non-empty vector of single characters.",
      "You supplied {received}.",
      call
    )
  }
  if (anyDuplicated(vocab)) {
    duplicate <- vocab[anyDuplicated(vocab)]
    abort_invalid("{.arg vocab} must not repeat a character.",
                  "{.val {duplicate}} appears more than once.", call)
  }
  utf8ToInt(paste(enc2utf8(vocab), collapse = ""))
}
