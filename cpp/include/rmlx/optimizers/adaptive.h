// Optimizers with per-parameter step sizes, and Lion: the remaining
// optimizers of MLX Python's mlx.optimizers (0.32) apart from Muon and
// MultiOptimizer, with the same options, defaults and state names.
#pragma once

#include <array>
#include <optional>
#include <string>

#include "rmlx/optimizers/optimizers.h"

namespace rmlx::optimizers {

/**
 * RMSprop: v <- alpha v + (1 - alpha) g^2, w <- w - lr g / (sqrt(v) + eps).
 * State "v".
 */
class RMSprop : public Optimizer {
 public:
  /**
   * Creates the optimizer. alpha outside [0, 1] or eps <= 0 throws
   * std::invalid_argument. MLX Python accepts alpha > 1, which makes v
   * diverge, so it is rejected here.
   */
  explicit RMSprop(
      const LearningRate& learning_rate,
      double alpha = 0.99,
      double eps = 1e-8);

  std::string type_name() const override {
    return "RMSprop";
  }
  double alpha() const {
    return alpha_;
  }
  double eps() const {
    return eps_;
  }

 protected:
  void init_single(const mx::array& parameter, ParameterState& state)
      const override;
  mx::array apply_single(
      const mx::array& gradient,
      const mx::array& parameter,
      ParameterState& state) override;

 private:
  double alpha_;
  double eps_;
};

/** Adagrad: v <- v + g^2, w <- w - lr g / (sqrt(v) + eps). State "v". */
class Adagrad : public Optimizer {
 public:
  /** Creates the optimizer; eps <= 0 throws std::invalid_argument. */
  explicit Adagrad(const LearningRate& learning_rate, double eps = 1e-8);

  std::string type_name() const override {
    return "Adagrad";
  }
  double eps() const {
    return eps_;
  }

 protected:
  void init_single(const mx::array& parameter, ParameterState& state)
      const override;
  mx::array apply_single(
      const mx::array& gradient,
      const mx::array& parameter,
      ParameterState& state) override;

 private:
  double eps_;
};

/**
 * AdaDelta with a learning rate: v <- rho v + (1 - rho) g^2,
 * d = sqrt(u + eps) / sqrt(v + eps) g, u <- rho u + (1 - rho) d^2,
 * w <- w - lr d. State "v" and "u".
 */
class AdaDelta : public Optimizer {
 public:
  /**
   * Creates the optimizer. rho outside [0, 1] or eps <= 0 throws
   * std::invalid_argument (MLX Python accepts rho > 1).
   */
  explicit AdaDelta(
      const LearningRate& learning_rate,
      double rho = 0.9,
      double eps = 1e-6);

  std::string type_name() const override {
    return "AdaDelta";
  }
  double rho() const {
    return rho_;
  }
  double eps() const {
    return eps_;
  }

 protected:
  void init_single(const mx::array& parameter, ParameterState& state)
      const override;
  mx::array apply_single(
      const mx::array& gradient,
      const mx::array& parameter,
      ParameterState& state) override;

 private:
  double rho_;
  double eps_;
};

/**
 * Adamax, Adam with the infinity norm: m <- b1 m + (1 - b1) g,
 * v <- max(b2 v, |g|), w <- w - lr m / (v + eps). No bias correction.
 * State "m" and "v".
 */
class Adamax : public Optimizer {
 public:
  /**
   * Creates the optimizer. Betas outside [0, 1) or eps < 0 throw
   * std::invalid_argument, as for Adam.
   */
  explicit Adamax(
      const LearningRate& learning_rate,
      std::array<double, 2> betas = {0.9, 0.999},
      double eps = 1e-8);

  std::string type_name() const override {
    return "Adamax";
  }
  const std::array<double, 2>& betas() const {
    return betas_;
  }
  double eps() const {
    return eps_;
  }

 protected:
  void init_single(const mx::array& parameter, ParameterState& state)
      const override;
  mx::array apply_single(
      const mx::array& gradient,
      const mx::array& parameter,
      ParameterState& state) override;

 private:
  std::array<double, 2> betas_;
  double eps_;
};

/**
 * Lion: c = b1 m + (1 - b1) g, m <- b2 m + (1 - b2) g,
 * w <- w (1 - lr wd) - lr sign(c). State "m".
 */
class Lion : public Optimizer {
 public:
  /**
   * Creates the optimizer. Betas outside [0, 1) or a negative weight decay
   * throw std::invalid_argument. MLX Python silently skips a negative
   * weight decay; here it is an error.
   */
  explicit Lion(
      const LearningRate& learning_rate,
      std::array<double, 2> betas = {0.9, 0.99},
      double weight_decay = 0.0);

  std::string type_name() const override {
    return "Lion";
  }
  const std::array<double, 2>& betas() const {
    return betas_;
  }
  double weight_decay() const {
    return weight_decay_;
  }

 protected:
  void init_single(const mx::array& parameter, ParameterState& state)
      const override;
  mx::array apply_single(
      const mx::array& gradient,
      const mx::array& parameter,
      ParameterState& state) override;

 private:
  std::array<double, 2> betas_;
  double weight_decay_;
};

/** The options of Adafactor, with MLX Python's defaults. */
struct AdafactorOptions {
  /** Added to g^2, and the floor of the parameter scale. */
  std::array<double, 2> eps = {1e-30, 1e-3};
  /** The update is scaled down so that its RMS is at most this. */
  double clip_threshold = 1.0;
  /** beta2 at step t is 1 - t^decay_rate. */
  double decay_rate = -0.8;
  /** With a value, the update goes through a running average with it. */
  std::optional<double> beta_1;
  double weight_decay = 0.0;
  /** Multiply the step size by max(eps[1], RMS(parameter)). */
  bool scale_parameter = true;
  /** Use min(1e-2, 1/sqrt(t)) as the step size and ignore the learning rate. */
  bool relative_step = true;
  /** With relative_step, use min(1e-6 t, 1/sqrt(t)) instead. */
  bool warmup_init = false;
};

/**
 * Adafactor (Shazeer and Stern, 2018). Parameters with two or more
 * dimensions keep factored second moments "exp_avg_sq_row" and
 * "exp_avg_sq_col", the others "exp_avg_sq"; with beta_1 there is also
 * "exp_avg".
 */
class Adafactor : public Optimizer {
 public:
  /**
   * Creates the optimizer. Without a learning rate, relative_step must be
   * true (MLX Python fails at the first update instead). Throws
   * std::invalid_argument for negative eps, clip_threshold <= 0,
   * decay_rate > 0, beta_1 outside [0, 1) or a negative weight decay.
   */
  explicit Adafactor(
      const std::optional<LearningRate>& learning_rate = std::nullopt,
      AdafactorOptions options = {});

  std::string type_name() const override {
    return "Adafactor";
  }
  const AdafactorOptions& options() const {
    return options_;
  }

 protected:
  void init_single(const mx::array& parameter, ParameterState& state)
      const override;
  mx::array apply_single(
      const mx::array& gradient,
      const mx::array& parameter,
      ParameterState& state) override;

 private:
  mx::array step_size(const mx::array& parameter_rms) const;

  AdafactorOptions options_;
};

} // namespace rmlx::optimizers
