// Loss functions, as in MLX Python's mlx/nn/losses.py, with its defaults.
// Every loss takes a reduction: "none" returns the elementwise loss, "mean"
// its mean and "sum" its sum; any other value throws std::invalid_argument.
// Unlike MLX Python, which broadcasts some of them, every loss requires its
// elementwise arguments to have the same shape.
#pragma once

#include <optional>
#include <string>

#include <mlx/mlx.h>

namespace rmlx::nn {

namespace mx = mlx::core;

/** Returns the squared error (predictions - targets)^2, reduced. */
mx::array mse_loss(
    const mx::array& predictions,
    const mx::array& targets,
    const std::string& reduction = "mean",
    mx::StreamOrDevice s = {});

/** Returns the absolute error |predictions - targets|, reduced. */
mx::array l1_loss(
    const mx::array& predictions,
    const mx::array& targets,
    const std::string& reduction = "mean",
    mx::StreamOrDevice s = {});

/**
 * Returns the binary cross entropy of targets in {0, 1} (or in [0, 1]) for
 * inputs of the same shape. With with_logits the inputs are logits and the
 * loss is log(1 + exp(x)) - x * t, computed as
 * (1 - t) log(1 + exp(x)) + t log(1 + exp(-x)) so that small values keep
 * their precision. Otherwise the inputs are probabilities, and each log is
 * clipped below at -100. Optional weights multiply the loss
 * elementwise and must have its shape.
 */
mx::array binary_cross_entropy(
    const mx::array& inputs,
    const mx::array& targets,
    const std::optional<mx::array>& weights = std::nullopt,
    bool with_logits = true,
    const std::string& reduction = "mean",
    mx::StreamOrDevice s = {});

/**
 * Returns the cross entropy of logits along axis. The targets are either
 * 0-based integer class indices, shaped like logits without axis, or class
 * probabilities shaped like logits. With a label_smoothing s in [0, 1), the
 * loss is logsumexp - (1 - s) * score - s * mean(logits). Optional weights
 * multiply the loss elementwise and must have its shape. Like MLX Python,
 * it does not range-check class indices; check_class_indices() does. Unlike
 * MLX Python, a class of target probability 0 adds 0 to the loss even when
 * its logit is -inf.
 */
mx::array cross_entropy(
    const mx::array& logits,
    const mx::array& targets,
    const std::optional<mx::array>& weights = std::nullopt,
    int axis = -1,
    double label_smoothing = 0.0,
    const std::string& reduction = "none",
    mx::StreamOrDevice s = {});

/**
 * Returns the negative log likelihood -inputs[target] of log probabilities
 * along axis. targets are 0-based integer class indices shaped like inputs
 * without axis; like MLX Python, it does not range-check them.
 */
mx::array nll_loss(
    const mx::array& inputs,
    const mx::array& targets,
    int axis = -1,
    const std::string& reduction = "none",
    mx::StreamOrDevice s = {});

/**
 * Returns the Kullback-Leibler divergence sum(exp(t) * (t - x)) along axis,
 * where inputs x and targets t are log probabilities of the same shape. A
 * class with t = -inf adds 0 (NaN if its input is NaN), where MLX Python
 * returns NaN.
 */
mx::array kl_div_loss(
    const mx::array& inputs,
    const mx::array& targets,
    int axis = -1,
    const std::string& reduction = "none",
    mx::StreamOrDevice s = {});

/**
 * Returns the smooth L1 loss: 0.5 d^2 / beta where d = |predictions -
 * targets| < beta, and d - 0.5 beta elsewhere. beta must be finite and at
 * least 0, and beta = 0 gives the L1 loss (as in PyTorch).
 */
mx::array smooth_l1_loss(
    const mx::array& predictions,
    const mx::array& targets,
    double beta = 1.0,
    const std::string& reduction = "mean",
    mx::StreamOrDevice s = {});

/**
 * Returns the Huber loss: 0.5 d^2 where d = |inputs - targets| <= delta,
 * and delta (d - 0.5 delta) elsewhere. delta must be finite and positive.
 */
mx::array huber_loss(
    const mx::array& inputs,
    const mx::array& targets,
    double delta = 1.0,
    const std::string& reduction = "none",
    mx::StreamOrDevice s = {});

/**
 * Returns log(cosh(inputs - targets)), finite for every finite error and
 * accurate to a few ulps for errors near 0, where MLX Python returns 0.
 */
mx::array log_cosh_loss(
    const mx::array& inputs,
    const mx::array& targets,
    const std::string& reduction = "none",
    mx::StreamOrDevice s = {});

/**
 * Returns the Gaussian negative log likelihood of targets under means
 * inputs and variances vars, all of the same shape:
 * 0.5 (log(v) + (targets - inputs)^2 / v) with v = max(vars, eps), plus
 * 0.5 log(2 pi) when full. eps must be finite and positive.
 */
mx::array gaussian_nll_loss(
    const mx::array& inputs,
    const mx::array& targets,
    const mx::array& vars,
    bool full = false,
    double eps = 1e-6,
    const std::string& reduction = "mean",
    mx::StreamOrDevice s = {});

/** Returns the hinge loss max(1 - inputs * targets, 0), targets in {-1, 1}. */
mx::array hinge_loss(
    const mx::array& inputs,
    const mx::array& targets,
    const std::string& reduction = "none",
    mx::StreamOrDevice s = {});

/**
 * Returns the margin ranking loss max(0, -targets * (inputs1 - inputs2) +
 * margin), targets in {-1, 1}. margin must be finite.
 */
mx::array margin_ranking_loss(
    const mx::array& inputs1,
    const mx::array& inputs2,
    const mx::array& targets,
    double margin = 0.0,
    const std::string& reduction = "none",
    mx::StreamOrDevice s = {});

/**
 * Returns the triplet loss max(d(a, p) - d(a, n) + margin, 0) with the
 * distance d(x, y) = (sum(|x - y|^p, axis) + eps)^(1/p). p and margin must
 * be positive (PyTorch's rule for margin; MLX Python accepts any) and eps
 * at least 0.
 */
mx::array triplet_loss(
    const mx::array& anchors,
    const mx::array& positives,
    const mx::array& negatives,
    int axis = -1,
    double p = 2.0,
    double margin = 1.0,
    double eps = 1e-6,
    const std::string& reduction = "none",
    mx::StreamOrDevice s = {});

/**
 * Returns the cosine similarity x1 . x2 / max(|x1| |x2|, eps) along axis
 * (the similarity itself, as MLX Python returns, not 1 minus it). eps must
 * be finite and positive.
 */
mx::array cosine_similarity_loss(
    const mx::array& x1,
    const mx::array& x2,
    int axis = 1,
    double eps = 1e-8,
    const std::string& reduction = "none",
    mx::StreamOrDevice s = {});

/**
 * Evaluates targets and throws std::invalid_argument unless they are
 * integers in [0, num_classes). Bindings that hold concrete data call it to
 * raise an error in place of an out-of-range gather.
 */
void check_class_indices(const mx::array& targets, int num_classes);

} // namespace rmlx::nn
