# Values from tools/fixtures/make_loss_fixtures.py: MLX Python's losses,
# PyTorch's ("torch_" keys) and float64 references ("ref_" keys) where MLX
# Python's value is wrong.
fx <- read_fixture("loss_functions")
reductions <- c("none", "mean", "sum")

expect_loss <- function(actual, expected, tolerance = 1e-5) {
  expect_s3_class(actual, "mlx_array")
  expect_equal(c(as.array(actual)), c(expected), tolerance = tolerance)
}

# Relative comparison down to 1e-30 (float32 flushes smaller values to 0),
# with NaN equal to NaN.
expect_relative <- function(actual, expected, tolerance) {
  actual <- c(as.array(actual))
  expected <- c(expected)
  expect_identical(is.nan(actual), is.nan(expected))
  finite <- is.finite(expected)
  expect_identical(actual[!finite & !is.nan(expected)],
                   expected[!finite & !is.nan(expected)])
  scale <- pmax(abs(expected[finite]), 1e-30)
  expect_lt(max(abs(actual[finite] - expected[finite]) / scale), tolerance)
}

nll_labels <- c(fx$nll_targets) + 1L

test_that("nll loss matches MLX and PyTorch", {
  for (reduction in reductions) {
    loss <- mlx_nll_loss(fx$nll_inputs, nll_labels, reduction = reduction)
    expect_loss(loss, fx[[paste0("nll_", reduction)]])
    expect_loss(loss, fx[[paste0("torch_nll_", reduction)]])
  }
  expect_loss(mlx_nll_loss(t(fx$nll_inputs), nll_labels, axis = 1),
              fx$nll_axis0)
  loss_3d <- mlx_nll_loss(fx$nll_inputs_3d, fx$nll_targets_3d + 1L, axis = 2,
                          reduction = "mean")
  expect_loss(loss_3d, fx$nll_3d_axis1_mean)
  expect_loss(loss_3d, fx$torch_nll_3d_axis1_mean)
})

test_that("nll loss takes factor and MLX labels", {
  labels <- factor(letters[nll_labels], levels = letters[1:5])
  expect_loss(mlx_nll_loss(fx$nll_inputs, labels), fx$nll_none)
  mlx_labels <- as_mlx(nll_labels, dtype = "int32")
  expect_loss(mlx_nll_loss(fx$nll_inputs, mlx_labels), fx$nll_none)
})

test_that("nll loss gives NaN for MLX labels out of range", {
  labels <- as_mlx(c(1L, 6L, 2L, 0L), dtype = "int32")
  loss <- c(as.array(mlx_nll_loss(fx$nll_inputs, labels)))
  expect_identical(is.nan(loss), c(FALSE, TRUE, FALSE, TRUE))
  expect_true(is.nan(as.array(mlx_nll_loss(fx$nll_inputs, labels,
                                           reduction = "mean"))))
})

test_that("nll loss rejects bad labels and axes", {
  inputs <- fx$nll_inputs
  expect_error(mlx_nll_loss(inputs, c(0L, 1L, 2L, 3L)),
               class = "rmlx_error_index")
  expect_error(mlx_nll_loss(inputs, c(1L, 2L, 3L, 6L)),
               class = "rmlx_error_index")
  expect_error(mlx_nll_loss(inputs, c(1, 2)), "nll_loss")
  expect_error(mlx_nll_loss(inputs, nll_labels, axis = 3), "axis")
  expect_error(mlx_nll_loss(inputs, nll_labels, reduction = "max"),
               "reduction")
})

test_that("kl divergence matches MLX and PyTorch", {
  for (reduction in reductions) {
    loss <- mlx_kl_div_loss(fx$kl_inputs, fx$kl_targets, reduction = reduction)
    expect_loss(loss, fx[[paste0("kl_", reduction)]])
  }
  expect_loss(mlx_kl_div_loss(fx$kl_inputs, fx$kl_targets), fx$torch_kl_none)
  expect_loss(mlx_kl_div_loss(fx$kl_inputs, fx$kl_targets, axis = 1),
              fx$kl_axis0)
})

test_that("kl divergence with zero target probabilities", {
  loss <- mlx_kl_div_loss(fx$kl_inputs, fx$kl_targets_inf)
  expect_loss(loss, fx$ref_kl_inf)
  expect_true(anyNA(fx$kl_inf_mlx))
})

test_that("kl divergence rejects bad input", {
  expect_error(mlx_kl_div_loss(fx$kl_inputs, fx$kl_targets[1:2, ]),
               "same shape")
  expect_error(mlx_kl_div_loss(fx$kl_inputs, fx$kl_targets, axis = 3), "axis")
})

