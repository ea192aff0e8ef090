# Single-process checks first, then runs of 2 and 3 processes over the
# ring backend on 127.0.0.1, started by mlx_launch_local(). The worker
# scripts are in distributed/.

worker_script <- function(name) test_path("distributed", name)

source(worker_script("common.R"), local = TRUE)

skip_without_ring <- function() {
  skip_if_not_installed("processx")
  skip_if_not(mlx_distributed_available("ring"),
              "this build of MLX has no ring backend")
  skip_if(nzchar(Sys.getenv("MLX_RANK")) || nzchar(Sys.getenv("MLX_HOSTFILE")),
          "MLX_RANK or MLX_HOSTFILE is set, so this process is part of a run")
}

# Runs worker.R on `n` processes and returns each rank's results.
run_worker <- function(n) {
  outdir <- withr::local_tempdir(.local_envir = parent.frame())
  mlx_launch_local(worker_script("worker.R"), n = n,
                   args = c(outdir, normalizePath(worker_script("common.R"))),
                   timeout = 120, join_timeout = 30, echo = FALSE)
  lapply(seq_len(n) - 1L, function(rank) {
    readRDS(file.path(outdir, sprintf("rank-%d.rds", rank)))
  })
}

# Drops the dim attribute of 1-d arrays, which as.array() adds.
without_1d_dim <- function(arrays) {
  lapply(arrays, function(a) if (length(dim(a)) <= 1) as.vector(a) else a)
}

# Elapsed seconds of `expr`, which must raise an rmlx_error_distributed
# error; returns the error too.
time_failure <- function(expr) {
  started <- Sys.time()
  error <- tryCatch(expr, rmlx_error_distributed = function(e) e)
  list(error = error,
       seconds = as.numeric(difftime(Sys.time(), started, units = "secs")))
}

test_that("single process is a group of size 1", {
  skip_if(nzchar(Sys.getenv("MLX_RANK")), "MLX_RANK is set")
  group <- mlx_distributed_init()
  expect_s3_class(group, "mlx_group")
  expect_identical(mlx_group_rank(group), 0L)
  expect_identical(mlx_group_size(group), 1L)
  expect_identical(mlx_group_size(), 1L)
  expect_output(print(group), "rank 0 of 1")
})

test_that("collectives return the input in a group of size 1", {
  skip_if(nzchar(Sys.getenv("MLX_RANK")), "MLX_RANK is set")
  x <- matrix(c(1, 2, 3, 4, 5, 6), 2, 3)
  expect_equal(as.array(mlx_all_sum(x)), x)
  expect_equal(as.array(mlx_all_gather(x)), x)
  grads <- lapply(rank_gradients(0), as_mlx)
  for (size in c(0, 16, 32 * 1024^2)) {
    averaged <- mlx_average_gradients(grads, all_reduce_size = size)
    expect_named(averaged, names(grads))
    expect_equal(without_1d_dim(lapply(averaged, as.array)), rank_gradients(0),
                 tolerance = 1e-6)
  }
})

test_that("distributed functions reject bad input", {
  skip_if(nzchar(Sys.getenv("MLX_RANK")), "MLX_RANK is set")
  expect_error(mlx_distributed_init("gloo"), class = "rlang_error")
  expect_error(mlx_distributed_init(timeout = "1"),
               class = "rmlx_error_invalid_argument")
  expect_error(mlx_group_rank("group"), class = "rmlx_error_invalid_argument")
  expect_error(mlx_all_sum("a"), class = "rmlx_error_invalid_argument")
  expect_error(mlx_all_gather(mlx_full(integer(0), 1)), "at least one axis")
  expect_error(mlx_average_gradients(list(as_mlx(1))), "named by parameter names")
  expect_error(mlx_send(1, dst = 0), "rank of another process")
  expect_error(mlx_recv(3, src = 1), "rank of another process")
  expect_error(mlx_shard_indices(matrix(1:4, 2)), "must be a vector")
  expect_error(mlx_launch_local("no-such-script.R"), "does not exist")
  expect_error(mlx_launch_local(worker_script("hang.R"), n = 0),
               class = "rmlx_error_invalid_argument")
})

