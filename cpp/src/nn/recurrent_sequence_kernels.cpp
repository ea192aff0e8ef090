#include "recurrent_sequence_kernels.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "recurrent_gemm.h"
#include "window_geometry.h"
#include "recurrent_kernels.h"

// The row kernels below are compiled for x86-64-v4 (AVX-512), x86-64-v3
// (AVX2 with fused multiply-add) and the baseline, and picked at load time.
// The first two contract multiply-adds, so their results may differ from
// the baseline's in the last bits.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define RMLX_SEQUENCE_KERNEL                                         \
  __attribute__((target_clones(                                     \
      "arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define RMLX_SEQUENCE_KERNEL
#endif

namespace rmlx::nn::detail {

namespace {

// The minimum number of multiply-adds of the products h W_h^T that gets a
// thread of its own. It is about a third of a millisecond at 100 GFLOP/s,
// against the tens of microseconds that starting and joining a thread take.
constexpr double kMinMultiplyAddsPerThread = 1.6e7;

// Whether sequence n takes part in the step at position t.
inline bool is_valid(const int32_t* lengths, size_t n, size_t t) {
  return lengths == nullptr || static_cast<int64_t>(t) < lengths[n];
}

// Calls body(first, last) on ranges of the batch, on several threads when
// each gets at least kMinMultiplyAddsPerThread of the recurrence's
// products: steps x width x hidden per sequence.
void for_batch_ranges(
    const SequenceDims& dims,
    size_t width,
    const std::function<void(size_t, size_t)>& body) {
  double per_sequence = static_cast<double>(dims.steps) * width * dims.hidden;
  auto grain = static_cast<size_t>(kMinMultiplyAddsPerThread / per_sequence);
  parallel_for(dims.batch, std::max<size_t>(1, grain), body);
}

// The gates and new states of one LSTM row of H units from its projected
// input x plus bias and its product p = h W_h^T, in lstm_cell()'s order.
RMLX_SEQUENCE_KERNEL void lstm_row(
    const float* __restrict x,
    const float* __restrict bias,
    const float* __restrict p,
    float* __restrict hidden,
    float* __restrict cell,
    float* __restrict gates,
    float* __restrict hidden_out,
    float* __restrict cell_out,
    size_t h) {
  for (size_t j = 0; j < h; ++j) {
    float i = sigmoid_approx((x[j] + bias[j]) + p[j]);
    float f = sigmoid_approx((x[h + j] + bias[h + j]) + p[h + j]);
    float g = tanh_approx((x[2 * h + j] + bias[2 * h + j]) + p[2 * h + j]);
    float o = sigmoid_approx((x[3 * h + j] + bias[3 * h + j]) + p[3 * h + j]);
    float next = f * cell[j] + i * g;
    float out = o * tanh_approx(next);
    gates[j] = i;
    gates[h + j] = f;
    gates[2 * h + j] = g;
    gates[3 * h + j] = o;
    cell[j] = next;
    hidden[j] = out;
    cell_out[j] = next;
    hidden_out[j] = out;
  }
}

// The gradient of lstm_row. On entry dh and dc contain the gradients of the
// states after the step, without the outputs' parts dh_out and dc_out. On
// exit dc contains the gradient of the cell state before the step, and dh
// is zero.
RMLX_SEQUENCE_KERNEL void lstm_grad_row(
    const float* __restrict gates,
    const float* __restrict cell_before,
    const float* __restrict cell_out,
    const float* __restrict dh_out,
    const float* __restrict dc_out,
    float* __restrict dh,
    float* __restrict dc,
    float* __restrict d_gates,
    size_t h) {
  for (size_t j = 0; j < h; ++j) {
    float i = gates[j];
    float f = gates[h + j];
    float g = gates[2 * h + j];
    float o = gates[3 * h + j];
    float t = tanh_approx(cell_out[j]);
    float d_h = dh[j] + dh_out[j];
    float d_c = dc[j] + dc_out[j] + (d_h * o) * (1.0f - t * t);
    d_gates[j] = (d_c * g) * (i * (1.0f - i));
    d_gates[h + j] = (d_c * cell_before[j]) * (f * (1.0f - f));
    d_gates[2 * h + j] = (d_c * i) * (1.0f - g * g);
    d_gates[3 * h + j] = (d_h * t) * (o * (1.0f - o));
    dc[j] = d_c * f;
    dh[j] = 0.0f;
  }
}

// The new hidden state of one GRU row of H units from its projected input
// x plus bias and its product p = h W_h^T, in gru_cell()'s order. It saves
// r, z, n and the hidden projection of n plus bhn for the gradient.
RMLX_SEQUENCE_KERNEL void gru_row(
    const float* __restrict x,
    const float* __restrict bias,
    const float* __restrict p,
    const float* __restrict bhn,
    float* __restrict hidden,
    float* __restrict saved,
    float* __restrict hidden_out,
    size_t h) {
  for (size_t j = 0; j < h; ++j) {
    float r = sigmoid_approx((x[j] + bias[j]) + p[j]);
    float z = sigmoid_approx((x[h + j] + bias[h + j]) + p[h + j]);
    float hidden_n = p[2 * h + j] + bhn[j];
    float candidate =
        tanh_approx((x[2 * h + j] + bias[2 * h + j]) + r * hidden_n);
    float next = (1.0f - z) * candidate + z * hidden[j];
    saved[j] = r;
    saved[h + j] = z;
    saved[2 * h + j] = candidate;
    saved[3 * h + j] = hidden_n;
    hidden[j] = next;
    hidden_out[j] = next;
  }
}

// The gradient of gru_row with respect to x, p and the hidden state before
// the step. On entry dh contains the gradient of the new state without the
// output's part d_out. On exit it contains the part of the previous
// state's gradient that does not pass through p.
RMLX_SEQUENCE_KERNEL void gru_grad_row(
    const float* __restrict saved,
    const float* __restrict hidden_before,
    const float* __restrict d_out,
    float* __restrict dh,
    float* __restrict dx,
    float* __restrict dp,
    size_t h) {
  for (size_t j = 0; j < h; ++j) {
    float r = saved[j];
    float z = saved[h + j];
    float candidate = saved[2 * h + j];
    float hidden_n = saved[3 * h + j];
    float d = dh[j] + d_out[j];
    float dn = (d * (1.0f - z)) * (1.0f - candidate * candidate);
    float dz = (d * hidden_before[j] - d * candidate) * (z * (1.0f - z));
    float dr = (dn * hidden_n) * (r * (1.0f - r));
    dx[j] = dr;
    dp[j] = dr;
    dx[h + j] = dz;
    dp[h + j] = dz;
    dx[2 * h + j] = dn;
    dp[2 * h + j] = dn * r;
    dh[j] = d * z;
  }
}

// Runs the LSTM over sequences [first, last). The states and the product
// h W_h^T of those sequences live in buffers of their own, row n - first
// for sequence n. At each step it saves the states, then updates them in
// place. A sequence past its length keeps its state, and its outputs and
// saved gates are zero.
void lstm_forward_rows(
    const LSTMForwardData& data,
    const SequenceDims& dims,
    const PackedMatrix& wh_transposed,
    size_t first,
    size_t last) {
  size_t h = dims.hidden;
  size_t rows = last - first;
  std::vector<float> hidden(rows * h, 0.0f);
  std::vector<float> cell(rows * h, 0.0f);
  std::vector<float> product(rows * 4 * h, 0.0f);
  if (data.hidden0) {
    std::copy_n(data.hidden0 + first * h, rows * h, hidden.begin());
  }
  if (data.cell0) {
    std::copy_n(data.cell0 + first * h, rows * h, cell.begin());
  }
  for (size_t k = 0; k < dims.steps; ++k) {
    // Without an initial hidden state the first product is zero.
    if (k > 0 || data.hidden0) {
      packed_gemm(rows, hidden.data(), h, wh_transposed, product.data(),
                  4 * h, false);
    }
    size_t t = dims.position(k);
    for (size_t n = first; n < last; ++n) {
      size_t row = n * dims.steps + t;
      float* h_state = hidden.data() + (n - first) * h;
      float* c_state = cell.data() + (n - first) * h;
      float* h_out = data.hidden_out + row * h;
      float* c_out = data.cell_out + row * h;
      float* gates = data.gates + row * 4 * h;
      std::memcpy(data.hidden_before + row * h, h_state, h * sizeof(float));
      std::memcpy(data.cell_before + row * h, c_state, h * sizeof(float));
      if (!is_valid(data.lengths, n, t)) {
        std::fill_n(h_out, h, 0.0f);
        std::fill_n(c_out, h, 0.0f);
        std::fill_n(gates, 4 * h, 0.0f);
        continue;
      }
      lstm_row(data.projected + row * 4 * h, data.bias,
               product.data() + (n - first) * 4 * h, h_state, c_state, gates,
               h_out, c_out, h);
    }
  }
  std::copy(hidden.begin(), hidden.end(), data.final_hidden + first * h);
  std::copy(cell.begin(), cell.end(), data.final_cell + first * h);
}

// Runs the gradient of lstm_forward_rows over sequences [first, last),
// from the last step run to the first. Between steps d_cell0 contains the
// gradient of the cell state after the current step. d_hidden0 contains
// that of the hidden state without the part through h W_h^T, which the
// product with W_h adds, so zero rows of d_projected leave it unchanged.
void lstm_backward_rows(
    const LSTMBackwardData& data,
    const SequenceDims& dims,
    const PackedMatrix& wh,
    size_t first,
    size_t last) {
  size_t h = dims.hidden;
  size_t rows = last - first;
  float* d_hidden = data.d_hidden0 + first * h;
  for (size_t n = first; n < last; ++n) {
    std::copy_n(data.d_final_hidden[n], h, data.d_hidden0 + n * h);
    std::copy_n(data.d_final_cell[n], h, data.d_cell0 + n * h);
  }
  for (size_t k = dims.steps; k-- > 0;) {
    size_t t = dims.position(k);
    for (size_t n = first; n < last; ++n) {
      size_t row = n * dims.steps + t;
      float* d_gates = data.d_projected + row * 4 * h;
      if (!is_valid(data.lengths, n, t)) {
        std::fill_n(d_gates, 4 * h, 0.0f);
        continue;
      }
      lstm_grad_row(
          data.gates + row * 4 * h, data.cell_before + row * h,
          data.cell_out + row * h, data.d_hidden_out[row],
          data.d_cell_out[row], data.d_hidden0 + n * h,
          data.d_cell0 + n * h, d_gates, h);
    }
    const float* d_gates = data.d_projected + (first * dims.steps + t) * 4 * h;
    packed_gemm(rows, d_gates, dims.steps * 4 * h, wh, d_hidden, h, true);
  }
}

// The GRU counterpart of lstm_forward_rows.
void gru_forward_rows(
    const GRUForwardData& data,
    const SequenceDims& dims,
    const PackedMatrix& wh_transposed,
    size_t first,
    size_t last) {
  size_t h = dims.hidden;
  size_t rows = last - first;
  std::vector<float> hidden(rows * h, 0.0f);
  std::vector<float> product(rows * 3 * h, 0.0f);
  if (data.hidden0) {
    std::copy_n(data.hidden0 + first * h, rows * h, hidden.begin());
  }
  for (size_t k = 0; k < dims.steps; ++k) {
    if (k > 0 || data.hidden0) {
      packed_gemm(rows, hidden.data(), h, wh_transposed, product.data(),
                  3 * h, false);
    }
    size_t t = dims.position(k);
    for (size_t n = first; n < last; ++n) {
      size_t row = n * dims.steps + t;
      float* state = hidden.data() + (n - first) * h;
      float* out = data.hidden_out + row * h;
      float* saved = data.saved + row * 4 * h;
      std::memcpy(data.hidden_before + row * h, state, h * sizeof(float));
      if (!is_valid(data.lengths, n, t)) {
        std::fill_n(out, h, 0.0f);
        std::fill_n(saved, 4 * h, 0.0f);
        continue;
      }
      gru_row(data.projected + row * 3 * h, data.bias,
              product.data() + (n - first) * 3 * h, data.bhn, state, saved,
              out, h);
    }
  }
  std::copy(hidden.begin(), hidden.end(), data.final_hidden + first * h);
}

// The GRU counterpart of lstm_backward_rows.
void gru_backward_rows(
    const GRUBackwardData& data,
    const SequenceDims& dims,
    const PackedMatrix& wh,
    size_t first,
    size_t last) {
  size_t h = dims.hidden;
  size_t rows = last - first;
  float* d_hidden = data.d_hidden0 + first * h;
  for (size_t n = first; n < last; ++n) {
    std::copy_n(data.d_final_hidden[n], h, data.d_hidden0 + n * h);
  }
  for (size_t k = dims.steps; k-- > 0;) {
    size_t t = dims.position(k);
    for (size_t n = first; n < last; ++n) {
      size_t row = n * dims.steps + t;
      float* dx = data.d_projected + row * 3 * h;
      float* dp = data.d_product + row * 3 * h;
      if (!is_valid(data.lengths, n, t)) {
        std::fill_n(dx, 3 * h, 0.0f);
        std::fill_n(dp, 3 * h, 0.0f);
        continue;
      }
      gru_grad_row(
          data.saved + row * 4 * h, data.hidden_before + row * h,
          data.d_hidden_out[row], data.d_hidden0 + n * h, dx, dp, h);
    }
    const float* d_product = data.d_product + (first * dims.steps + t) * 3 * h;
    packed_gemm(rows, d_product, dims.steps * 3 * h, wh, d_hidden, h, true);
  }
}

} // namespace

void lstm_sequence_forward(const LSTMForwardData& data, const SequenceDims& dims) {
  size_t h = dims.hidden;
  // W_h^T, (H, 4H): element (k, c) is W_h[c, k].
  PackedMatrix wh_transposed(data.wh, h, 4 * h, 1, h);
  for_batch_ranges(dims, 4 * h, [&](size_t first, size_t last) {
    lstm_forward_rows(data, dims, wh_transposed, first, last);
  });
}

void lstm_sequence_backward(
    const LSTMBackwardData& data,
    const SequenceDims& dims) {
  size_t h = dims.hidden;
  PackedMatrix wh(data.wh, 4 * h, h, h, 1);
  for_batch_ranges(dims, 4 * h, [&](size_t first, size_t last) {
    lstm_backward_rows(data, dims, wh, first, last);
  });
}

void gru_sequence_forward(const GRUForwardData& data, const SequenceDims& dims) {
  size_t h = dims.hidden;
  PackedMatrix wh_transposed(data.wh, h, 3 * h, 1, h);
  for_batch_ranges(dims, 3 * h, [&](size_t first, size_t last) {
    gru_forward_rows(data, dims, wh_transposed, first, last);
  });
}

void gru_sequence_backward(
    const GRUBackwardData& data,
    const SequenceDims& dims) {
  size_t h = dims.hidden;
  PackedMatrix wh(data.wh, 3 * h, h, h, 1);
  for_batch_ranges(dims, 3 * h, [&](size_t first, size_t last) {
    gru_backward_rows(data, dims, wh, first, last);
  });
}

} // namespace rmlx::nn::detail
