// Activation functions and their layers, as in MLX Python's
// mlx/nn/layers/activations.py, with the same formulas. Call sigmoid and
// softmax qualified (nn::sigmoid) because argument-dependent lookup also finds
// mlx::core's functions of the same name.
#pragma once

#include <string>

#include "rmlx/nn/module.h"

namespace rmlx::nn {

/** Returns max(x, 0). */
mx::array relu(const mx::array& x, mx::StreamOrDevice s = {});

/** Returns max(negative_slope * x, x). */
mx::array leaky_relu(
    const mx::array& x,
    double negative_slope = 0.01,
    mx::StreamOrDevice s = {});

/** Returns 1 / (1 + exp(-x)). */
mx::array sigmoid(const mx::array& x, mx::StreamOrDevice s = {});

/** Returns x * sigmoid(x), also known as Swish. */
mx::array silu(const mx::array& x, mx::StreamOrDevice s = {});

/** Returns the exact GELU, x * (1 + erf(x / sqrt(2))) / 2. */
mx::array gelu(const mx::array& x, mx::StreamOrDevice s = {});

/**
 * Returns the tanh approximation of GELU, 0.5 * x * (1 + tanh(sqrt(2 / pi)
 * * (x + 0.044715 * x^3))), within 0.0005 of gelu on [-6, 6] per MLX's docs.
 */
mx::array gelu_approx(const mx::array& x, mx::StreamOrDevice s = {});

/**
 * Returns the sigmoid approximation of GELU, x * sigmoid(1.702 * x), within
 * 0.015 of gelu on [-6, 6] per MLX's docs.
 */
mx::array gelu_fast_approx(const mx::array& x, mx::StreamOrDevice s = {});

/** Returns the softmax of x along axis. */
mx::array softmax(const mx::array& x, int axis = -1, mx::StreamOrDevice s = {});

/** The ReLU layer; see relu(). */
class ReLU : public UnaryModule {
 public:
  std::string type_name() const override {
    return "ReLU";
  }
  mx::array forward(const mx::array& x) override;
  using UnaryModule::forward;
};

/** The LeakyReLU layer; see leaky_relu(). */
class LeakyReLU : public UnaryModule {
 public:
  /** Creates the layer with the slope used for negative inputs. */
  explicit LeakyReLU(double negative_slope = 0.01)
      : negative_slope_(negative_slope) {}

  std::string type_name() const override {
    return "LeakyReLU";
  }
  mx::array forward(const mx::array& x) override;
  using UnaryModule::forward;

  double negative_slope() const {
    return negative_slope_;
  }

 private:
  double negative_slope_;
};

/** The Sigmoid layer; see sigmoid(). */
class Sigmoid : public UnaryModule {
 public:
  std::string type_name() const override {
    return "Sigmoid";
  }
  mx::array forward(const mx::array& x) override;
  using UnaryModule::forward;
};

/** The hyperbolic tangent layer, mx::tanh(x). */
class Tanh : public UnaryModule {
 public:
  std::string type_name() const override {
    return "Tanh";
  }
  mx::array forward(const mx::array& x) override;
  using UnaryModule::forward;
};

/** The SiLU layer; see silu(). */
class SiLU : public UnaryModule {
 public:
  std::string type_name() const override {
    return "SiLU";
  }
  mx::array forward(const mx::array& x) override;
  using UnaryModule::forward;
};

/**
 * The GELU layer. approx "none" applies gelu(), "precise" or its PyTorch
 * alias "tanh" applies gelu_approx(), and "fast" applies gelu_fast_approx().
 */
class GELU : public UnaryModule {
 public:
  /** Creates the layer; throws for an approx outside the four names. */
  explicit GELU(std::string approx = "none");

  std::string type_name() const override {
    return "GELU";
  }
  mx::array forward(const mx::array& x) override;
  using UnaryModule::forward;

  const std::string& approx() const {
    return approx_;
  }

 private:
  std::string approx_;
};

/** The Softmax layer over the last axis; like MLX Python, it has no axis. */
class Softmax : public UnaryModule {
 public:
  std::string type_name() const override {
    return "Softmax";
  }
  mx::array forward(const mx::array& x) override;
  using UnaryModule::forward;
};

} // namespace rmlx::nn
