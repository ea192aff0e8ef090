// Linear layers, as in MLX Python's mlx/nn/layers/linear.py.
#pragma once

#include <string>
#include <vector>

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

/**
 * A bilinear map y_i = x2^T W_i x1 + b_i with weight W of shape
 * (output_dims, input2_dims, input1_dims) and bias b of shape
 * (output_dims,), as MLX Python stores them. Both are drawn from U(-k, k)
 * with k = 1 / sqrt(input1_dims), weight first, so after
 * mx::random::seed(s) they equal MLX Python's. PyTorch's nn.Bilinear stores
 * the transpose, a weight of shape (output_dims, input1_dims, input2_dims).
 */
class Bilinear : public Module {
 public:
  /** Creates the layer; with bias false it has no "bias" parameter. */
  Bilinear(int input1_dims, int input2_dims, int output_dims, bool bias = true);

  std::string type_name() const override {
    return "Bilinear";
  }

  /** "input1_dims=2, input2_dims=3, output_dims=4, bias=True". */
  std::string extra_repr() const override;

  std::vector<std::string> input_names() const override {
    return {"x1", "x2"};
  }

  /**
   * Applies the map to x1 of shape (..., input1_dims) and x2 of shape
   * (..., input2_dims) with the same leading axes, returning one array of
   * shape (..., output_dims).
   */
  std::vector<mx::array> forward(const Inputs& inputs) override;

  /** Applies the map to one pair of inputs. */
  mx::array forward(const mx::array& x1, const mx::array& x2);
};

} // namespace rmlx::nn
