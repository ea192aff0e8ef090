# Runs the testthat suite of the installed Rmlx package and ends with one
# summary line, "testthat: N passed, N failed", exiting non-zero on failure.
args <- commandArgs(trailingOnly = TRUE)
test_dir_path <- if (length(args)) args[[1]] else "r/tests/testthat"

# The project's own runs are not CRAN checks: run the tests skip_on_cran()
# marks too.
Sys.setenv(NOT_CRAN = "true")
library(testthat)
results <- as.data.frame(testthat::test_dir(
  test_dir_path,
  package = "Rmlx",
  load_package = "installed",
  reporter = "summary",
  stop_on_failure = FALSE
))
failed <- sum(results$failed) + sum(results$error)
passed <- sum(results$nb) - sum(results$failed) - sum(results$skipped)
cat(sprintf("testthat: %d passed, %d failed\n", passed, failed))
quit(status = if (failed > 0) 1 else 0)
