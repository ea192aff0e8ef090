#include "recurrent_sequence_kernels.h"

#include <algorithm>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>
#include <optional>
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

// The minimum number of multiply-adds that gets a thread of its own. It is
// about a third of a millisecond at 100 GFLOP/s, against the tens of
// microseconds that starting and joining a thread take.
constexpr double kMinMultiplyAddsPerThread = 1.6e7;

// Whether sequence n takes part in the step at position t.
inline bool is_valid(const int32_t* lengths, size_t n, size_t t) {
  return lengths == nullptr || static_cast<int64_t>(t) < lengths[n];
}

// Calls body(first, last) on ranges that cover [0, count), on several
// threads when each gets at least kMinMultiplyAddsPerThread, given the
// multiply-adds of one item.
void for_ranges(
    size_t count,
    double multiply_adds_per_item,
    const std::function<void(size_t, size_t)>& body) {
  double per_item = std::max(1.0, multiply_adds_per_item);
  auto grain = static_cast<size_t>(kMinMultiplyAddsPerThread / per_item);
  parallel_for(count, std::max<size_t>(1, grain), body);
}

// Returns the row-major matrix with rows [W_x[j], W_h[j], b[j]] for the
// `rows` rows of wx (D columns) and wh (H columns), with b[j] = 0 when
// bias is null.
std::vector<float> join_weights(
    const float* wx,
    const float* wh,
    const float* bias,
    size_t rows,
    size_t d,
    size_t h) {
  size_t width = d + h + 1;
  std::vector<float> joined(rows * width);
  for (size_t j = 0; j < rows; ++j) {
    float* out = joined.data() + j * width;
    std::copy_n(wx + j * d, d, out);
    std::copy_n(wh + j * h, h, out + d);
    out[d + h] = bias ? bias[j] : 0.0f;
  }
  return joined;
}

// Writes the input row [x_t, h_{t-1}, 1] of sequence n at position t.
void write_input_row(
    float* inputs,
    const float* x,
    const float* hidden,
    const SequenceDims& dims,
    size_t n,
    size_t t) {
  size_t d = dims.input;
  size_t row = n * dims.steps + t;
  float* out = inputs + row * input_width(dims);
  std::copy_n(x + row * d, d, out);
  std::copy_n(hidden, dims.hidden, out + d);
  out[d + dims.hidden] = 1.0f;
}

// The input rows of the sequences [first, last) at position t, as a matrix
// operand: row n - first is sequence n's.
StridedMatrix input_rows(
    const float* inputs,
    const SequenceDims& dims,
    size_t first,
    size_t t) {
  size_t width = input_width(dims);
  return {inputs + (first * dims.steps + t) * width, dims.steps * width, 1};
}

