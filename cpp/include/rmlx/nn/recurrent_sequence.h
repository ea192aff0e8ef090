// A whole LSTM or GRU recurrence as a single MLX primitive. Built step by
// step, the recurrence costs a graph node, a thin matrix product and an
// evaluation per step, and MLX's autograd computes the hidden-to-hidden
// weight gradient as one thin product per step. The primitives here run
// every step, input projection included, in one float32 CPU kernel with
// the weights packed once per sequence. Their gradient is a second kernel
// for backpropagation through time, which ends with one matrix product
// over all N * L rows for the gradients of W_x, W_h and the biases.
//
// The recurrent layers (recurrent.h) use these functions for float32 on
// the CPU while set_custom_kernels_enabled() is true; otherwise they
// compose MLX operations step by step.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include <mlx/mlx.h>
#include <mlx/primitives.h>

namespace rmlx::nn {

namespace mx = mlx::core;

/**
 * Runs an LSTM over a whole sequence and returns {hidden state at every
 * step, cell state at every step, final hidden state, final cell state}.
 *
 * `x` has shape (N, L, D) or (L, D). `wx` is W_x (4H, D) and `wh` is W_h
 * (4H, H), with the gates in the order i, f, g, o, and the optional
 * `bias` (4H) is added to every step's gates. `hidden` and `cell` are the
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
    const mx::array& x,
    const mx::array& wx,
    const mx::array& wh,
    const std::optional<mx::array>& bias,
    const std::optional<mx::array>& hidden,
    const std::optional<mx::array>& cell,
    const std::optional<mx::array>& lengths,
    bool reverse,
    mx::StreamOrDevice s = {});

/**
 * Runs a GRU over a whole sequence and returns {hidden state at every
 * step, final hidden state}. `wx` is W_x (3H, D) and `wh` is W_h (3H, H),
 * with the gates in the order r, z, n. The optional `bias` (3H) is added
 * to the input projections, and `bhn` (H) to the hidden projection of n,
 * as in gru_cell(). The other arguments, the result's conditions and the
 * errors are those of lstm_sequence().
 */
std::optional<std::vector<mx::array>> gru_sequence(
    const mx::array& x,
    const mx::array& wx,
    const mx::array& wh,
    const std::optional<mx::array>& bias,
    const std::optional<mx::array>& bhn,
    const std::optional<mx::array>& hidden,
    const std::optional<mx::array>& lengths,
    bool reverse,
    mx::StreamOrDevice s = {});

namespace detail {

/**
 * Computes C = A B, or C += A B when `accumulate`, for row-major A (m x k,
 * or k x m holding A^T when `a_transposed`), B (k x n) and C (m x n) with
 * the matrix product of the sequence kernels, using "avx512", "avx2" or
 * "portable" vector code. Returns false, leaving C unchanged, when the
 * processor lacks those instructions. For tests.
 */
bool packed_product(
    const std::string& instructions,
    size_t m,
    size_t k,
    size_t n,
    const float* a,
    const float* b,
    float* c,
    bool accumulate,
    bool a_transposed = false);

} // namespace detail

/** The optional inputs of a sequence primitive, and its direction. */
struct SequenceLayout {
  /** Whether the bias of the input projection is an input. */
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
 * The base of the sequence primitives: the layout of their inputs, which
 * primitives compare for equivalence, and evaluation on the CPU only
 * (lstm_sequence() and gru_sequence() return no result elsewhere).
 */
class SequencePrimitive : public mx::Primitive {
 public:
  SequencePrimitive(mx::Stream stream, SequenceLayout layout)
      : mx::Primitive(stream), layout_(layout) {}

  void eval_gpu(
      const std::vector<mx::array>& inputs,
      std::vector<mx::array>& outputs) override;
  bool is_equivalent(const mx::Primitive& other) const override;

 protected:
  SequenceLayout layout_;
};

/**
 * A gradient of a sequence primitive, which also computes the gradient of
 * x when `with_input`. It has no derivatives itself.
 */
class SequenceGradPrimitive : public SequencePrimitive {
 public:
  SequenceGradPrimitive(
      mx::Stream stream,
      SequenceLayout layout,
      bool with_input)
      : SequencePrimitive(stream, layout), with_input_(with_input) {}

  bool is_equivalent(const mx::Primitive& other) const override;

 protected:
  bool with_input_;
};

/**
 * The primitive behind lstm_sequence(), on batched inputs (x, wx, wh,
 * [bias], [hidden], [cell], [lengths]). Outputs 0 to 3 are those of
 * lstm_sequence(). The gradient reads the others: 4, the rows
 * [x_t, h_{t-1}, 1] of every step (N, L, D + H + 1), and 5, per step i,
 * f, g, o, the cell state before the step and tanh of the one after it
 * (L, N, 6H).
 */
class LSTMSequence : public SequencePrimitive {
 public:
  using SequencePrimitive::SequencePrimitive;

  void eval_cpu(
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
  std::vector<mx::Shape> output_shapes(
      const std::vector<mx::array>& inputs) override;
};

/**
 * The gradient of LSTMSequence, from inputs (wx, wh, LSTMSequence's
 * outputs 4 and 5, [lengths], and the cotangents of the hidden and cell
 * sequences and of the final hidden and cell states). It returns the
 * transpose of the gradient of [W_x, W_h, b] (D + H + 1, 4H), the
 * gradients of the initial hidden and cell states (N, H) and, when
 * `with_input`, of x.
 */
class LSTMSequenceGrad : public SequenceGradPrimitive {
 public:
  using SequenceGradPrimitive::SequenceGradPrimitive;

  void eval_cpu(
      const std::vector<mx::array>& inputs,
      std::vector<mx::array>& outputs) override;
  const char* name() const override {
    return "LSTMSequenceGrad";
  }
};

/**
 * The primitive behind gru_sequence(), on batched inputs (x, wx, wh,
 * [bias], [bhn], [hidden], [lengths]). Outputs 0 and 1 are those of
 * gru_sequence(). The gradient reads the others: 2, the rows
 * [x_t, h_{t-1}, 1] of every step (N, L, D + H + 1), and 3, per step r,
 * z, n and the hidden projection of n plus bhn (N, L, 4H).
 */
class GRUSequence : public SequencePrimitive {
 public:
  using SequencePrimitive::SequencePrimitive;

  void eval_cpu(
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
  std::vector<mx::Shape> output_shapes(
      const std::vector<mx::array>& inputs) override;
};

/**
 * The gradient of GRUSequence, from inputs (wx, wh, GRUSequence's outputs
 * 2 and 3, [lengths], and the cotangents of the hidden sequence and of the
 * final hidden state). It returns the transposes of the gradients of W_x
 * (D, 3H) and W_h (H, 3H), the gradients of the bias (3H), of bhn (H) and
 * of the initial hidden state (N, H) and, when `with_input`, of x.
 */
class GRUSequenceGrad : public SequenceGradPrimitive {
 public:
  using SequenceGradPrimitive::SequenceGradPrimitive;

  void eval_cpu(
      const std::vector<mx::array>& inputs,
      std::vector<mx::array>& outputs) override;
  const char* name() const override {
    return "GRUSequenceGrad";
  }
};

} // namespace rmlx::nn
