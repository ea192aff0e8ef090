# Rank 1 never joins the group.
suppressPackageStartupMessages(library(Rmlx))
if (Sys.getenv("MLX_RANK") == "1") {
  Sys.sleep(120)
}
group <- mlx_distributed_init(strict = TRUE)