// The gates and new states of one LSTM row of H units from its gates'
// pre-activations p, in lstm_cell()'s order. It saves i, f, g, o, the
// previous cell state and tanh of the new one.
RMLX_SEQUENCE_KERNEL void lstm_row(
    const float* __restrict p,
    float* __restrict hidden,
    float* __restrict cell,
    float* __restrict saved,
    float* __restrict hidden_out,
    float* __restrict cell_out,
    size_t h) {
  // The arrays never overlap. Without this GCC 12 would check that at run
  // time, and gives up vectorizing beyond 10 such checks.
#pragma GCC ivdep
  for (size_t j = 0; j < h; ++j) {
    float i = sigmoid_approx(p[j]);
    float f = sigmoid_approx(p[h + j]);
    float g = tanh_approx(p[2 * h + j]);
    float o = sigmoid_approx(p[3 * h + j]);
    float next = f * cell[j] + i * g;
    float activated = tanh_approx(next);
    float out = o * activated;
    saved[j] = i;
    saved[h + j] = f;
    saved[2 * h + j] = g;
    saved[3 * h + j] = o;
    saved[4 * h + j] = cell[j];
    saved[5 * h + j] = activated;
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
    const float* __restrict saved,
    const float* __restrict dh_out,
    const float* __restrict dc_out,
    float* __restrict dh,
    float* __restrict dc,
    float* __restrict d_gates,
    size_t h) {
#pragma GCC ivdep
  for (size_t j = 0; j < h; ++j) {
    float i = saved[j];
    float f = saved[h + j];
    float g = saved[2 * h + j];
    float o = saved[3 * h + j];
    float t = saved[5 * h + j];
    float d_h = dh[j] + dh_out[j];
    float d_c = dc[j] + dc_out[j] + (d_h * o) * (1.0f - t * t);
    float d_i = (d_c * g) * (i * (1.0f - i));
    float d_f = (d_c * saved[4 * h + j]) * (f * (1.0f - f));
    float d_g = (d_c * i) * (1.0f - g * g);
    float d_o = (d_h * t) * (o * (1.0f - o));
    d_gates[j] = d_i;
    d_gates[h + j] = d_f;
    d_gates[2 * h + j] = d_g;
    d_gates[3 * h + j] = d_o;
    dc[j] = d_c * f;
    dh[j] = 0.0f;
  }
}

// The new hidden state of one GRU row of H units, in gru_cell()'s order,
// from p: the pre-activations of r and z, then the input projection of n,
// then the hidden projection of n plus bhn. It adds bias_n, the bias of
// the input projection of n, and saves r, z, n and the hidden projection
// of n plus bhn for the gradient.
RMLX_SEQUENCE_KERNEL void gru_row(
    const float* __restrict p,
    const float* __restrict bias_n,
    float* __restrict hidden,
    float* __restrict saved,
    float* __restrict hidden_out,
    size_t h) {
#pragma GCC ivdep
  for (size_t j = 0; j < h; ++j) {
    float r = sigmoid_approx(p[j]);
    float z = sigmoid_approx(p[h + j]);
    float hidden_n = p[3 * h + j];
    float candidate = tanh_approx((p[2 * h + j] + bias_n[j]) + r * hidden_n);
    float next = (1.0f - z) * candidate + z * hidden[j];
    saved[j] = r;
    saved[h + j] = z;
    saved[2 * h + j] = candidate;
    saved[3 * h + j] = hidden_n;
    hidden[j] = next;
    hidden_out[j] = next;
  }
}

// The gradient of gru_row with respect to the input projections (dx) and
// the hidden projections (dp) of r, z and n, and to the hidden state
// before the step. On entry dh contains the gradient of the new state
// without the output's part d_out. On exit it contains the part of the
// previous state's gradient that does not pass through the hidden
// projections. It adds the gradients of the biases to d_bias: those of the
// input projections (3H), then of the hidden projection of n (H).
RMLX_SEQUENCE_KERNEL void gru_grad_row(
    const float* __restrict saved,
    const float* __restrict hidden_before,
    const float* __restrict d_out,
    float* __restrict dh,
    float* __restrict dx,
    float* __restrict dp,
    float* __restrict d_bias,
    size_t h) {
#pragma GCC ivdep
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
    d_bias[j] += dr;
    d_bias[h + j] += dz;
    d_bias[2 * h + j] += dn;
    d_bias[3 * h + j] += dn * r;
    dh[j] = d * z;
  }
}

// Runs the LSTM over sequences [first, last). Their states and gate
// pre-activations live in buffers of their own, row n - first for
// sequence n. A sequence past its length keeps its state, and its outputs
// and saved values are zero.
void lstm_forward_rows(
    const LSTMForwardData& data,
    const SequenceDims& dims,
    const PackedMatrix& weights,
    size_t first,
    size_t last) {
  size_t h = dims.hidden;
  size_t rows = last - first;
  std::vector<float> hidden(rows * h, 0.0f);
  std::vector<float> cell(rows * h, 0.0f);
  std::vector<float> gates(rows * 4 * h);
  if (data.hidden0) {
    std::copy_n(data.hidden0 + first * h, rows * h, hidden.begin());
  }
  if (data.cell0) {
    std::copy_n(data.cell0 + first * h, rows * h, cell.begin());
  }
  for (size_t k = 0; k < dims.steps; ++k) {
    size_t t = dims.position(k);
    for (size_t n = first; n < last; ++n) {
      write_input_row(data.inputs, data.x, hidden.data() + (n - first) * h,
                      dims, n, t);
    }
    packed_gemm(rows, input_rows(data.inputs, dims, first, t), weights,
                gates.data(), 4 * h, false);
    for (size_t n = first; n < last; ++n) {
      size_t row = n * dims.steps + t;
      float* h_out = data.hidden_out + row * h;
      float* c_out = data.cell_out + row * h;
      float* saved = data.saved + (t * dims.batch + n) * 6 * h;
      if (!is_valid(data.lengths, n, t)) {
        std::fill_n(h_out, h, 0.0f);
        std::fill_n(c_out, h, 0.0f);
        std::fill_n(saved, 6 * h, 0.0f);
        continue;
      }
      lstm_row(gates.data() + (n - first) * 4 * h,
               hidden.data() + (n - first) * h, cell.data() + (n - first) * h,
               saved, h_out, c_out, h);
    }
  }
  std::copy(hidden.begin(), hidden.end(), data.final_hidden + first * h);
  std::copy(cell.begin(), cell.end(), data.final_cell + first * h);
}

