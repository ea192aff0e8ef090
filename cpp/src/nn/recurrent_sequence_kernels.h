// The float32 CPU kernels of the whole-sequence LSTM and GRU primitives
// (rmlx/nn/recurrent_sequence.h). Sequence arrays are row-major (N, L,
// width), states (N, H) and weights row-major as in the layers.
//
// Every matrix product runs on packed_gemm() (recurrent_gemm.h): at each
// step the products of the input and of the previous hidden state with
// the weights, and the weight gradients, one product per block of about
// 512 rows during backpropagation through time. Sequences of the batch do
// not interact, so the kernels split the batch between threads (see
// parallel_for() in window_geometry.h) when every thread gets enough work.
// They call no BLAS, whose worker threads spin between calls on the cores
// that these threads need.
//
// The forward pass saves, per step, the row [x_t, h_{t-1}, 1]. Its
// product with [W_x, W_h, b]^T gives the gates with their bias, and the
// product of the gates' gradients with these rows gives the gradients of
// W_x and W_h in one matrix (for the LSTM, of b too).
#pragma once

#include <cstddef>
#include <cstdint>

namespace rmlx::nn::detail {

/** The sizes of a batched sequence and the order of its steps. */
struct SequenceDims {
  size_t batch = 0;
  size_t steps = 0;
  size_t input = 0;
  size_t hidden = 0;
  bool reverse = false;

  /** Returns the position of the k-th step run. */
  size_t position(size_t k) const {
    return reverse ? steps - 1 - k : k;
  }
};

/**
 * Rows of H floats: row r starts at data + r * stride. A stride of 0
 * repeats one row, as for a cotangent that contains a single value.
 */
struct Rows {
  const float* data;
  size_t stride;

  const float* operator[](size_t r) const {
    return data + r * stride;
  }
};

/** Returns D + H + 1, the width of the saved input rows [x_t, h_{t-1}, 1]. */
inline size_t input_width(const SequenceDims& dims) {
  return dims.input + dims.hidden + 1;
}

/**
 * The arrays of an LSTM forward pass. Inputs: x (N, L, D), wx (4H, D),
 * wh (4H, H), and the optional bias (4H), hidden0, cell0 and int32
 * lengths, null when absent. Then the outputs of LSTMSequence in its
 * order: the hidden and cell states at every step and after the last,
 * the input rows [x_t, h_{t-1}, 1] (N, L, D + H + 1), and per step i, f,
 * g, o, the cell state before the step and tanh of the one after it
 * (L, N, 6H): step-major, so the backward pass reads each step's rows
 * from one block of memory.
 */
struct LSTMForwardData {
  const float* x;
  const float* wx;
  const float* wh;
  const float* bias;
  const float* hidden0;
  const float* cell0;
  const int32_t* lengths;
  float* hidden_out;
  float* cell_out;
  float* final_hidden;
  float* final_cell;
  float* inputs;
  float* saved;
};

/**
 * The arrays of an LSTM backward pass: what it reads of the forward pass,
 * the cotangents of the four outputs, and the gradients it writes.
 * d_weights is the transpose of the gradient of [W_x, W_h, b],
 * (D + H + 1, 4H): its last row is the bias gradient.
 * d_x may be null when the gradient of x is not needed.
 */
struct LSTMBackwardData {
  const float* wx;
  const float* wh;
  const float* inputs;
  const float* saved;
  const int32_t* lengths;
  Rows d_hidden_out;
  Rows d_cell_out;
  Rows d_final_hidden;
  Rows d_final_cell;
  float* d_weights;
  float* d_hidden0;
  float* d_cell0;
  float* d_x;
};

/**
 * The arrays of a GRU forward pass. Inputs: x (N, L, D), wx (3H, D), wh
 * (3H, H), and the optional bias (3H), bhn (H), hidden0 and lengths. Then
 * the outputs of GRUSequence in its order: the hidden state at every step
 * and after the last, the input rows [x_t, h_{t-1}, 1] (N, L, D + H + 1),
 * and per step r, z, n and the hidden projection of n
 * plus bhn (N, L, 4H).
 */
struct GRUForwardData {
  const float* x;
  const float* wx;
  const float* wh;
  const float* bias;
  const float* bhn;
  const float* hidden0;
  const int32_t* lengths;
  float* hidden_out;
  float* final_hidden;
  float* inputs;
  float* saved;
};

/**
 * The arrays of a GRU backward pass, as LSTMBackwardData's. The gradients
 * of W_x and W_h come transposed, (D, 3H) and (H, 3H).
 */
struct GRUBackwardData {
  const float* wx;
  const float* wh;
  const float* inputs;
  const float* saved;
  const int32_t* lengths;
  Rows d_hidden_out;
  Rows d_final_hidden;
  float* d_input_weights;
  float* d_hidden_weights;
  float* d_bias;
  float* d_hidden_bias;
  float* d_hidden0;
  float* d_x;
};

void lstm_sequence_forward(const LSTMForwardData& data, const SequenceDims& dims);
void lstm_sequence_backward(const LSTMBackwardData& data, const SequenceDims& dims);
void gru_sequence_forward(const GRUForwardData& data, const SequenceDims& dims);
void gru_sequence_backward(const GRUBackwardData& data, const SequenceDims& dims);

} // namespace rmlx::nn::detail
