# Helpers for tests that run on both of Rmlx's CPU kernel paths.

# Runs code once with Rmlx's kernels and once with MLX's operations.
for_each_kernel_path <- function(code) {
  code <- substitute(code)
  env <- parent.frame()
  for (enabled in c(TRUE, FALSE)) {
    old <- mlx_custom_kernels(enabled)
    tryCatch(eval(code, envir = env), finally = mlx_custom_kernels(old))
  }
}
