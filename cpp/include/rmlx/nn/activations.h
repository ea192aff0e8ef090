// Activation functions and their layers, as in MLX Python's
// mlx/nn/layers/activations.py, with the same formulas. Call sigmoid and
// softmax qualified (nn::sigmoid) because argument-dependent lookup also finds
// mlx::core's functions of the same name.
#pragma once

#include <functional>
#include <map>
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

/** Returns max(x, 0)^2. */
mx::array relu2(const mx::array& x, mx::StreamOrDevice s = {});

/** Returns min(max(x, 0), 6). */
mx::array relu6(const mx::array& x, mx::StreamOrDevice s = {});

/**
 * Returns x for x > 0 and alpha * (exp(x) - 1) otherwise. Unlike MLX Python
 * 0.32.4, it computes exp(x) - 1 with expm1 on min(x, 0), so results near 0
 * keep their relative precision and the gradient stays finite for x > 88
 * in float32, where exp(x) overflows.
 */
mx::array elu(
    const mx::array& x,
    double alpha = 1.0,
    mx::StreamOrDevice s = {});

/**
 * Returns max(x, 0) + alpha * (exp(min(x, 0) / alpha) - 1), computed with
 * expm1. Throws std::invalid_argument for alpha == 0, which MLX Python
 * divides by.
 */
mx::array celu(
    const mx::array& x,
    double alpha = 1.0,
    mx::StreamOrDevice s = {});

/**
 * Returns lambda * elu(x, alpha) with the constants in full precision,
 * lambda = 1.0507009873554805 and alpha = 1.6732632423543772, as PyTorch
 * uses them. MLX Python 0.32.4 rounds them to 1.0507 and 1.67326, so its
 * results differ by up to 3e-6 relative.
 */
mx::array selu(const mx::array& x, mx::StreamOrDevice s = {});

/** Returns log(sigmoid(x)) = -softplus(-x), finite for every finite x. */
mx::array log_sigmoid(const mx::array& x, mx::StreamOrDevice s = {});

/** Returns softmax(-x) along axis; throws for an axis out of range. */
mx::array softmin(const mx::array& x, int axis = -1, mx::StreamOrDevice s = {});

/**
 * Returns x - logsumexp(x) along axis, after subtracting the maximum so that
 * large inputs keep their precision. Throws for an axis out of range.
 */
mx::array log_softmax(
    const mx::array& x,
    int axis = -1,
    mx::StreamOrDevice s = {});

/** Returns x * tanh(softplus(x)). */
mx::array mish(const mx::array& x, mx::StreamOrDevice s = {});

/**
 * Splits x along axis into halves a and b and returns a * sigmoid(b).
 * Throws for an axis out of range or of odd size.
 */
mx::array glu(const mx::array& x, int axis = -1, mx::StreamOrDevice s = {});

/** Returns log(1 + exp(x)), computed as logaddexp(x, 0). */
mx::array softplus(const mx::array& x, mx::StreamOrDevice s = {});

/** Returns x / (1 + |x|). */
mx::array softsign(const mx::array& x, mx::StreamOrDevice s = {});

/**
 * Returns x - sign(x) * lambd where |x| > lambd and 0 elsewhere. Throws for
 * a negative lambd, as PyTorch does (MLX Python 0.32.4 accepts it). Unlike
 * MLX Python, which returns 0 for NaN, NaN propagates.
 */
mx::array softshrink(
    const mx::array& x,
    double lambd = 0.5,
    mx::StreamOrDevice s = {});

/**
 * Returns x where |x| > lambd and 0 elsewhere. Unlike MLX Python 0.32.4,
 * which returns 0 for NaN, NaN propagates.
 */
mx::array hard_shrink(
    const mx::array& x,
    double lambd = 0.5,
    mx::StreamOrDevice s = {});

/**
 * Returns min(max(x, min_val), max_val). Throws when min_val > max_val,
 * as PyTorch does (MLX Python 0.32.4 accepts it).
 */
mx::array hard_tanh(
    const mx::array& x,
    double min_val = -1.0,
    double max_val = 1.0,
    mx::StreamOrDevice s = {});

/** Returns x * min(max(x + 3, 0), 6) / 6. */
mx::array hardswish(const mx::array& x, mx::StreamOrDevice s = {});

/**
 * Returns max(x, 0) + alpha * min(x, 0), where alpha broadcasts against x
 * (one slope, or one per channel on the last axis).
 */
mx::array prelu(
    const mx::array& x,
    const mx::array& alpha,
    mx::StreamOrDevice s = {});

/**
 * Returns 1 where x >= threshold and 0 elsewhere, as int32 like MLX Python
 * (so NaN gives 0).
 */
mx::array step(
    const mx::array& x,
    double threshold = 0.0,
    mx::StreamOrDevice s = {});

/** An activation applied with its default options. */
using ActivationFunction = std::function<mx::array(const mx::array&)>;

/**
 * Returns the activations that layers such as RNN and the transformer
 * layers accept by name: each one's MLX Python function name (relu, gelu,
 * tanh, ...) mapped to the function with its default options.
 */
const std::map<std::string, ActivationFunction>& named_activations();

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

/** The ReLU2 layer; see relu2(). */
class ReLU2 : public UnaryModule {
 public:
  std::string type_name() const override {
    return "ReLU2";
  }
  mx::array forward(const mx::array& x) override;
  using UnaryModule::forward;
};

/** The ReLU6 layer; see relu6(). */
class ReLU6 : public UnaryModule {
 public:
  std::string type_name() const override {
    return "ReLU6";
  }
  mx::array forward(const mx::array& x) override;
  using UnaryModule::forward;
};