test_that("cosine similarity matches MLX and PyTorch", {
  for (reduction in reductions) {
    loss <- mlx_cosine_similarity_loss(fx$cos_x1, fx$cos_x2,
                                       reduction = reduction)
    expect_loss(loss, fx[[paste0("cos_", reduction)]])
  }
  expect_loss(mlx_cosine_similarity_loss(fx$cos_x1, fx$cos_x2),
              fx$torch_cos_none)
  axis1 <- mlx_cosine_similarity_loss(fx$cos_x1, fx$cos_x2, axis = 1)
  expect_loss(axis1, fx$cos_axis0)
  expect_loss(axis1, fx$torch_cos_axis0)
  expect_loss(mlx_cosine_similarity_loss(fx$cos_small_x1, fx$cos_small_x2,
                                         eps = 1e-4),
              fx$cos_eps)
})

test_that("cosine similarity of huge vectors", {
  loss <- mlx_cosine_similarity_loss(fx$cos_huge_x1, fx$cos_huge_x2)
  expect_loss(loss, fx$ref_cos_huge)
  expect_true(is.nan(fx$cos_huge_mlx))
})

test_that("cosine similarity rejects bad input", {
  expect_error(mlx_cosine_similarity_loss(fx$cos_x1, t(fx$cos_x2)),
               "same shape")
  expect_error(mlx_cosine_similarity_loss(fx$cos_x1, fx$cos_x2, axis = 3),
               "axis")
  expect_error(mlx_cosine_similarity_loss(fx$cos_x1, fx$cos_x2, eps = 0),
               "eps")
  expect_error(mlx_cosine_similarity_loss(fx$cos_x1, fx$cos_x2, eps = -1),
               "eps")
})

test_that("hinge loss matches MLX", {
  for (reduction in reductions) {
    loss <- mlx_hinge_loss(fx$hinge_inputs, fx$hinge_targets,
                           reduction = reduction)
    expect_loss(loss, fx[[paste0("hinge_", reduction)]])
  }
  expect_loss(mlx_hinge_loss(fx$hinge_inputs, fx$hinge_targets),
              fx$ref_hinge_none)
  expect_error(mlx_hinge_loss(fx$hinge_inputs, 1), "same shape")
})

test_that("margin ranking loss matches MLX and PyTorch", {
  margins <- c(m0 = 0, m05 = 0.5, mneg = -0.3)
  for (label in names(margins)) {
    for (reduction in reductions) {
      loss <- mlx_margin_ranking_loss(
        fx$rank_inputs1, fx$rank_inputs2, fx$rank_targets,
        margin = margins[[label]], reduction = reduction
      )
      key <- paste0("rank_", label, "_", reduction)
      expect_loss(loss, fx[[key]])
      expect_loss(loss, fx[[paste0("torch_", key)]])
    }
  }
  expect_error(mlx_margin_ranking_loss(c(1, 2), c(1, 2, 3), c(1, 1)),
               "same shape")
  expect_error(mlx_margin_ranking_loss(1, 2, 1, margin = NA), "margin")
})

test_that("triplet loss matches MLX and PyTorch", {
  a <- fx$triplet_anchors
  p <- fx$triplet_positives
  n <- fx$triplet_negatives
  for (reduction in reductions) {
    expect_loss(mlx_triplet_loss(a, p, n, reduction = reduction),
                fx[[paste0("triplet_", reduction)]])
  }
  cases <- list(p1 = list(p = 1), p2 = list(p = 2), p3 = list(p = 3),
                m05 = list(margin = 0.5), m3 = list(margin = 3))
  for (label in names(cases)) {
    args <- c(list(a, p, n, eps = 0), cases[[label]])
    loss <- do.call(mlx_triplet_loss, args)
    key <- paste0("triplet_", label, "_eps0")
    expect_loss(loss, fx[[key]])
    expect_loss(loss, fx[[paste0("torch_", key)]])
  }
  expect_loss(mlx_triplet_loss(a, p, n, eps = 0.1), fx$triplet_eps_01)
  expect_loss(mlx_triplet_loss(t(a), t(p), t(n), axis = 1), fx$triplet_axis0)
})

test_that("triplet loss rejects bad options", {
  a <- fx$triplet_anchors
  expect_error(mlx_triplet_loss(a, a, a[1:2, ]), "same shape")
  expect_error(mlx_triplet_loss(a, a, a, axis = 3), "axis")
  expect_error(mlx_triplet_loss(a, a, a, margin = 0), "margin")
  expect_error(mlx_triplet_loss(a, a, a, margin = -1), "margin")
  expect_error(mlx_triplet_loss(a, a, a, p = 0), "p")
  expect_error(mlx_triplet_loss(a, a, a, eps = -1e-6), "eps")
})