test_that("shards interleave to the global batches", {
  skip_if(nzchar(Sys.getenv("MLX_RANK")), "MLX_RANK is set")
  expect_identical(mlx_shard_indices(1:10), 1:10)
  # With a size-1 group, batches match those without a group.
  set.seed(5)
  plain <- mlx_batches(1:10, batch_size = 4, drop_last = FALSE)
  set.seed(5)
  grouped <- mlx_batches(1:10, batch_size = 4, drop_last = FALSE,
                         group = mlx_distributed_init())
  expect_equal(lapply(plain, function(b) as.integer(b[[1]])),
               lapply(grouped, function(b) as.integer(b[[1]])))
})

test_that("all_sum and average_gradients match sums over 2 and 3 ranks", {
  skip_without_ring()
  for (n in 2:3) {
    results <- run_worker(n)
    gradients <- lapply(seq_len(n) - 1, rank_gradients)
    expected_sum <- Reduce(`+`, lapply(gradients, `[[`, "a.weight"))
    expected_mean <- lapply(names(gradients[[1]]), function(name) {
      Reduce(`+`, lapply(gradients, `[[`, name)) / n
    })
    names(expected_mean) <- names(gradients[[1]])
    expected_gather <- unlist(lapply(gradients, `[[`, "a.bias"))

    for (result in results) {
      rank <- result$rank
      expect_identical(result$size, n)
      expect_equal(result$all_sum, expected_sum, tolerance = 1e-6)
      expect_equal(as.vector(result$all_gather), expected_gather, tolerance = 1e-6)
      expect_equal(as.vector(result$received),
                   gradients[[(rank - 1) %% n + 1]][["a.bias"]], tolerance = 1e-6)
      expect_equal(without_1d_dim(result$average_one_chunk), expected_mean, tolerance = 1e-6)
      expect_equal(without_1d_dim(result$average_small_chunks), expected_mean, tolerance = 1e-6)
      expect_equal(without_1d_dim(result$average_each), expected_mean, tolerance = 1e-6)
    }

    # Training with the global batch split over the ranks gives the
    # weights of one process that takes the whole batch, on every rank,
    # also when each rank splits its share in two (threads = 2).
    single <- train_mlp()
    for (result in results) {
      expect_equal(result$weights, single, tolerance = 1e-5)
      expect_identical(result$weights, results[[1]]$weights)
      expect_equal(result$weights_split, single, tolerance = 1e-5)
      expect_identical(result$weights_split, results[[1]]$weights_split)
    }
  }
})

test_that("a rank that exits early stops the others", {
  skip_without_ring()
  failure <- time_failure(mlx_launch_local(
    worker_script("exit-early.R"), n = 3, timeout = 60, join_timeout = 30,
    echo = FALSE
  ))
  expect_s3_class(failure$error, "rmlx_error_distributed")
  expect_match(conditionMessage(failure$error), "Rank 1 of 3 exited with status 3")
  # The survivors would run for more than 10 s; they stop at once.
  expect_lt(failure$seconds, 30)
})

test_that("a rank that never joins times out", {
  skip_without_ring()
  failure <- time_failure(mlx_launch_local(
    worker_script("never-join.R"), n = 3, timeout = 60, join_timeout = 3,
    echo = FALSE
  ))
  expect_s3_class(failure$error, "rmlx_error_distributed")
  expect_match(conditionMessage(failure$error), "Timed out after 3 s")
  expect_lt(failure$seconds, 30)
})

test_that("a run past its timeout is stopped", {
  skip_without_ring()
  failure <- time_failure(mlx_launch_local(
    worker_script("hang.R"), n = 2, timeout = 5, join_timeout = 30,
    echo = FALSE
  ))
  expect_s3_class(failure$error, "rmlx_error_distributed")
  expect_match(conditionMessage(failure$error), "timed out after 5 s")
  expect_lt(failure$seconds, 20)
})