/** The SELU layer; see selu(). */
class SELU : public UnaryModule {
 public:
  std::string type_name() const override {
    return "SELU";
  }
  mx::array forward(const mx::array& x) override;
  using UnaryModule::forward;
};

/** The LogSigmoid layer; see log_sigmoid(). */
class LogSigmoid : public UnaryModule {
 public:
  std::string type_name() const override {
    return "LogSigmoid";
  }
  mx::array forward(const mx::array& x) override;
  using UnaryModule::forward;
};

/**
 * The Softmin layer, softmin() over the last axis. Like MLX Python's, it has
 * no axis option.
 */
class Softmin : public UnaryModule {
 public:
  std::string type_name() const override {
    return "Softmin";
  }
  mx::array forward(const mx::array& x) override;
  using UnaryModule::forward;
};

/**
 * The LogSoftmax layer, log_softmax() over the last axis. Like MLX Python's,
 * it has no axis option.
 */
class LogSoftmax : public UnaryModule {
 public:
  std::string type_name() const override {
    return "LogSoftmax";
  }
  mx::array forward(const mx::array& x) override;
  using UnaryModule::forward;
};

/** The Mish layer; see mish(). */
class Mish : public UnaryModule {
 public:
  std::string type_name() const override {
    return "Mish";
  }
  mx::array forward(const mx::array& x) override;
  using UnaryModule::forward;
};

/** The Softplus layer; see softplus(). */
class Softplus : public UnaryModule {
 public:
  std::string type_name() const override {
    return "Softplus";
  }
  mx::array forward(const mx::array& x) override;
  using UnaryModule::forward;
};

/** The Softsign layer; see softsign(). */
class Softsign : public UnaryModule {
 public:
  std::string type_name() const override {
    return "Softsign";
  }
  mx::array forward(const mx::array& x) override;
  using UnaryModule::forward;
};

/** The Hardswish layer; see hardswish(). */
class Hardswish : public UnaryModule {
 public:
  std::string type_name() const override {
    return "Hardswish";
  }
  mx::array forward(const mx::array& x) override;
  using UnaryModule::forward;
};

/** The ELU layer; see elu(). */
class ELU : public UnaryModule {
 public:
  /** Creates the layer with the scale alpha of the negative part. */
  explicit ELU(double alpha = 1.0);

  std::string type_name() const override {
    return "ELU";
  }
  mx::array forward(const mx::array& x) override;
  using UnaryModule::forward;

  double alpha() const {
    return alpha_;
  }

 private:
  double alpha_;
};

/** The CELU layer; see celu(). */
class CELU : public UnaryModule {
 public:
  /** Creates the layer; throws for alpha == 0. */
  explicit CELU(double alpha = 1.0);

  std::string type_name() const override {
    return "CELU";
  }
  mx::array forward(const mx::array& x) override;
  using UnaryModule::forward;

  double alpha() const {
    return alpha_;
  }

 private:
  double alpha_;
};

/** The GLU layer; see glu(). */
class GLU : public UnaryModule {
 public:
  /** Creates the layer splitting along axis, checked in forward(). */
  explicit GLU(int axis = -1);

  std::string type_name() const override {
    return "GLU";
  }
  mx::array forward(const mx::array& x) override;
  using UnaryModule::forward;

  int axis() const {
    return axis_;
  }

 private:
  int axis_;
};

/** The Softshrink layer; see softshrink(). */
class Softshrink : public UnaryModule {
 public:
  /** Creates the layer; throws for a negative lambd. */
  explicit Softshrink(double lambd = 0.5);

  std::string type_name() const override {
    return "Softshrink";
  }
  mx::array forward(const mx::array& x) override;
  using UnaryModule::forward;

  double lambd() const {
    return lambd_;
  }

 private:
  double lambd_;
};

/** The HardShrink layer; see hard_shrink(). */
class HardShrink : public UnaryModule {
 public:
  /** Creates the layer with the threshold lambd. */
  explicit HardShrink(double lambd = 0.5);

  std::string type_name() const override {
    return "HardShrink";
  }
  mx::array forward(const mx::array& x) override;
  using UnaryModule::forward;

  double lambd() const {
    return lambd_;
  }

 private:
  double lambd_;
};

/** The HardTanh layer; see hard_tanh(). */
class HardTanh : public UnaryModule {
 public:
  /**
   * Creates the layer; throws when min_val > max_val. MLX Python's HardTanh
   * has no options and always uses the defaults, -1 and 1.
   */
  HardTanh(double min_val = -1.0, double max_val = 1.0);

  std::string type_name() const override {
    return "HardTanh";
  }
  mx::array forward(const mx::array& x) override;
  using UnaryModule::forward;

  double min_val() const {
    return min_val_;
  }
  double max_val() const {
    return max_val_;
  }

 private:
  double min_val_;
  double max_val_;
};

/** The Step layer; see step(). */
class Step : public UnaryModule {
 public:
  /** Creates the layer with the threshold at which the output becomes 1. */
  explicit Step(double threshold = 0.0);

  std::string type_name() const override {
    return "Step";
  }
  mx::array forward(const mx::array& x) override;
  using UnaryModule::forward;

  double threshold() const {
    return threshold_;
  }

 private:
  double threshold_;
};

/**
 * The PReLU layer, prelu() with a learnable slope "weight" of shape
 * (num_parameters,), filled with init. With num_parameters > 1 there is one
 * slope per channel, and the input's last axis must have that size.
 */
class PReLU : public UnaryModule {
 public:
  /** Creates the layer; throws unless num_parameters >= 1. */
  explicit PReLU(int num_parameters = 1, double init = 0.25);

  std::string type_name() const override {
    return "PReLU";
  }
  mx::array forward(const mx::array& x) override;
  using UnaryModule::forward;
};

} // namespace rmlx::nn
