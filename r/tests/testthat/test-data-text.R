test_that("char vocab is sorted by code point", {
  vocab <- mlx_char_vocab(c("banana", "Bb a"))
  expect_identical(vocab, c(" ", "B", "a", "b", "n"))
})

test_that("char vocab keeps non-ASCII characters", {
  vocab <- mlx_char_vocab("\u00a3 5\n")
  expect_identical(vocab, c("\n", " ", "5", "\u00a3"))
})

test_that("char vocab of empty text is empty", {
  expect_identical(mlx_char_vocab(character()), character())
  expect_identical(mlx_char_vocab(""), character())
})

test_that("char encode returns 1-based ids", {
  vocab <- c("a", "b", "c")
  expect_identical(mlx_char_encode("cab", vocab), c(3L, 1L, 2L))
  expect_identical(mlx_char_encode(c("ab", "c"), vocab), c(1L, 2L, 3L))
  expect_identical(mlx_char_encode("", vocab), integer())
})

test_that("char encode and decode round-trip", {
  text <- "It is a truth universally acknowledged, \u00a310.\n"
  vocab <- mlx_char_vocab(text)
  ids <- mlx_char_encode(text, vocab)
  expect_length(ids, nchar(text))
  expect_true(all(ids >= 1L & ids <= length(vocab)))
  expect_identical(mlx_char_decode(ids, vocab), text)
})

test_that("char decode takes MLX arrays and doubles", {
  vocab <- c("x", "y", "z")
  expect_identical(mlx_char_decode(as_mlx(c(3L, 1L)), vocab), "zx")
  expect_identical(mlx_char_decode(c(2, 2), vocab), "yy")
  expect_identical(mlx_char_decode(integer(), vocab), "")
})

test_that("char encode names unknown characters", {
  expect_error(mlx_char_encode("abz!", c("a", "b")), "\"z\" and \"!\"")
})

test_that("char decode rejects ids out of range", {
  vocab <- c("a", "b")
  expect_error(mlx_char_decode(c(1, 3), vocab), class = "rmlx_error_index")
  expect_error(mlx_char_decode(0, vocab), "Found 0 at position 1")
  expect_error(mlx_char_decode(1.5, vocab), "whole numbers")
  expect_error(mlx_char_decode(NA_integer_, vocab), "whole numbers")
})

test_that("char helpers reject invalid text and vocab", {
  expect_error(mlx_char_vocab(1:3), "character vector without NA")
  expect_error(mlx_char_vocab(c("a", NA)), "character vector without NA")
  expect_error(mlx_char_encode("a", c("a", "bc")), "single characters")
  expect_error(mlx_char_encode("a", character()), "single characters")
  expect_error(mlx_char_encode("a", c("a", "a")), "must not repeat")
  expect_error(mlx_char_decode(1, NA_character_), "single characters")
})
