loss_fx <- read_fixture("losses")
reductions <- c("none", "mean", "sum")

# 0-based labels of the fixtures, as 1-based R labels.
ce_labels <- c(loss_fx$ce_target_indices) + 1L

expect_loss <- function(actual, expected, tolerance = 1e-5) {
  expect_s3_class(actual, "mlx_array")
  expect_equal(c(as.array(actual)), c(expected), tolerance = tolerance)
}

test_that("mse and l1 match MLX and PyTorch", {
  p <- loss_fx$reg_predictions
  t <- loss_fx$reg_targets
  for (reduction in reductions) {
    mse <- mlx_mse_loss(p, t, reduction = reduction)
    l1 <- mlx_l1_loss(p, t, reduction = reduction)
    expect_loss(mse, loss_fx[[paste0("mse_", reduction)]])
    expect_loss(mse, loss_fx[[paste0("torch_mse_", reduction)]])
    expect_loss(l1, loss_fx[[paste0("l1_", reduction)]])
    expect_loss(l1, loss_fx[[paste0("torch_l1_", reduction)]])
  }
})

test_that("mse keeps the shape without reduction", {
  p <- loss_fx$reg_predictions
  t <- loss_fx$reg_targets
  none <- mlx_mse_loss(p, t, reduction = "none")
  expect_equal(as.array(none), (p - t)^2, tolerance = 1e-6)
  expect_length(as.array(mlx_mse_loss(p, t)), 1)
})

test_that("binary cross entropy matches MLX and PyTorch", {
  for (reduction in reductions) {
    logits <- mlx_binary_cross_entropy(loss_fx$bce_logits, loss_fx$bce_targets,
                                       reduction = reduction)
    probs <- mlx_binary_cross_entropy(loss_fx$bce_probs, loss_fx$bce_targets,
                                      with_logits = FALSE, reduction = reduction)
    expect_loss(logits, loss_fx[[paste0("bce_logits_", reduction)]])
    expect_loss(logits, loss_fx[[paste0("torch_bce_logits_", reduction)]])
    expect_loss(probs, loss_fx[[paste0("bce_probs_", reduction)]])
    expect_loss(probs, loss_fx[[paste0("torch_bce_probs_", reduction)]])
  }
})

test_that("binary cross entropy weights", {
  weighted <- mlx_binary_cross_entropy(
    loss_fx$bce_logits, loss_fx$bce_targets, weights = loss_fx$bce_weights,
    reduction = "none"
  )
  expect_loss(weighted, loss_fx$bce_logits_weighted)
  expect_loss(weighted, loss_fx$torch_bce_logits_weighted)
  weighted_mean <- mlx_binary_cross_entropy(
    loss_fx$bce_probs, loss_fx$bce_targets, weights = loss_fx$bce_weights,
    with_logits = FALSE
  )
  expect_loss(weighted_mean, loss_fx$bce_probs_weighted_mean)
})

test_that("binary cross entropy takes logical targets", {
  expected <- mlx_binary_cross_entropy(loss_fx$bce_logits, loss_fx$bce_targets)
  logical_targets <- c(loss_fx$bce_targets) == 1
  actual <- mlx_binary_cross_entropy(loss_fx$bce_logits, logical_targets)
  expect_loss(actual, as.array(expected))
})

test_that("cross entropy with labels matches MLX", {
  for (reduction in reductions) {
    loss <- mlx_cross_entropy(loss_fx$ce_logits, ce_labels, reduction = reduction)
    expect_loss(loss, loss_fx[[paste0("ce_indices_", reduction)]])
  }
  expect_loss(mlx_cross_entropy(loss_fx$ce_logits, ce_labels),
              loss_fx$torch_ce_indices_none)
})

test_that("cross entropy takes factor labels", {
  labels <- factor(letters[ce_labels], levels = letters[1:5])
  expect_loss(mlx_cross_entropy(loss_fx$ce_logits, labels),
              loss_fx$ce_indices_none)
})

test_that("cross entropy takes MLX labels as 1-based", {
  labels <- as_mlx(ce_labels, dtype = "int32")
  expect_loss(mlx_cross_entropy(loss_fx$ce_logits, labels),
              loss_fx$ce_indices_none)
})

