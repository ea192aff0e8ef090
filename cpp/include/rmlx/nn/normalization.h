// Normalization layers, as in MLX Python's
// mlx/nn/layers/normalization.py. Features are on the last axis.
#pragma once

#include <string>
#include <vector>

#include "rmlx/nn/module.h"

namespace rmlx::nn {

/**
 * Layer normalization over the last axis, y = (x - E[x]) / sqrt(Var[x] +
 * eps) * weight + bias, computed with mx::fast::layer_norm. The weight
 * starts at ones and the bias at zeros.
 */
class LayerNorm : public UnaryModule {
 public:
  /**
   * Creates the layer. With affine false it has neither "weight" nor
   * "bias"; with bias false it has no "bias". Throws unless eps > 0.
   */
  LayerNorm(int dims, double eps = 1e-5, bool affine = true, bool bias = true);

  std::string type_name() const override {
    return "LayerNorm";
  }

  /** "4, eps=1e-05, affine=True", as MLX Python prints it. */
  std::string extra_repr() const override;

  /** Normalizes x of shape (..., dims). */
  mx::array forward(const mx::array& x) override;

  using UnaryModule::forward;

  int dims() const {
    return dims_;
  }
  double eps() const {
    return eps_;
  }

 private:
  int dims_;
  double eps_;
};

/**
 * Root-mean-square normalization over the last axis, y = x / sqrt(E[x^2] +
 * eps) * weight, computed with mx::fast::rms_norm, which accumulates in
 * float32. The weight starts at ones.
 */
class RMSNorm : public UnaryModule {
 public:
  /** Creates the layer. Throws unless dims >= 1 and eps > 0. */
  explicit RMSNorm(int dims, double eps = 1e-5);

  std::string type_name() const override {
    return "RMSNorm";
  }

  /** "4, eps=1e-05", as MLX Python prints it. */
  std::string extra_repr() const override;

  /** Normalizes x of shape (..., dims). */
  mx::array forward(const mx::array& x) override;

  using UnaryModule::forward;

  double eps() const {
    return eps_;
  }

 private:
  double eps_;
};

/**
 * Group normalization of inputs of shape (N, ..., dims): the features are
 * split into num_groups groups, and each group is normalized over its
 * features and every axis between the first and the last. With affine, the
 * result is scaled by "weight" (ones) and shifted by "bias" (zeros).
 *
 * Like MLX Python, the default grouping puts feature c into group
 * c % num_groups. With pytorch_compatible, group g contains the consecutive
 * features [g * dims / num_groups, (g + 1) * dims / num_groups), as PyTorch
 * groups them. Both groupings use mx::fast::layer_norm, which accumulates in
 * float32. MLX Python 0.32.4 computes the default grouping's statistics in
 * the input's dtype, so its float16 variance overflows for values above
 * about 256.
 */
class GroupNorm : public UnaryModule {
 public:
  /**
   * Creates the layer. Throws unless num_groups >= 1, dims >= 1, dims is a
   * multiple of num_groups and eps > 0.
   */
  GroupNorm(
      int num_groups,
      int dims,
      double eps = 1e-5,
      bool affine = true,
      bool pytorch_compatible = false);

  std::string type_name() const override {
    return "GroupNorm";
  }

  /** "2, 4, eps=1e-05, affine=True, pytorch_compatible=False". */
  std::string extra_repr() const override;

  /** Normalizes x of shape (N, ..., dims). */
  mx::array forward(const mx::array& x) override;

  using UnaryModule::forward;

  int num_groups() const {
    return num_groups_;
  }
  int dims() const {
    return dims_;
  }
  double eps() const {
    return eps_;
  }
  bool pytorch_compatible() const {
    return pytorch_compatible_;
  }

 private:
  int num_groups_;
  int dims_;
  double eps_;
  bool pytorch_compatible_;
};

/**
 * Instance normalization of inputs of shape (N, ..., dims) with at least 3
 * axes: each feature of each sample is normalized over the axes between
 * the first and the last, with mx::fast::layer_norm. With affine, the
 * result is scaled by "weight" (ones) and shifted by "bias" (zeros).
 */
class InstanceNorm : public UnaryModule {
 public:
  /** Creates the layer. Throws unless dims >= 1 and eps > 0. */
  InstanceNorm(int dims, double eps = 1e-5, bool affine = false);

  std::string type_name() const override {
    return "InstanceNorm";
  }

  /** "4, eps=1e-05, affine=False", as MLX Python prints it. */
  std::string extra_repr() const override;

  /** Normalizes x of shape (N, ..., dims). */
  mx::array forward(const mx::array& x) override;

  using UnaryModule::forward;

  int dims() const {
    return dims_;
  }
  double eps() const {
    return eps_;
  }

 private:
  int dims_;
  double eps_;
};

/**
 * Batch normalization of inputs of shape (N, C), (N, L, C) or (N, H, W, C),
 * with statistics over every axis but the last.
 *
 * In training mode the layer normalizes with the batch mean and the biased
 * batch variance. With track_running_stats it also updates
 * running = (1 - momentum) * running + momentum * batch statistic, where,
 * as in MLX Python 0.32.4 and PyTorch, the running variance takes the
 * unbiased (ddof = 1) batch variance. In evaluation mode it normalizes with
 * the running statistics, or with the batch statistics when they are not
 * tracked. The running statistics are parameters that stay frozen.
 */
class BatchNorm : public UnaryModule {
 public:
  /**
   * Creates the layer. With affine it has "weight" (ones) and "bias"
   * (zeros); with track_running_stats it has "running_mean" (zeros) and
   * "running_var" (ones). Throws unless eps > 0.
   */
  BatchNorm(
      int num_features,
      double eps = 1e-5,
      double momentum = 0.1,
      bool affine = true,
      bool track_running_stats = true);

  std::string type_name() const override {
    return "BatchNorm";
  }

  /** "4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True". */
  std::string extra_repr() const override;

  /** Normalizes x and, in training mode, updates the running statistics. */
  mx::array forward(const mx::array& x) override;

  using UnaryModule::forward;

  /**
   * Unfreezes as Module::unfreeze does, then freezes the running statistics
   * again. Like MLX Python, an unfreeze called on a parent module clears
   * this module's frozen set directly and so does unfreeze them.
   */
  void unfreeze(
      bool recurse = true,
      const std::vector<std::string>& keys = {},
      bool strict = false) override;

  int num_features() const {
    return num_features_;
  }
  double eps() const {
    return eps_;
  }
  double momentum() const {
    return momentum_;
  }
  bool track_running_stats() const {
    return track_running_stats_;
  }

 private:
  int num_features_;
  double eps_;
  double momentum_;
  bool track_running_stats_;
};

} // namespace rmlx::nn
