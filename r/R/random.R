# MLX's random key stream follows R's: when R's RNG state has changed since
# MLX was last seeded (set.seed(), or any draw in R), the next function that
# draws in MLX (a layer's initialisation, dropout) reseeds MLX with a number
# drawn from R's RNG. So set.seed() makes a whole script reproducible, and
# draws that follow one another without R's RNG in between continue one MLX
# stream, as in MLX Python.
rng_state <- new.env(parent = emptyenv())

sync_mlx_seed <- function() {
  # Inside a training step, layers draw from the step's own key (which
  # checkpoints save), so there is nothing to reseed. Skipping also keeps
  # R's stream the same for compiled steps, which run the loss in R only
  # when tracing, and eager steps, which run it every time.
  if (isTRUE(rng_state$in_train_step)) {
    return(invisible())
  }
  current <- get0(".Random.seed", envir = globalenv(), inherits = FALSE)
  # `synced` is unset until MLX is first seeded, from R or by
  # mlx_random_seed(); the latter may run before R's RNG has a state.
  if (!isTRUE(rng_state$synced) || !identical(current, rng_state$last)) {
    reseed_mlx_from_r()
  }
  invisible()
}

# Seeds MLX with a number drawn from R's RNG, so MLX's state after this
# depends only on R's state before it; checkpoints rely on that.
reseed_mlx_from_r <- function() {
  random_seed_(sample.int(.Machine$integer.max, 1L))
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