test_that("cross entropy with probabilities", {
  expect_loss(mlx_cross_entropy(loss_fx$ce_logits, loss_fx$ce_target_probs),
              loss_fx$ce_probs_none)
  expect_loss(mlx_cross_entropy(loss_fx$ce_logits, loss_fx$ce_target_probs),
              loss_fx$torch_ce_probs_none)
  mlx_probs <- as_mlx(loss_fx$ce_target_probs)
  expect_loss(mlx_cross_entropy(loss_fx$ce_logits, mlx_probs),
              loss_fx$ce_probs_none)
})

test_that("cross entropy weights", {
  expect_loss(
    mlx_cross_entropy(loss_fx$ce_logits, ce_labels, weights = loss_fx$ce_weights),
    loss_fx$ce_indices_weighted
  )
})

test_that("cross entropy label smoothing", {
  smoothed <- mlx_cross_entropy(loss_fx$ce_logits, ce_labels,
                                label_smoothing = 0.1)
  expect_loss(smoothed, loss_fx$ce_indices_smoothed)
  expect_loss(smoothed, loss_fx$torch_ce_indices_smoothed)
  smoothed_probs <- mlx_cross_entropy(loss_fx$ce_logits, loss_fx$ce_target_probs,
                                      label_smoothing = 0.3)
  expect_loss(smoothed_probs, loss_fx$ce_probs_smoothed)
  expect_loss(smoothed_probs, loss_fx$torch_ce_probs_smoothed)
})

test_that("cross entropy along axis 1", {
  logits_t <- t(loss_fx$ce_logits)
  expect_loss(mlx_cross_entropy(logits_t, ce_labels, axis = 1),
              loss_fx$ce_axis0)
  expect_loss(mlx_cross_entropy(logits_t, t(loss_fx$ce_target_probs), axis = 1),
              loss_fx$ce_axis0_probs)
})

test_that("cross entropy on rank-3 logits", {
  labels <- loss_fx$ce_target_indices_3d + 1L
  expect_loss(mlx_cross_entropy(loss_fx$ce_logits_3d, labels, reduction = "mean"),
              loss_fx$ce_3d_mean)
})

test_that("cross entropy with infinite logits", {
  expect_loss(mlx_cross_entropy(loss_fx$ce_logits_inf, c(1L, 2L)),
              loss_fx$ce_inf)
})

test_that("cross entropy matches base R", {
  logits <- loss_fx$ce_logits[1:2, ]
  labels <- ce_labels[1:2]
  lse <- apply(logits, 1, function(row) log(sum(exp(row))))
  expected <- lse - logits[cbind(1:2, labels)]
  expect_loss(mlx_cross_entropy(logits, labels), expected)
})

test_that("cross entropy rejects bad labels", {
  logits <- loss_fx$ce_logits
  expect_error(mlx_cross_entropy(logits, c(0L, 1L, 2L, 3L)),
               class = "rmlx_error_index")
  expect_error(mlx_cross_entropy(logits, c(1L, 2L, 3L, 6L)),
               class = "rmlx_error_index")
  expect_error(mlx_cross_entropy(logits, c(1L, NA, 2L, 3L)), "NA")
  expect_error(mlx_cross_entropy(logits, c(1.5, 1, 2, 3)), "whole-number")
})

test_that("cross entropy rejects bad label_smoothing", {
  logits <- loss_fx$ce_logits
  expect_error(mlx_cross_entropy(logits, ce_labels, label_smoothing = 1),
               "label_smoothing")
  expect_error(mlx_cross_entropy(logits, ce_labels, label_smoothing = -0.1),
               "label_smoothing")
  expect_error(mlx_cross_entropy(logits, ce_labels, label_smoothing = NA),
               "label_smoothing")
})

test_that("losses reject shape mismatch", {
  expect_error(as.array(mlx_mse_loss(matrix(0, 2, 3), matrix(0, 3, 2))))
  expect_error(as.array(mlx_l1_loss(matrix(0, 2, 3), 1:4)))
  expect_error(as.array(mlx_cross_entropy(loss_fx$ce_logits, 1:3)))
  expect_error(as.array(mlx_binary_cross_entropy(c(0, 1), c(0, 1, 1))))
})

test_that("losses reject unknown reduction", {
  expect_error(mlx_mse_loss(1, 1, reduction = "average"))
  expect_error(mlx_cross_entropy(loss_fx$ce_logits, ce_labels,
                                 reduction = "max"))
})
