// The float32 CPU kernels of the whole-sequence LSTM and GRU primitives
// (rmlx/nn/recurrent_sequence.h). Sequence arrays are row-major (N, L,
// width) and states (N, H). Sequences of the batch do not interact, so each
// kernel splits the batch between threads (see parallel_for() in
// window_geometry.h) when every thread gets enough work.
#pragma once

#include <cstddef>
#include <cstdint>

namespace rmlx::nn::detail {

/** The sizes of a batched sequence and the order of its steps. */
struct SequenceDims {
  size_t batch = 0;
  size_t steps = 0;
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

/**
 * The arrays of an LSTM forward pass. Inputs: projected (N, L, 4H), bias
 * (4H, zeros when the layer has none), wh (4H, H) and the optional
 * hidden0, cell0 and int32 lengths, null when absent. Then the outputs of
 * LSTMSequence in its order.
 */
struct LSTMForwardData {
  const float* projected;
  const float* bias;
  const float* wh;
  const float* hidden0;
  const float* cell0;
  const int32_t* lengths;
  float* hidden_out;
  float* cell_out;
  float* final_hidden;
  float* final_cell;
  float* hidden_before;
  float* cell_before;
  float* gates;
};

/**
 * The arrays of an LSTM backward pass: what it reads of the forward pass,
 * the cotangents of the four outputs, and the gradients it writes.
 */
struct LSTMBackwardData {
  const float* wh;
  const float* gates;
  const float* cell_before;
  const float* cell_out;
  const int32_t* lengths;
  Rows d_hidden_out;
  Rows d_cell_out;
  Rows d_final_hidden;
  Rows d_final_cell;
  float* d_projected;
  float* d_hidden0;
  float* d_cell0;
};

/**
 * The arrays of a GRU forward pass. Inputs: projected (N, L, 3H), bias
 * (3H), wh (3H, H), bhn (H), the biases zeros when the layer has none, and
 * the optional hidden0 and lengths, null when absent. Then the outputs of
 * GRUSequence in its order.
 */
struct GRUForwardData {
  const float* projected;
  const float* bias;
  const float* wh;
  const float* bhn;
  const float* hidden0;
  const int32_t* lengths;
  float* hidden_out;
  float* final_hidden;
  float* hidden_before;
  float* saved;
};

/** The arrays of a GRU backward pass, as LSTMBackwardData's. */
struct GRUBackwardData {
  const float* wh;
  const float* saved;
  const float* hidden_before;
  const int32_t* lengths;
  Rows d_hidden_out;
  Rows d_final_hidden;
  float* d_projected;
  float* d_product;
  float* d_hidden0;
};

void lstm_sequence_forward(const LSTMForwardData& data, const SequenceDims& dims);
void lstm_sequence_backward(const LSTMBackwardData& data, const SequenceDims& dims);
void gru_sequence_forward(const GRUForwardData& data, const SequenceDims& dims);
void gru_sequence_backward(const GRUBackwardData& data, const SequenceDims& dims);

} // namespace rmlx::nn::detail
