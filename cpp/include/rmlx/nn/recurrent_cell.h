// One step of an LSTM or a GRU as a single MLX primitive. MLX Python's
// cells compose a dozen elementwise operations per step, and sigmoid and
// tanh were 14-50x slower on MLX 0.32.4's CPU backend than PyTorch's, so
// float32 steps on the CPU run one kernel forward and one backward, with
// vectorized sigmoid and tanh. Other dtypes and devices, and every step
// when set_custom_kernels_enabled(false), compose MLX operations in MLX
// Python's order.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include <mlx/mlx.h>
#include <mlx/primitives.h>

namespace rmlx::nn {

namespace mx = mlx::core;

/**
 * Returns {h', c'} of an LSTM step from the gate pre-activations `gates`,
 * shape (..., 4H) in the order i, f, g, o, and the previous cell state
 * (..., H), or none for a zero state:
 *   c' = sigmoid(f) * c + sigmoid(i) * tanh(g),  h' = sigmoid(o) * tanh(c').
 */
std::vector<mx::array> lstm_cell(
    const mx::array& gates,
    const std::optional<mx::array>& cell,
    mx::StreamOrDevice s = {});

/**
 * Returns h' of a GRU step from the input projection x W_x^T + b, shape
 * (..., 3H) in the order r, z, n, the hidden projection h W_h^T (..., 3H),
 * the optional bias bhn (H) and the previous hidden state h (..., H):
 *   r, z = sigmoid(input_rz + hidden_rz),
 *   n = tanh(input_n + r * (hidden_n + bhn)),  h' = (1 - z) * n + z * h.
 */
mx::array gru_cell(
    const mx::array& input_projection,
    const mx::array& hidden_projection,
    const std::optional<mx::array>& bhn,
    const mx::array& hidden,
    mx::StreamOrDevice s = {});

namespace detail {

/**
 * Writes sigmoid(x[i]) to y[i] for i < n with the cells' vectorized
 * kernel. Within 3 ulp of the correctly rounded value for results
 * of at least 2^-126; smaller results are within 2^-149 of it, and
 * results below about 3e-39 (x < -88.72) are 0.
 */
void sigmoid_kernel(const float* x, float* y, size_t n);

/** Writes tanh(x[i]) to y[i] for i < n; within 3 ulp of the correctly rounded value. */
void tanh_kernel(const float* x, float* y, size_t n);

} // namespace detail

/** The primitive behind lstm_cell(): inputs gates and optionally cell. */
class LSTMCell : public mx::Primitive {
 public:
  explicit LSTMCell(mx::Stream stream) : mx::Primitive(stream) {}

  void eval_cpu(
      const std::vector<mx::array>& inputs,
      std::vector<mx::array>& outputs) override;
  void eval_gpu(
      const std::vector<mx::array>& inputs,
      std::vector<mx::array>& outputs) override;
  std::vector<mx::array> vjp(
      const std::vector<mx::array>& primals,
      const std::vector<mx::array>& cotangents,
      const std::vector<int>& argnums,
      const std::vector<mx::array>& outputs) override;
  const char* name() const override {
    return "LSTMCell";
  }
  bool is_equivalent(const mx::Primitive& other) const override {
    return true;
  }
  std::vector<mx::Shape> output_shapes(
      const std::vector<mx::array>& inputs) override;
};

/**
 * The gradient of LSTMCell, from inputs (gates, [cell], c', dh', dc'); it
 * returns the gradients of gates and, when given, of cell. It has no
 * derivatives itself.
 */
class LSTMCellGrad : public mx::Primitive {
 public:
  explicit LSTMCellGrad(mx::Stream stream) : mx::Primitive(stream) {}

  void eval_cpu(
      const std::vector<mx::array>& inputs,
      std::vector<mx::array>& outputs) override;
  void eval_gpu(
      const std::vector<mx::array>& inputs,
      std::vector<mx::array>& outputs) override;
  const char* name() const override {
    return "LSTMCellGrad";
  }
  bool is_equivalent(const mx::Primitive& other) const override {
    return true;
  }
};

/** The primitive behind gru_cell(): inputs (input_projection,
 * hidden_projection, bhn, hidden), with bhn zeros when the layer has none. */
class GRUCell : public mx::UnaryPrimitive {
 public:
  explicit GRUCell(mx::Stream stream) : mx::UnaryPrimitive(stream) {}

  void eval_cpu(const std::vector<mx::array>& inputs, mx::array& output)
      override;
  void eval_gpu(const std::vector<mx::array>& inputs, mx::array& output)
      override;
  std::vector<mx::array> vjp(
      const std::vector<mx::array>& primals,
      const std::vector<mx::array>& cotangents,
      const std::vector<int>& argnums,
      const std::vector<mx::array>& outputs) override;
  const char* name() const override {
    return "GRUCell";
  }
  bool is_equivalent(const mx::Primitive& other) const override {
    return true;
  }
};

/**
 * The gradient of GRUCell, from GRUCell's inputs followed by dh'; it
 * returns the gradients of input_projection, hidden_projection and hidden.
 * It has no derivatives itself.
 */
class GRUCellGrad : public mx::Primitive {
 public:
  explicit GRUCellGrad(mx::Stream stream) : mx::Primitive(stream) {}

  void eval_cpu(
      const std::vector<mx::array>& inputs,
      std::vector<mx::array>& outputs) override;
  void eval_gpu(
      const std::vector<mx::array>& inputs,
      std::vector<mx::array>& outputs) override;
  const char* name() const override {
    return "GRUCellGrad";
  }
  bool is_equivalent(const mx::Primitive& other) const override {
    return true;
  }
};

} // namespace rmlx::nn