test_that("smooth l1 and huber match MLX and PyTorch", {
  p <- fx$reg_predictions
  t <- fx$reg_targets
  betas <- c(b1 = 1, b05 = 0.5, b25 = 2.5, b0 = 0)
  for (label in names(betas)) {
    for (reduction in reductions) {
      loss <- mlx_smooth_l1_loss(p, t, beta = betas[[label]],
                                 reduction = reduction)
      key <- paste0("smooth_l1_", label, "_", reduction)
      expect_loss(loss, fx[[key]])
      expect_loss(loss, fx[[paste0("torch_", key)]])
    }
  }
  deltas <- c(d1 = 1, d05 = 0.5, d3 = 3)
  for (label in names(deltas)) {
    for (reduction in reductions) {
      loss <- mlx_huber_loss(p, t, delta = deltas[[label]],
                             reduction = reduction)
      key <- paste0("huber_", label, "_", reduction)
      expect_loss(loss, fx[[key]])
      expect_loss(loss, fx[[paste0("torch_", key)]])
    }
  }
  expect_loss(mlx_smooth_l1_loss(p, t), fx$smooth_l1_b1_mean)
  expect_loss(mlx_huber_loss(p, t), fx$huber_d1_none)
})

test_that("smooth l1 and huber reject bad input", {
  p <- fx$reg_predictions
  expect_error(mlx_smooth_l1_loss(p, t(p)), "same shape")
  expect_error(mlx_smooth_l1_loss(p, p, beta = -1), "beta")
  expect_error(mlx_smooth_l1_loss(p, p, beta = Inf), "beta")
  expect_error(mlx_huber_loss(p, p[1, ]), "same shape")
  expect_error(mlx_huber_loss(p, p, delta = 0), "delta")
  expect_error(mlx_huber_loss(p, p, delta = "1"), "delta")
})

test_that("gaussian nll matches MLX and PyTorch", {
  p <- fx$reg_predictions
  t <- fx$reg_targets
  v <- fx$gnll_vars
  for (full in c(FALSE, TRUE)) {
    for (eps_label in c("e6", "e01")) {
      eps <- if (eps_label == "e6") 1e-6 else 0.1
      for (reduction in reductions) {
        loss <- mlx_gaussian_nll_loss(p, t, v, full = full, eps = eps,
                                      reduction = reduction)
        key <- paste0("gnll_", if (full) "full" else "part", "_", eps_label,
                      "_", reduction)
        expect_loss(loss, fx[[key]])
        expect_loss(loss, fx[[paste0("torch_", key)]])
      }
    }
  }
  expect_loss(mlx_gaussian_nll_loss(p, t, v), fx$gnll_part_e6_mean)
})

test_that("gaussian nll rejects bad input", {
  p <- fx$reg_predictions
  expect_error(mlx_gaussian_nll_loss(p, p, p[, 1:2]), "vars")
  expect_error(mlx_gaussian_nll_loss(p, t(p), p), "same shape")
  expect_error(mlx_gaussian_nll_loss(p, p, p, eps = 0), "eps")
  expect_error(mlx_gaussian_nll_loss(p, p, p, full = NA), "full")
})

test_that("log cosh matches MLX and mpmath", {
  p <- fx$reg_predictions
  t <- fx$reg_targets
  for (reduction in reductions) {
    expect_loss(mlx_log_cosh_loss(p, t, reduction = reduction),
                fx[[paste0("log_cosh_", reduction)]])
  }
  expect_loss(mlx_log_cosh_loss(p, t), fx$ref_log_cosh_none)
  expect_error(mlx_log_cosh_loss(p, p[1, ]), "same shape")
})

test_that("log cosh is accurate from 1e-6 to 3e38", {
  errors <- fx$log_cosh_errors
  loss <- mlx_log_cosh_loss(errors, rep(0, length(errors)))
  expect_relative(loss, fx$ref_log_cosh_errors, 1e-6)
  # MLX Python returns 0 for the tiny errors.
  expect_identical(c(fx$log_cosh_errors_mlx)[2:3], c(0, 0))
})

test_that("binary cross entropy stays accurate for large logits", {
  loss <- mlx_binary_cross_entropy(fx$bce_big_logits, fx$bce_big_targets,
                                   reduction = "none")
  expect_relative(loss, fx$ref_bce_big, 1e-5)

  inf_loss <- c(as.array(mlx_binary_cross_entropy(
    fx$bce_inf_logits, fx$bce_inf_targets, reduction = "none"
  )))
  expect_identical(inf_loss[1], fx$torch_bce_inf[1])
  expect_identical(is.nan(inf_loss[2:3]), c(TRUE, TRUE))
  expect_identical(inf_loss[4], fx$bce_inf_mlx[4])

  probs_loss <- mlx_binary_cross_entropy(
    fx$bce_small_probs, fx$bce_small_targets, with_logits = FALSE,
    reduction = "none"
  )
  expect_relative(probs_loss, fx$ref_bce_small_probs, 1e-5)
})

