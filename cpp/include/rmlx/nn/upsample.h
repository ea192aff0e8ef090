// Spatial upsampling, as in MLX Python's mlx/nn/layers/upsample.py (MLX
// 0.32.4). Inputs are channels-last, (N, spatial..., C), with any number of
// spatial dimensions.
#pragma once

#include <string>
#include <vector>

#include "rmlx/nn/module.h"

namespace rmlx::nn {

/**
 * Scales the spatial axes by scale_factor with nearest-neighbour, linear
 * (bilinear, trilinear, ...) or cubic (Keys, a = -0.75) interpolation. The
 * output size along an axis of size n is int(scale * n). With antialias,
 * linear and cubic modes widen the kernel when downsampling and cubic uses
 * a = -0.5, as MLX Python does.
 */
class Upsample : public UnaryModule {
 public:
  /**
   * Creates the layer with one scale for every spatial dimension. Throws
   * std::invalid_argument for an unknown mode, for antialias in "nearest"
   * mode or together with align_corners, and for a scale factor that is
   * not finite and positive.
   */
  explicit Upsample(
      double scale_factor,
      std::string mode = "nearest",
      bool align_corners = false,
      bool antialias = false);

  /** Creates the layer with one scale per spatial dimension. */
  explicit Upsample(
      std::vector<double> scale_factor,
      std::string mode = "nearest",
      bool align_corners = false,
      bool antialias = false);

  std::string type_name() const override {
    return "Upsample";
  }

  /**
   * "scale_factor=2.0, mode='nearest', align_corners=False", as MLX Python
   * prints it, with ", antialias=True" appended when set.
   */
  std::string extra_repr() const override;

  /**
   * Upsamples x. Throws std::invalid_argument for an input with fewer than
   * 3 dimensions, or when the layer has one scale per dimension and their
   * number differs from x's spatial dimensions.
   */
  mx::array forward(const mx::array& x) override;

  using UnaryModule::forward;

  const std::vector<double>& scale_factor() const {
    return scale_factor_;
  }
  const std::string& mode() const {
    return mode_;
  }
  bool align_corners() const {
    return align_corners_;
  }
  bool antialias() const {
    return antialias_;
  }

 private:
  void validate();

  std::vector<double> scale_factor_;
  // True when one scale was given for all spatial dimensions.
  bool single_scale_;
  std::string mode_;
  bool align_corners_;
  bool antialias_;
};

} // namespace rmlx::nn