// The transposed weight gradient of a range of sequences: the sum over
// their rows of input^T gate_grads, where input is `width` columns of a
// saved row [x_t, h_{t-1}, 1] and gate_grads the gradients of that step's
// gate pre-activations. It multiplies blocks of about kBlockRows rows,
// which stay in the caches between the steps that fill them and the
// product, instead of sending all N * L rows of gate gradients to memory
// and back.
class WeightGradientBlocks {
 public:
  // `out` receives the (width, gates) result; `rows_per_step` rows come
  // with each step.
  WeightGradientBlocks(
      size_t width,
      size_t gates,
      size_t rows_per_step,
      float* out)
      : width_(width),
        block_(block_rows(rows_per_step)),
        inputs_(block_ * width),
        gate_grads_(block_, gates),
        out_(out) {}

  // Adds one row: copies it into the block and multiplies the block once
  // it is full. `input` points to the row's first column of the product.
  void add_row(const float* input, const float* gate_grads) {
    std::copy_n(input, width_, inputs_.data() + used_ * width_);
    gate_grads_.set_row(used_, gate_grads);
    if (++used_ == block_) {
      multiply_block();
    }
  }

  // Multiplies the rows left in the block, and writes zeros when no row
  // came at all.
  void finish() {
    if (used_ > 0) {
      multiply_block();
    }
    if (!written_) {
      std::fill_n(out_, width_ * gate_grads_.cols(), 0.0f);
    }
  }

 private:
  // 2 MiB of gate gradients for 4H = 1024, small enough for a level-3
  // cache, and the depth of packed_gemm()'s blocks.
  static constexpr size_t kBlockRows = 512;

  // Returns the rows of a block: whole steps, about kBlockRows rows.
  static size_t block_rows(size_t rows_per_step) {
    size_t per_step = std::max<size_t>(1, rows_per_step);
    return std::max<size_t>(1, kBlockRows / per_step) * per_step;
  }

  void multiply_block() {
    gate_grads_.set_rows(used_);
    StridedMatrix inputs_t = {inputs_.data(), 1, width_};
    packed_gemm(width_, inputs_t, gate_grads_, out_, gate_grads_.cols(),
                written_);
    written_ = true;
    used_ = 0;
  }

  size_t width_;
  size_t block_;
  std::vector<float> inputs_;
  PackedMatrix gate_grads_;
  float* out_;
  size_t used_ = 0;
  bool written_ = false;
};

// The weight gradients of a backward pass split over ranges of sequences.
// The range that starts at sequence 0 writes into the outputs, the others
// into buffers of their own, which add_partials() adds to the outputs once
// the threads have joined.
class PartialSums {
 public:
  // The sums go to `outputs`, whose numbers of floats are `sizes`.
  PartialSums(std::vector<float*> outputs, std::vector<size_t> sizes)
      : outputs_(std::move(outputs)), sizes_(std::move(sizes)) {}

  // Returns where the range that starts at sequence `first` writes each
  // output. Threads may call it at the same time.
  std::vector<float*> targets(size_t first) {
    if (first == 0) {
      return outputs_;
    }
    std::vector<float*> buffers;
    std::lock_guard<std::mutex> lock(mutex_);
    for (size_t i = 0; i < outputs_.size(); ++i) {
      partials_.push_back({i, std::make_unique<float[]>(sizes_[i])});
      buffers.push_back(partials_.back().second.get());
    }
    return buffers;
  }

  void add_partials() {
    for (const auto& [output, partial] : partials_) {
      float* sum = outputs_[output];
      for (size_t i = 0; i < sizes_[output]; ++i) {
        sum[i] += partial[i];
      }
    }
  }

 private:
  std::vector<float*> outputs_;
  std::vector<size_t> sizes_;
  std::mutex mutex_;
  std::vector<std::pair<size_t, std::unique_ptr<float[]>>> partials_;
};