test_that("cross entropy stays accurate for large logits", {
  labels <- c(fx$ce_big_indices) + 1L
  for (label in c("s0", "s01")) {
    smoothing <- if (label == "s0") 0 else 0.1
    expect_loss(
      mlx_cross_entropy(fx$ce_big_logits, labels, label_smoothing = smoothing),
      fx[[paste0("ref_ce_big_indices_", label)]]
    )
    expect_loss(
      mlx_cross_entropy(fx$ce_big_logits, fx$ce_big_probs,
                        label_smoothing = smoothing),
      fx[[paste0("ref_ce_big_probs_", label)]]
    )
  }
})

test_that("cross entropy with masked classes", {
  loss <- mlx_cross_entropy(fx$ce_masked_logits, fx$ce_masked_probs)
  expect_loss(loss, fx$ref_ce_masked)
  expect_true(all(is.nan(fx$ce_masked_mlx)))
})

test_that("loss gradients match finite differences", {
  set.seed(3)
  x <- matrix(rnorm(12), 3, 4)
  y <- matrix(rnorm(12), 3, 4)
  z <- matrix(rnorm(12), 3, 4)
  signs <- matrix(c(1, -1, 1, 1, -1, -1, 1, -1, 1, 1, -1, 1), 3, 4)
  log_p <- log(exp(x) / rowSums(exp(x)))
  log_q <- log(exp(y) / rowSums(exp(y)))
  probe <- gradient_probe(list(x = as_f64(x)))
  losses <- list(
    nll = function(m) mlx_nll_loss(m$x, c(4, 1, 3), reduction = "mean"),
    kl = function(m) mlx_kl_div_loss(m$x, as_f64(log_q), reduction = "sum"),
    cosine = function(m) {
      mlx_cosine_similarity_loss(m$x, as_f64(y), reduction = "sum")
    },
    ranking = function(m) {
      mlx_margin_ranking_loss(m$x, as_f64(y), as_f64(signs), margin = 0.3,
                              reduction = "sum")
    },
    triplet_p1 = function(m) {
      mlx_triplet_loss(m$x, as_f64(y), as_f64(z), p = 1, margin = 5,
                       reduction = "sum")
    },
    triplet_p3 = function(m) {
      mlx_triplet_loss(m$x, as_f64(y), as_f64(z), p = 3, margin = 5,
                       reduction = "sum")
    },
    smooth_l1 = function(m) mlx_smooth_l1_loss(m$x, as_f64(y), beta = 0.5),
    smooth_l1_beta0 = function(m) mlx_smooth_l1_loss(m$x, as_f64(y), beta = 0),
    huber = function(m) {
      mlx_huber_loss(m$x, as_f64(y), delta = 0.7, reduction = "sum")
    },
    log_cosh = function(m) {
      mlx_log_cosh_loss(m$x * 3, as_f64(y), reduction = "sum")
    },
    gaussian_mean = function(m) {
      mlx_gaussian_nll_loss(m$x, as_f64(y), as_f64(exp(z)), full = TRUE)
    },
    gaussian_vars = function(m) {
      mlx_gaussian_nll_loss(as_f64(y), as_f64(z), abs(m$x) + 1,
                            reduction = "sum")
    }
  )
  for (name in names(losses)) {
    expect_grad_matches_fd(probe, losses[[name]], tolerance = 1e-5,
                           label = name)
  }
  kl_probe <- gradient_probe(list(x = as_f64(log_p)))
  expect_grad_matches_fd(kl_probe, losses$kl, tolerance = 1e-5, label = "kl")
  hinge_probe <- gradient_probe(list(x = as_f64(x + 0.05)))
  expect_grad_matches_fd(
    hinge_probe,
    function(m) mlx_hinge_loss(m$x, as_f64(signs), reduction = "sum"),
    tolerance = 1e-5, label = "hinge"
  )
})

test_that("losses accept option values only as numbers", {
  p <- fx$reg_predictions
  expect_error(mlx_smooth_l1_loss(p, p, beta = c(1, 2)), "beta")
  expect_error(mlx_triplet_loss(p, p, p, p = NA), "p")
  expect_error(mlx_gaussian_nll_loss(p, p, p, eps = NULL), "eps")
})
