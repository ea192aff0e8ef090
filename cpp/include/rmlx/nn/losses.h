// Loss functions, as in MLX Python's mlx/nn/losses.py, with its defaults.
// Every loss takes a reduction: "none" returns the elementwise loss, "mean"
// its mean and "sum" its sum; any other value throws std::invalid_argument.
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
 * loss is log(1 + exp(x)) - x * t. Otherwise the inputs are probabilities,
 * and each log is clipped below at -100. Optional weights multiply the loss
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
 * it does not range-check class indices; check_class_indices() does.
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
 * Evaluates targets and throws std::invalid_argument unless they are
 * integers in [0, num_classes). Bindings that hold concrete data call it to
 * raise an error in place of an out-of-range gather.
 */
void check_class_indices(const mx::array& targets, int num_classes);

} // namespace rmlx::nn