// Runs the gradient of lstm_forward_rows over sequences [first, last),
// from the last step run to the first. Each step's input rows and the
// gradients of its gate pre-activations go to `weight_grad`. With wx, it
// writes the gradient of x to data.d_x.
//
// Between steps d_cell0 contains the gradient of the cell state after the
// current step. d_hidden0 contains that of the hidden state without the
// part through h W_h^T, which the product with W_h adds, so the zero rows
// of a sequence past its length leave it unchanged.
void lstm_backward_rows(
    const LSTMBackwardData& data,
    const SequenceDims& dims,
    const PackedMatrix& wh,
    const PackedMatrix* wx,
    WeightGradientBlocks& weight_grad,
    size_t first,
    size_t last) {
  size_t h = dims.hidden;
  size_t d = dims.input;
  size_t rows = last - first;
  size_t width = input_width(dims);
  // The gradients of this step, row n - first for sequence n.
  std::vector<float> step(rows * 4 * h);
  for (size_t n = first; n < last; ++n) {
    std::copy_n(data.d_final_hidden[n], h, data.d_hidden0 + n * h);
    std::copy_n(data.d_final_cell[n], h, data.d_cell0 + n * h);
  }
  for (size_t k = dims.steps; k-- > 0;) {
    size_t t = dims.position(k);
    for (size_t n = first; n < last; ++n) {
      size_t row = n * dims.steps + t;
      float* d_row = step.data() + (n - first) * 4 * h;
      if (is_valid(data.lengths, n, t)) {
        const float* saved = data.saved + (t * dims.batch + n) * 6 * h;
        lstm_grad_row(saved, data.d_hidden_out[row], data.d_cell_out[row],
                      data.d_hidden0 + n * h, data.d_cell0 + n * h, d_row, h);
      } else {
        std::fill_n(d_row, 4 * h, 0.0f);
      }
      weight_grad.add_row(data.inputs + row * width, d_row);
    }
    StridedMatrix step_gates = {step.data(), 4 * h, 1};
    packed_gemm(rows, step_gates, wh, data.d_hidden0 + first * h, h, true);
    if (wx) {
      float* d_x = data.d_x + (first * dims.steps + t) * d;
      packed_gemm(rows, step_gates, *wx, d_x, dims.steps * d, false);
    }
  }
}

// The GRU counterpart of lstm_forward_rows. The pre-activations of r and
// z come from one product of [x_t, h_{t-1}, 1] with [W_x, W_h, b] of r and
// z. Those of n come from one of x_t with W_x of n, plus bias_n, and one
// of [h_{t-1}, 1] with [W_h, bhn] of n.
void gru_forward_rows(
    const GRUForwardData& data,
    const SequenceDims& dims,
    const PackedMatrix& weights_rz,
    const PackedMatrix& input_weights_n,
    const PackedMatrix& hidden_weights_n,
    const float* bias_n,
    size_t first,
    size_t last) {
  size_t h = dims.hidden;
  size_t rows = last - first;
  std::vector<float> hidden(rows * h, 0.0f);
  std::vector<float> gates(rows * 4 * h);
  if (data.hidden0) {
    std::copy_n(data.hidden0 + first * h, rows * h, hidden.begin());
  }
  for (size_t k = 0; k < dims.steps; ++k) {
    size_t t = dims.position(k);
    for (size_t n = first; n < last; ++n) {
      write_input_row(data.inputs, data.x, hidden.data() + (n - first) * h,
                      dims, n, t);
    }
    StridedMatrix step_inputs = input_rows(data.inputs, dims, first, t);
    StridedMatrix step_hidden = {step_inputs.data + dims.input,
                                 step_inputs.row_stride, 1};
    packed_gemm(rows, step_inputs, weights_rz, gates.data(), 4 * h, false);
    packed_gemm(rows, step_inputs, input_weights_n, gates.data() + 2 * h,
                4 * h, false);
    packed_gemm(rows, step_hidden, hidden_weights_n, gates.data() + 3 * h,
                4 * h, false);
    for (size_t n = first; n < last; ++n) {
      size_t row = n * dims.steps + t;
      float* out = data.hidden_out + row * h;
      float* saved = data.saved + row * 4 * h;
      if (!is_valid(data.lengths, n, t)) {
        std::fill_n(out, h, 0.0f);
        std::fill_n(saved, 4 * h, 0.0f);
        continue;
      }
      gru_row(gates.data() + (n - first) * 4 * h, bias_n,
              hidden.data() + (n - first) * h, saved, out, h);
    }
  }
  std::copy(hidden.begin(), hidden.end(), data.final_hidden + first * h);
}

