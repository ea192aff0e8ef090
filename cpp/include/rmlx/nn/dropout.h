// Dropout, as in MLX Python's mlx/nn/layers/dropout.py.
#pragma once

#include <string>

#include "rmlx/nn/module.h"

namespace rmlx::nn {

/**
 * Zeros each element with probability p in training mode and scales the
 * kept ones by 1 / (1 - p). The mask is drawn with a key from
 * rmlx::random::next_key(), so after mx::random::seed(s) it equals MLX
 * Python's.
 */
class Dropout : public UnaryModule {
 public:
  /** Creates the layer; throws unless p is in [0, 1). */
  explicit Dropout(double p = 0.5);

  std::string type_name() const override {
    return "Dropout";
  }

  /** "p=0.5", printed as MLX Python prints 1 - (1 - p). */
  std::string extra_repr() const override;

  /** Returns x in evaluation mode or when p is 0, else the dropped-out x. */
  mx::array forward(const mx::array& x) override;

  using UnaryModule::forward;

  /** The probability of zeroing an element. */
  double p() const {
    return 1.0 - keep_probability_;
  }

 private:
  double keep_probability_;
};

} // namespace rmlx::nn
