// A whole LSTM or GRU recurrence as a single MLX primitive. Built step by
// step, the recurrence costs a graph node, a thin matrix product and an
// evaluation per step, and MLX's autograd computes the hidden-to-hidden
// weight gradient as one thin product per step. The primitives here run
// every step in one float32 CPU kernel, with the products h W_h^T on W_h
// packed once per sequence. Their gradient is a second kernel for
// backpropagation through time, and the weight gradient is then one matrix
// product over all N * L rows.
//
// The recurrent layers (recurrent.h) use these functions for float32 on
// the CPU while set_custom_kernels_enabled() is true; otherwise they
// compose MLX operations step by step.
#pragma once

#include <optional>
#include <vector>

#include <mlx/mlx.h>
#include <mlx/primitives.h>

namespace rmlx::nn {

namespace mx = mlx::core;

/**
 * Runs an LSTM over a whole sequence and returns {hidden state at every
 * step, cell state at every step, final hidden state, final cell state}.
 *
 * `projected` is x W_x^T, shape (N, L, 4H) or (L, 4H), with the gates in
 * the order i, f, g, o, and the optional `bias` (4H) is added to it at
 * every step. `wh` is W_h, shape (4H, H). `hidden` and `cell` are the
 * initial states, (N, H) or (H), and zero when absent. With `lengths`
 * (shape (N,), integers, batched input only), sequence n runs only while
 * the step is below lengths[n]: at later steps its outputs are zero and
 * its state stays unchanged, as in RecurrentLayer::scan(). With `reverse`,
 * the steps run from the last to the first.
 *
 * Returns nullopt, and builds nothing, unless set_custom_kernels_enabled()
 * is true, the stream is the CPU's and every array but lengths is float32.
 * Throws std::invalid_argument for inconsistent shapes.
 */
std::optional<std::vector<mx::array>> lstm_sequence(
    const mx::array& projected,
    const mx::array& wh,
    const std::optional<mx::array>& bias,
    const std::optional<mx::array>& hidden,
    const std::optional<mx::array>& cell,
    const std::optional<mx::array>& lengths,
    bool reverse,
    mx::StreamOrDevice s = {});

/**
 * Runs a GRU over a whole sequence and returns {hidden state at every
 * step, final hidden state}. `projected` is x W_x^T, (N, L, 3H) or
 * (L, 3H), with the gates in the order r, z, n, and `bias` (3H) is added
 * to it. `wh` is W_h, (3H, H). `bhn` is the optional bias (H) added to the
 * hidden projection of n, as in gru_cell(). The other arguments, the
 * result's conditions and the errors are those of lstm_sequence().
 */
std::optional<std::vector<mx::array>> gru_sequence(
    const mx::array& projected,
    const mx::array& wh,
    const std::optional<mx::array>& bias,
    const std::optional<mx::array>& bhn,
    const std::optional<mx::array>& hidden,
    const std::optional<mx::array>& lengths,
    bool reverse,
    mx::StreamOrDevice s = {});

/** The optional inputs of a sequence primitive, and its direction. */
struct SequenceLayout {
  /** Whether the bias added to the projected input is an input. */
  bool has_bias = false;
  /** GRU only: whether bhn is an input. */
  bool has_hidden_bias = false;
  bool has_hidden = false;
  /** LSTM only: whether the initial cell state is an input. */
  bool has_cell = false;
  bool has_lengths = false;
  bool reverse = false;

  bool operator==(const SequenceLayout&) const = default;
};

/**
 * The primitive behind lstm_sequence(), on batched inputs (projected, wh,
 * [bias], [hidden], [cell], [lengths]). Outputs 0 to 3 are those of
 * lstm_sequence(). The gradient reads the others: 4 and 5, the hidden and
 * the cell state before each step (N, L, H), and 6, the activated gates
 * i, f, g, o (N, L, 4H).
 */
class LSTMSequence : public mx::Primitive {
 public:
  LSTMSequence(mx::Stream stream, SequenceLayout layout)
      : mx::Primitive(stream), layout_(layout) {}

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
    return "LSTMSequence";
  }
  bool is_equivalent(const mx::Primitive& other) const override;
  std::vector<mx::Shape> output_shapes(
      const std::vector<mx::array>& inputs) override;

 private:
  SequenceLayout layout_;
};

/**
 * The gradient of LSTMSequence, from inputs (wh, gates, cell before each
 * step, cell at each step, [lengths], and the cotangents of the hidden
 * and cell sequences and of the final hidden and cell states). It returns
 * the gradients of projected (N, L, 4H), of the initial hidden state and
 * of the initial cell state (N, H). It has no derivatives itself.
 */
class LSTMSequenceGrad : public mx::Primitive {
 public:
  LSTMSequenceGrad(mx::Stream stream, SequenceLayout layout)
      : mx::Primitive(stream), layout_(layout) {}

  void eval_cpu(
      const std::vector<mx::array>& inputs,
      std::vector<mx::array>& outputs) override;
  void eval_gpu(
      const std::vector<mx::array>& inputs,
      std::vector<mx::array>& outputs) override;
  const char* name() const override {
    return "LSTMSequenceGrad";
  }
  bool is_equivalent(const mx::Primitive& other) const override;

 private:
  SequenceLayout layout_;
};

/**
 * The primitive behind gru_sequence(), on batched inputs (projected, wh,
 * [bias], [bhn], [hidden], [lengths]). Outputs 0 and 1 are those of
 * gru_sequence(). The gradient reads the others: 2, the hidden state
 * before each step (N, L, H), and 3, per step r, z, n and the hidden
 * projection of n plus bhn (N, L, 4H).
 */
class GRUSequence : public mx::Primitive {
 public:
  GRUSequence(mx::Stream stream, SequenceLayout layout)
      : mx::Primitive(stream), layout_(layout) {}

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
    return "GRUSequence";
  }
  bool is_equivalent(const mx::Primitive& other) const override;
  std::vector<mx::Shape> output_shapes(
      const std::vector<mx::array>& inputs) override;

 private:
  SequenceLayout layout_;
};

/**
 * The gradient of GRUSequence, from inputs (wh, GRUSequence's outputs 3
 * and 2, [lengths], and the cotangents of the hidden sequence and of the
 * final hidden state). It returns the gradients of projected and of the
 * hidden projection h W_h^T (N, L, 3H), and of the initial hidden state
 * (N, H). It has no derivatives itself.
 */
class GRUSequenceGrad : public mx::Primitive {
 public:
  GRUSequenceGrad(mx::Stream stream, SequenceLayout layout)
      : mx::Primitive(stream), layout_(layout) {}

  void eval_cpu(
      const std::vector<mx::array>& inputs,
      std::vector<mx::array>& outputs) override;
  void eval_gpu(
      const std::vector<mx::array>& inputs,
      std::vector<mx::array>& outputs) override;
  const char* name() const override {
    return "GRUSequenceGrad";
  }
  bool is_equivalent(const mx::Primitive& other) const override;

 private:
  SequenceLayout layout_;
};

} // namespace rmlx::nn