// The GRU counterpart of lstm_backward_rows. The gradients of the input
// projections go to `input_grad` with the x columns of the saved rows,
// those of the hidden projections to `hidden_grad` with their h columns,
// and those of the biases to d_bias (N, 4H).
void gru_backward_rows(
    const GRUBackwardData& data,
    const SequenceDims& dims,
    const PackedMatrix& wh,
    const PackedMatrix* wx,
    WeightGradientBlocks& input_grad,
    WeightGradientBlocks& hidden_grad,
    float* d_bias,
    size_t first,
    size_t last) {
  size_t h = dims.hidden;
  size_t d = dims.input;
  size_t rows = last - first;
  size_t width = input_width(dims);
  std::vector<float> step_inputs(rows * 3 * h);
  std::vector<float> step_hidden(rows * 3 * h);
  for (size_t n = first; n < last; ++n) {
    std::copy_n(data.d_final_hidden[n], h, data.d_hidden0 + n * h);
    std::fill_n(d_bias + n * 4 * h, 4 * h, 0.0f);
  }
  for (size_t k = dims.steps; k-- > 0;) {
    size_t t = dims.position(k);
    for (size_t n = first; n < last; ++n) {
      size_t row = n * dims.steps + t;
      float* dx = step_inputs.data() + (n - first) * 3 * h;
      float* dp = step_hidden.data() + (n - first) * 3 * h;
      if (is_valid(data.lengths, n, t)) {
        const float* hidden_before = data.inputs + row * width + d;
        gru_grad_row(data.saved + row * 4 * h, hidden_before,
                     data.d_hidden_out[row], data.d_hidden0 + n * h, dx, dp,
                     d_bias + n * 4 * h, h);
      } else {
        std::fill_n(dx, 3 * h, 0.0f);
        std::fill_n(dp, 3 * h, 0.0f);
      }
      const float* input = data.inputs + row * width;
      input_grad.add_row(input, dx);
      hidden_grad.add_row(input + d, dp);
    }
    packed_gemm(rows, {step_hidden.data(), 3 * h, 1}, wh,
                data.d_hidden0 + first * h, h, true);
    if (wx) {
      float* d_x = data.d_x + (first * dims.steps + t) * d;
      packed_gemm(rows, {step_inputs.data(), 3 * h, 1}, *wx, d_x,
                  dims.steps * d, false);
    }
  }
}

// Writes the sum of the rows of `rows` (count x width) to `sum`.
void sum_rows(const float* rows, size_t count, size_t width, float* sum) {
  std::fill_n(sum, width, 0.0f);
  for (size_t n = 0; n < count; ++n) {
    for (size_t j = 0; j < width; ++j) {
      sum[j] += rows[n * width + j];
    }
  }
}

} // namespace

void lstm_sequence_forward(const LSTMForwardData& data, const SequenceDims& dims) {
  size_t h = dims.hidden;
  size_t d = dims.input;
  size_t width = input_width(dims);
  // [W_x, W_h, b]^T, (D + H + 1, 4H): column j contains gate row j of the
  // weights, then its bias.
  PackedMatrix weights(width, 4 * h);
  size_t panels = (4 * h + weights.panel_width() - 1) / weights.panel_width();
  // Eight panels of 321 rows (input 64, hidden 256) take an estimated 40
  // microseconds to pack, about what starting a thread costs.
  parallel_for(panels, 8, [&](size_t first, size_t last) {
    size_t end = std::min(4 * h, last * weights.panel_width());
    for (size_t j = first * weights.panel_width(); j < end; ++j) {
      weights.set_column(j, 0, d, data.wx + j * d);
      weights.set_column(j, d, h, data.wh + j * h);
      float bias = data.bias ? data.bias[j] : 0.0f;
      weights.set_column(j, d + h, 1, &bias);
    }
  });
  weights.zero_padding();
  double per_sequence = static_cast<double>(dims.steps) * width * 4 * h;
  for_ranges(dims.batch, per_sequence, [&](size_t first, size_t last) {
    lstm_forward_rows(data, dims, weights, first, last);
  });
}

