// Muon: momentum orthogonalized by Newton-Schulz iterations.
#pragma once

#include <string>

#include "rmlx/optimizers/optimizers.h"

namespace rmlx::optimizers {

/**
 * Returns the matrix X / ||X||_F after `steps` quintic Newton-Schulz
 * iterations X <- a X + (b A + c A A) X with A = X X^T and (a, b, c) =
 * (3.4445, -4.7750, 2.0315), which drive the singular values towards 1.
 * A tall matrix is iterated transposed. Throws std::invalid_argument
 * unless x has two dimensions.
 */
mx::array newton_schulz5(const mx::array& x, int steps);

/**
 * Muon as MLX Python 0.32 implements it. With weight decay g <- g + wd w,
 * then v <- mu v + (1 - mu) g and the update is v, or with Nesterov
 * momentum (1 - mu) g + mu v. A parameter with two or more dimensions gets
 * the update orthogonalized by newton_schulz5() (a 3-D or 4-D one as a
 * (shape[0], -1) matrix) and the learning rate scaled by
 * sqrt(max(1, shape[-2] / shape[-1])). 0-D and 1-D parameters take the
 * momentum update unchanged. State "v".
 */
class Muon : public Optimizer {
 public:
  /**
   * Creates the optimizer. momentum outside [0, 1), a negative weight
   * decay or ns_steps < 0 throw std::invalid_argument.
   */
  explicit Muon(
      const LearningRate& learning_rate,
      double momentum = 0.95,
      double weight_decay = 0.01,
      bool nesterov = true,
      int ns_steps = 5);

  std::string type_name() const override {
    return "Muon";
  }
  double momentum() const {
    return momentum_;
  }
  double weight_decay() const {
    return weight_decay_;
  }
  bool nesterov() const {
    return nesterov_;
  }
  int ns_steps() const {
    return ns_steps_;
  }

 protected:
  void init_single(const mx::array& parameter, ParameterState& state)
      const override;
  mx::array apply_single(
      const mx::array& gradient,
      const mx::array& parameter,
      ParameterState& state) override;

 private:
  double momentum_;
  double weight_decay_;
  bool nesterov_;
  int ns_steps_;
};

} // namespace rmlx::optimizers
