// Channel-wise dropout, as Dropout2d and Dropout3d in MLX Python's
// mlx/nn/layers/dropout.py. Inputs are channels-last.
#pragma once

#include <string>

#include "rmlx/nn/module.h"

namespace rmlx::nn {

/**
 * The shared implementation of Dropout2d and Dropout3d: in training mode it
 * zeros whole channels with probability p, one draw per (sample, channel),
 * and scales the kept ones by 1 / (1 - p). The mask has the input's shape
 * with the spatial axes set to 1 and is drawn with a key from
 * rmlx::random::next_key(), so after mx::random::seed(s) it equals MLX
 * Python's.
 */
class ChannelDropout : public UnaryModule {
 public:
  std::string type_name() const override {
    return type_name_;
  }

  /** "p=0.5", printed as MLX Python prints 1 - (1 - p). */
  std::string extra_repr() const override;

  /**
   * Returns x in evaluation mode or when p is 0, else the dropped-out x.
   * Throws std::invalid_argument for an input of the wrong rank, also in
   * evaluation mode.
   */
  mx::array forward(const mx::array& x) override;

  using UnaryModule::forward;

  /** The probability of zeroing a channel. */
  double p() const {
    return 1.0 - keep_probability_;
  }

 protected:
  /** Throws std::invalid_argument unless p is in [0, 1). */
  ChannelDropout(std::string type_name, int spatial_dims, double p);

 private:
  std::string type_name_;
  int spatial_dims_;
  double keep_probability_;
};

/** Channel dropout for (N, H, W, C) or (H, W, C) inputs. */
class Dropout2d : public ChannelDropout {
 public:
  explicit Dropout2d(double p = 0.5) : ChannelDropout("Dropout2d", 2, p) {}
};

/** Channel dropout for (N, D, H, W, C) or (D, H, W, C) inputs. */
class Dropout3d : public ChannelDropout {
 public:
  explicit Dropout3d(double p = 0.5) : ChannelDropout("Dropout3d", 3, p) {}
};

} // namespace rmlx::nn
