library(testthat)
library(Rmlx)

test_check("Rmlx")