void lstm_sequence_backward(
    const LSTMBackwardData& data,
    const SequenceDims& dims) {
  size_t h = dims.hidden;
  size_t width = input_width(dims);
  PackedMatrix wh(data.wh, 4 * h, h, h, 1);
  std::optional<PackedMatrix> wx;
  if (data.d_x) {
    wx.emplace(data.wx, 4 * h, dims.input, dims.input, 1);
  }
  PartialSums sums({data.d_weights}, {width * 4 * h});
  double per_sequence = static_cast<double>(dims.steps) * 4 * h *
      (h + width + (wx ? dims.input : 0));
  for_ranges(dims.batch, per_sequence, [&](size_t first, size_t last) {
    // The input rows end with a 1, so the product's last row, the sum of
    // the gates' gradients, is the bias gradient.
    WeightGradientBlocks weight_grad(width, 4 * h, last - first,
                                     sums.targets(first)[0]);
    lstm_backward_rows(data, dims, wh, wx ? &*wx : nullptr, weight_grad,
                       first, last);
    weight_grad.finish();
  });
  sums.add_partials();
}

void gru_sequence_forward(const GRUForwardData& data, const SequenceDims& dims) {
  size_t h = dims.hidden;
  size_t d = dims.input;
  size_t width = input_width(dims);
  // [W_x, W_h, b] and [W_h, bhn], whose rows are r, z and n in that order.
  auto joined = join_weights(data.wx, data.wh, data.bias, 3 * h, d, h);
  std::vector<float> hidden_n(h * (h + 1));
  for (size_t j = 0; j < h; ++j) {
    std::copy_n(data.wh + (2 * h + j) * h, h, hidden_n.data() + j * (h + 1));
    hidden_n[j * (h + 1) + h] = data.bhn ? data.bhn[j] : 0.0f;
  }
  std::vector<float> bias_n(h, 0.0f);
  if (data.bias) {
    std::copy_n(data.bias + 2 * h, h, bias_n.begin());
  }
  PackedMatrix weights_rz(joined.data(), width, 2 * h, 1, width);
  PackedMatrix input_weights_n(joined.data() + 2 * h * width, d, h, 1, width);
  PackedMatrix hidden_weights_n(hidden_n.data(), h + 1, h, 1, h + 1);
  double per_sequence = static_cast<double>(dims.steps) * (width + 1) * 3 * h;
  for_ranges(dims.batch, per_sequence, [&](size_t first, size_t last) {
    gru_forward_rows(data, dims, weights_rz, input_weights_n,
                     hidden_weights_n, bias_n.data(), first, last);
  });
}

void gru_sequence_backward(
    const GRUBackwardData& data,
    const SequenceDims& dims) {
  size_t h = dims.hidden;
  size_t d = dims.input;
  std::vector<float> d_bias(dims.batch * 4 * h);
  PackedMatrix wh(data.wh, 3 * h, h, h, 1);
  std::optional<PackedMatrix> wx;
  if (data.d_x) {
    wx.emplace(data.wx, 3 * h, d, d, 1);
  }
  // The gradient of W_x comes from the x columns of the saved rows, and
  // that of W_h from their h columns.
  PartialSums sums({data.d_input_weights, data.d_hidden_weights},
                   {d * 3 * h, h * 3 * h});
  double per_sequence = static_cast<double>(dims.steps) * 3 * h *
      (2 * h + d + (wx ? d : 0));
  for_ranges(dims.batch, per_sequence, [&](size_t first, size_t last) {
    auto targets = sums.targets(first);
    WeightGradientBlocks input_grad(d, 3 * h, last - first, targets[0]);
    WeightGradientBlocks hidden_grad(h, 3 * h, last - first, targets[1]);
    gru_backward_rows(data, dims, wh, wx ? &*wx : nullptr, input_grad,
                      hidden_grad, d_bias.data(), first, last);
    input_grad.finish();
    hidden_grad.finish();
  });
  sums.add_partials();
  std::vector<float> bias_sums(4 * h);
  sum_rows(d_bias.data(), dims.batch, 4 * h, bias_sums.data());
  std::copy_n(bias_sums.begin(), 3 * h, data.d_bias);
  std::copy_n(bias_sums.begin() + 3 * h, h, data.d_hidden_bias);
}

} // namespace rmlx::nn::detail
