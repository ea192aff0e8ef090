# MLX's random key stream follows R's: when R's RNG state has changed since
# MLX was last seeded (set.seed(), or any draw in R), the next function that
# draws in MLX (a layer's initialisation, dropout) reseeds MLX with a number
# drawn from R's RNG, then puts R's RNG state back. So set.seed() makes a
# whole script reproducible, R's own draws do not depend on how often MLX
# was reseeded (a compiled training step traces its loss once, an eager one
# at every step), and draws that follow one another without R's RNG in
# between continue one MLX stream, as in MLX Python.
rng_state <- new.env(parent = emptyenv())

sync_mlx_seed <- function() {
  current <- get0(".Random.seed", envir = globalenv(), inherits = FALSE)
  # `synced` is unset until MLX is first seeded, from R or by
  # mlx_random_seed(); the latter may run before R's RNG has a state.
  if (!isTRUE(rng_state$synced) || !identical(current, rng_state$last)) {
    reseed_mlx_from_r()
  }
  invisible()
}

# Seeds MLX with a number drawn from R's RNG and restores R's RNG state, so
# MLX's state after this depends only on R's state, and R's stream is
# unchanged; checkpoints rely on both.
reseed_mlx_from_r <- function() {
  previous <- get0(".Random.seed", envir = globalenv(), inherits = FALSE)
  random_seed_(sample.int(.Machine$integer.max, 1L))
  if (!is.null(previous)) {
    assign(".Random.seed", previous, envir = globalenv())
  }
  rng_state$last <- get0(".Random.seed", envir = globalenv(), inherits = FALSE)
  rng_state$synced <- TRUE
  invisible()
}

#' Seed MLX's random number generator
#'
#' Seeds MLX's key stream directly, as `mx.random.seed()` does in MLX Python:
#' after `mlx_random_seed(s)`, layers created in the same order get the same
#' initial weights as in MLX Python after `mx.random.seed(s)`. Calling
#' [set.seed()] (or drawing from R's RNG) afterwards reseeds MLX from R's
#' RNG at the next draw.
#'
#' @param seed A whole number in `[0, 2^32)`.
#' @return `NULL`, invisibly.
#' @examples
#' mlx_random_seed(42)
#' layer <- mlx_linear(2, 2)
#' @export
mlx_random_seed <- function(seed) {
  check_count(seed)
  random_seed_(seed)
  rng_state$last <- get0(".Random.seed", envir = globalenv(), inherits = FALSE)
  rng_state$synced <- TRUE
  invisible()
}
