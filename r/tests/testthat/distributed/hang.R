# Every rank joins, then waits far longer than the launcher's timeout.
suppressPackageStartupMessages(library(Rmlx))
group <- mlx_distributed_init(strict = TRUE)
Sys.sleep(120)
