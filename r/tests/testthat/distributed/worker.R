# Runs the collective operations and a short data-parallel training on one
# rank and saves the results to OUTDIR/rank-R.rds.
# Usage: Rscript worker.R OUTDIR COMMON_R
suppressPackageStartupMessages(library(Rmlx))
args <- commandArgs(trailingOnly = TRUE)
source(args[[2]])

group <- mlx_distributed_init(strict = TRUE)
rank <- mlx_group_rank(group)
size <- mlx_group_size(group)
grads <- lapply(rank_gradients(rank), as_mlx)

averaged <- function(all_reduce_size) {
  out <- mlx_average_gradients(grads, group, all_reduce_size = all_reduce_size)
  lapply(out, as.array)
}

# A message around the ring: to the next rank, from the previous one.
mlx_send(grads[["a.bias"]], dst = (rank + 1) %% size, group = group)
received <- mlx_recv(3, src = (rank - 1) %% size, group = group)

result <- list(
  rank = rank,
  size = size,
  all_sum = as.array(mlx_all_sum(grads[["a.weight"]], group)),
  all_gather = as.array(mlx_all_gather(grads[["a.bias"]], group)),
  received = as.array(received),
  average_one_chunk = averaged(32 * 1024^2),
  average_small_chunks = averaged(16),
  average_each = averaged(0),
  weights = train_mlp(group),
  weights_split = train_mlp(group, threads = 2L)
)
saveRDS(result, file.path(args[[1]], sprintf("rank-%d.rds", rank)))
