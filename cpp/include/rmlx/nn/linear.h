// Linear layers, as in MLX Python's mlx/nn/layers/linear.py.
#pragma once

#include <string>

#include "rmlx/nn/module.h"

namespace rmlx::nn {

/** A layer that returns its input unchanged. */
class Identity : public UnaryModule {
 public:
  Identity() = default;

  std::string type_name() const override {
    return "Identity";
  }

  /** Returns x. */
  mx::array forward(const mx::array& x) override;

  using UnaryModule::forward;
};

/**
 * An affine map y = x W^T + b with weight W of shape (output_dims,
 * input_dims) and bias b of shape (output_dims,). Both are drawn from
 * U(-k, k) with k = 1 / sqrt(input_dims), weight first, from MLX's default
 * key stream, so after mx::random::seed(s) they equal MLX Python's.
 */
class Linear : public UnaryModule {
 public:
  /** Creates the layer; with bias false it has no "bias" parameter. */
  Linear(int input_dims, int output_dims, bool bias = true);

  std::string type_name() const override {
    return "Linear";
  }

  /** "input_dims=4, output_dims=3, bias=True", as MLX Python prints it. */
  std::string extra_repr() const override;

  /** Applies the map to x of shape (..., input_dims). */
  mx::array forward(const mx::array& x) override;

  using UnaryModule::forward;
};

} // namespace rmlx::nn
