# Rank 1 exits after the first reduction; the others keep reducing.
suppressPackageStartupMessages(library(Rmlx))
group <- mlx_distributed_init(strict = TRUE)
invisible(as.numeric(mlx_all_sum(1, group)))
if (mlx_group_rank(group) == 1) {
  quit(status = 3)
}
for (i in 1:200) {
  invisible(as.numeric(mlx_all_sum(1, group)))
  Sys.sleep(0.05)
}
