#include "rmlx/nn/recurrent_cell.h"

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "layer_utils.h"
#include "recurrent_kernels.h"

namespace rmlx::nn {

namespace {

using detail::dense_float32;
using detail::fusable;
using detail::prepare;
using detail::sigmoid_approx;
using detail::tanh_approx;

RMLX_CELL_KERNEL void sigmoid_loop(
    const float* __restrict x,
    float* __restrict y,
    size_t n) {
  for (size_t i = 0; i < n; ++i) {
    y[i] = sigmoid_approx(x[i]);
  }
}

RMLX_CELL_KERNEL void tanh_loop(
    const float* __restrict x,
    float* __restrict y,
    size_t n) {
  for (size_t i = 0; i < n; ++i) {
    y[i] = tanh_approx(x[i]);
  }
}

// The LSTM step over `rows` rows of H units. cell_in may be null (a zero
// state). The products and sums follow LSTM's MLX operations in order.
RMLX_CELL_KERNEL void lstm_forward_kernel(
    const float* __restrict gates,
    const float* __restrict cell_in,
    float* __restrict hidden_out,
    float* __restrict cell_out,
    size_t rows,
    size_t h) {
  for (size_t row = 0; row < rows; ++row) {
    const float* __restrict a = gates + row * 4 * h;
    const float* __restrict c = cell_in ? cell_in + row * h : nullptr;
    float* __restrict hn = hidden_out + row * h;
    float* __restrict cn = cell_out + row * h;
    if (c) {
      for (size_t j = 0; j < h; ++j) {
        float i = sigmoid_approx(a[j]);
        float f = sigmoid_approx(a[h + j]);
        float g = tanh_approx(a[2 * h + j]);
        float o = sigmoid_approx(a[3 * h + j]);
        float next = f * c[j] + i * g;
        cn[j] = next;
        hn[j] = o * tanh_approx(next);
      }
    } else {
      for (size_t j = 0; j < h; ++j) {
        float i = sigmoid_approx(a[j]);
        float g = tanh_approx(a[2 * h + j]);
        float o = sigmoid_approx(a[3 * h + j]);
        float next = i * g;
        cn[j] = next;
        hn[j] = o * tanh_approx(next);
      }
    }
  }
}

// The gradient of lstm_forward_kernel. The sigmoid and tanh derivatives
// are s (1 - s) and 1 - t^2 of the recomputed activations, as in MLX's
// vjps of Sigmoid and Tanh. d_cell_in may be null exactly when cell_in is.
RMLX_CELL_KERNEL void lstm_backward_kernel(
    const float* __restrict gates,
    const float* __restrict cell_in,
    const float* __restrict cell_out,
    const float* __restrict d_hidden,
    const float* __restrict d_cell,
    float* __restrict d_gates,
    float* __restrict d_cell_in,
    size_t rows,
    size_t h) {
  for (size_t row = 0; row < rows; ++row) {
    const float* __restrict a = gates + row * 4 * h;
    const float* __restrict c = cell_in ? cell_in + row * h : nullptr;
    const float* __restrict cn = cell_out + row * h;
    const float* __restrict dh = d_hidden + row * h;
    const float* __restrict dc = d_cell + row * h;
    float* __restrict da = d_gates + row * 4 * h;
    float* __restrict dc_in = d_cell_in ? d_cell_in + row * h : nullptr;
    for (size_t j = 0; j < h; ++j) {
      float i = sigmoid_approx(a[j]);
      float g = tanh_approx(a[2 * h + j]);
      float o = sigmoid_approx(a[3 * h + j]);
      float t = tanh_approx(cn[j]);
      float dct = dc[j] + (dh[j] * o) * (1.0f - t * t);
      da[j] = (dct * g) * (i * (1.0f - i));
      da[2 * h + j] = (dct * i) * (1.0f - g * g);
      da[3 * h + j] = (dh[j] * t) * (o * (1.0f - o));
    }
    if (c) {
      for (size_t j = 0; j < h; ++j) {
        float f = sigmoid_approx(a[h + j]);
        float o = sigmoid_approx(a[3 * h + j]);
        float t = tanh_approx(cn[j]);
        float dct = dc[j] + (dh[j] * o) * (1.0f - t * t);
        da[h + j] = (dct * c[j]) * (f * (1.0f - f));
        dc_in[j] = dct * f;
      }
    } else {
      std::fill(da + h, da + 2 * h, 0.0f);
    }
  }
}

// The GRU step over `rows` rows of H units, in the order of GRU's MLX
// operations.
RMLX_CELL_KERNEL void gru_forward_kernel(
    const float* __restrict input_projection,
    const float* __restrict hidden_projection,
    const float* __restrict bhn,
    const float* __restrict hidden,
    float* __restrict out,
    size_t rows,
    size_t h) {
  for (size_t row = 0; row < rows; ++row) {
    const float* __restrict x = input_projection + row * 3 * h;
    const float* __restrict p = hidden_projection + row * 3 * h;
    const float* __restrict prev = hidden + row * h;
    float* __restrict next = out + row * h;
    for (size_t j = 0; j < h; ++j) {
      float r = sigmoid_approx(x[j] + p[j]);
      float z = sigmoid_approx(x[h + j] + p[h + j]);
      float n = tanh_approx(x[2 * h + j] + r * (p[2 * h + j] + bhn[j]));
      next[j] = (1.0f - z) * n + z * prev[j];
    }
  }
}

// The gradient of gru_forward_kernel with respect to both projections and
// the previous hidden state.
RMLX_CELL_KERNEL void gru_backward_kernel(
    const float* __restrict input_projection,
    const float* __restrict hidden_projection,
    const float* __restrict bhn,
    const float* __restrict hidden,
    const float* __restrict d_out,
    float* __restrict d_input_projection,
    float* __restrict d_hidden_projection,
    float* __restrict d_hidden,
    size_t rows,
    size_t h) {
  for (size_t row = 0; row < rows; ++row) {
    const float* __restrict x = input_projection + row * 3 * h;
    const float* __restrict p = hidden_projection + row * 3 * h;
    const float* __restrict prev = hidden + row * h;
    const float* __restrict d = d_out + row * h;
    float* __restrict dx = d_input_projection + row * 3 * h;
    float* __restrict dp = d_hidden_projection + row * 3 * h;
    float* __restrict dprev = d_hidden + row * h;
    for (size_t j = 0; j < h; ++j) {
      float r = sigmoid_approx(x[j] + p[j]);
      float z = sigmoid_approx(x[h + j] + p[h + j]);
      float hidden_n = p[2 * h + j] + bhn[j];
      float n = tanh_approx(x[2 * h + j] + r * hidden_n);
      float dn = (d[j] * (1.0f - z)) * (1.0f - n * n);
      float dz = (d[j] * prev[j] - d[j] * n) * (z * (1.0f - z));
      float dr = (dn * hidden_n) * (r * (1.0f - r));
      dx[j] = dr;
      dp[j] = dr;
      dx[h + j] = dz;
      dp[h + j] = dz;
      dx[2 * h + j] = dn;
      dp[2 * h + j] = dn * r;
      dprev[j] = d[j] * z;
    }
  }
}

// Returns `shape` with its last axis set to `size`.
mx::Shape with_last(mx::Shape shape, int size) {
  shape.back() = size;
  return shape;
}

// LSTM's step as MLX operations, as MLX Python's LSTM composes them.
std::vector<mx::array> lstm_cell_ops(
    const mx::array& gates,
    const std::optional<mx::array>& cell,
    mx::Stream s) {
  auto parts = mx::split(gates, 4, -1, s);
  mx::array i = mx::sigmoid(parts[0], s);
  mx::array f = mx::sigmoid(parts[1], s);
  mx::array g = mx::tanh(parts[2], s);
  mx::array o = mx::sigmoid(parts[3], s);
  mx::array next = mx::multiply(i, g, s);
  if (cell) {
    next = mx::add(mx::multiply(f, *cell, s), next, s);
  }
  mx::array hidden = mx::multiply(o, mx::tanh(next, s), s);
  return {hidden, next};
}

// GRU's step with a hidden state as MLX operations, in MLX Python's order.
mx::array gru_cell_ops(
    const mx::array& input_projection,
    const mx::array& hidden_projection,
    const std::optional<mx::array>& bhn,
    const mx::array& hidden,
    mx::Stream s) {
  int h = hidden.shape(-1);
  auto input_parts = mx::split(input_projection, mx::Shape{2 * h}, -1, s);
  auto hidden_parts = mx::split(hidden_projection, mx::Shape{2 * h}, -1, s);
  mx::array hidden_n = hidden_parts[1];
  if (bhn) {
    hidden_n = mx::add(hidden_n, *bhn, s);
  }
  mx::array rz = mx::sigmoid(mx::add(input_parts[0], hidden_parts[0], s), s);
  auto gates = mx::split(rz, 2, -1, s);
  mx::array n = mx::add(input_parts[1], mx::multiply(gates[0], hidden_n, s), s);
  n = mx::tanh(n, s);
  mx::array keep =
      mx::subtract(detail::float_scalar(1.0, gates[1]), gates[1], s);
  return mx::add(
      mx::multiply(keep, n, s), mx::multiply(gates[1], hidden, s), s);
}

} // namespace

namespace detail {

void sigmoid_kernel(const float* x, float* y, size_t n) {
  sigmoid_loop(x, y, n);
}

void tanh_kernel(const float* x, float* y, size_t n) {
  tanh_loop(x, y, n);
}

} // namespace detail

std::vector<mx::array> lstm_cell(
    const mx::array& gates,
    const std::optional<mx::array>& cell,
    mx::StreamOrDevice s) {
  auto stream = mx::to_stream(s);
  std::vector<mx::array> checked = {gates};
  if (cell) {
    checked.push_back(*cell);
  }
  int h = gates.ndim() > 0 ? gates.shape(-1) / 4 : 0;
  bool shapes_match = gates.ndim() > 0 && gates.shape(-1) == 4 * h &&
      (!cell || cell->shape() == with_last(gates.shape(), h));
  if (!shapes_match || !fusable(stream, checked)) {
    return lstm_cell_ops(gates, cell, stream);
  }
  std::vector<mx::array> inputs = {dense_float32(gates, stream)};
  if (cell) {
    inputs.push_back(dense_float32(*cell, stream));
  }
  auto shape = with_last(gates.shape(), h);
  return mx::array::make_arrays(
      {shape, shape},
      {mx::float32, mx::float32},
      std::make_shared<LSTMCell>(stream),
      inputs);
}

mx::array gru_cell(
    const mx::array& input_projection,
    const mx::array& hidden_projection,
    const std::optional<mx::array>& bhn,
    const mx::array& hidden,
    mx::StreamOrDevice s) {
  auto stream = mx::to_stream(s);
  std::vector<mx::array> checked = {
      input_projection, hidden_projection, hidden};
  if (bhn) {
    checked.push_back(*bhn);
  }
  int h = hidden.ndim() > 0 ? hidden.shape(-1) : 0;
  auto projection_shape = hidden.shape();
  if (!projection_shape.empty()) {
    projection_shape.back() = 3 * h;
  }
  bool shapes_match = hidden.ndim() > 0 &&
      input_projection.shape() == projection_shape &&
      hidden_projection.shape() == projection_shape &&
      (!bhn || bhn->shape() == mx::Shape{h});
  if (!shapes_match || !fusable(stream, checked)) {
    return gru_cell_ops(input_projection, hidden_projection, bhn, hidden, stream);
  }
  mx::array bias = bhn ? *bhn : mx::zeros({h}, mx::float32, stream);
  return mx::array(
      hidden.shape(),
      mx::float32,
      std::make_shared<GRUCell>(stream),
      {dense_float32(input_projection, stream),
       dense_float32(hidden_projection, stream),
       dense_float32(bias, stream),
       dense_float32(hidden, stream)});
}

// LSTMCell

std::vector<mx::Shape> LSTMCell::output_shapes(
    const std::vector<mx::array>& inputs) {
  auto shape = with_last(inputs[0].shape(), inputs[0].shape(-1) / 4);
  return {shape, shape};
}

void LSTMCell::eval_cpu(
    const std::vector<mx::array>& inputs,
    std::vector<mx::array>& outputs) {
  auto& encoder = prepare("LSTMCell", stream(), inputs, outputs);
  size_t h = outputs[0].shape(-1);
  encoder.dispatch([gates = inputs[0].data<float>(),
                    cell = inputs.size() > 1 ? inputs[1].data<float>()
                                             : nullptr,
                    hidden_out = outputs[0].data<float>(),
                    cell_out = outputs[1].data<float>(),
                    rows = h ? outputs[0].size() / h : 0,
                    h]() {
    lstm_forward_kernel(gates, cell, hidden_out, cell_out, rows, h);
  });
}

std::vector<mx::array> LSTMCell::vjp(
    const std::vector<mx::array>& primals,
    const std::vector<mx::array>& cotangents,
    const std::vector<int>& argnums,
    const std::vector<mx::array>& outputs) {
  auto s = stream();
  std::vector<mx::array> inputs = primals;
  inputs.push_back(outputs[1]);
  inputs.push_back(dense_float32(cotangents[0], s));
  inputs.push_back(dense_float32(cotangents[1], s));
  std::vector<mx::Shape> shapes = {primals[0].shape()};
  std::vector<mx::Dtype> dtypes = {mx::float32};
  if (primals.size() > 1) {
    shapes.push_back(primals[1].shape());
    dtypes.push_back(mx::float32);
  }
  auto grads = mx::array::make_arrays(
      shapes, dtypes, std::make_shared<LSTMCellGrad>(s), inputs);
  std::vector<mx::array> result;
  for (int arg : argnums) {
    result.push_back(grads[arg]);
  }
  return result;
}

void LSTMCell::eval_gpu(
    const std::vector<mx::array>&,
    std::vector<mx::array>&) {
  throw std::runtime_error(
      "[LSTMCell] Runs on the CPU only (lstm_cell() uses MLX operations "
      "elsewhere).");
}

// LSTMCellGrad

void LSTMCellGrad::eval_cpu(
    const std::vector<mx::array>& inputs,
    std::vector<mx::array>& outputs) {
  auto& encoder = prepare("LSTMCellGrad", stream(), inputs, outputs);
  bool has_cell = outputs.size() > 1;
  size_t first = has_cell ? 2 : 1;
  size_t h = inputs[first].shape(-1);
  encoder.dispatch([gates = inputs[0].data<float>(),
                    cell = has_cell ? inputs[1].data<float>() : nullptr,
                    cell_out = inputs[first].data<float>(),
                    d_hidden = inputs[first + 1].data<float>(),
                    d_cell = inputs[first + 2].data<float>(),
                    d_gates = outputs[0].data<float>(),
                    d_cell_in = has_cell ? outputs[1].data<float>() : nullptr,
                    rows = h ? inputs[first].size() / h : 0,
                    h]() {
    lstm_backward_kernel(
        gates, cell, cell_out, d_hidden, d_cell, d_gates, d_cell_in, rows, h);
  });
}

void LSTMCellGrad::eval_gpu(
    const std::vector<mx::array>&,
    std::vector<mx::array>&) {
  detail::throw_cpu_only(name());
}

// GRUCell

void GRUCell::eval_cpu(
    const std::vector<mx::array>& inputs,
    mx::array& output) {
  std::vector<mx::array> outputs = {output};
  auto& encoder = prepare("GRUCell", stream(), inputs, outputs);
  size_t h = output.shape(-1);
  encoder.dispatch([input_projection = inputs[0].data<float>(),
                    hidden_projection = inputs[1].data<float>(),
                    bhn = inputs[2].data<float>(),
                    hidden = inputs[3].data<float>(),
                    out = outputs[0].data<float>(),
                    rows = h ? output.size() / h : 0,
                    h]() {
    gru_forward_kernel(
        input_projection, hidden_projection, bhn, hidden, out, rows, h);
  });
}

std::vector<mx::array> GRUCell::vjp(
    const std::vector<mx::array>& primals,
    const std::vector<mx::array>& cotangents,
    const std::vector<int>& argnums,
    const std::vector<mx::array>& outputs) {
  auto s = stream();
  std::vector<mx::array> inputs = primals;
  inputs.push_back(dense_float32(cotangents[0], s));
  auto grads = mx::array::make_arrays(
      {primals[0].shape(), primals[1].shape(), primals[3].shape()},
      {mx::float32, mx::float32, mx::float32},
      std::make_shared<GRUCellGrad>(s),
      inputs);
  std::vector<mx::array> result;
  for (int arg : argnums) {
    if (arg == 2) {
      // bhn enters every row's n gate: sum d(hidden_n) over the rows.
      int h = primals[2].shape(0);
      auto d_hidden_n = mx::split(grads[1], mx::Shape{2 * h}, -1, s)[1];
      auto flat = mx::reshape(d_hidden_n, {-1, h}, s);
      result.push_back(mx::sum(flat, 0, false, s));
    } else {
      result.push_back(grads[arg == 3 ? 2 : arg]);
    }
  }
  return result;
}

void GRUCell::eval_gpu(const std::vector<mx::array>&, mx::array&) {
  throw std::runtime_error(
      "[GRUCell] Runs on the CPU only (gru_cell() uses MLX operations "
      "elsewhere).");
}

// GRUCellGrad

void GRUCellGrad::eval_cpu(
    const std::vector<mx::array>& inputs,
    std::vector<mx::array>& outputs) {
  auto& encoder = prepare("GRUCellGrad", stream(), inputs, outputs);
  size_t h = inputs[3].shape(-1);
  encoder.dispatch([input_projection = inputs[0].data<float>(),
                    hidden_projection = inputs[1].data<float>(),
                    bhn = inputs[2].data<float>(),
                    hidden = inputs[3].data<float>(),
                    d_out = inputs[4].data<float>(),
                    d_input_projection = outputs[0].data<float>(),
                    d_hidden_projection = outputs[1].data<float>(),
                    d_hidden = outputs[2].data<float>(),
                    rows = h ? inputs[3].size() / h : 0,
                    h]() {
    gru_backward_kernel(
        input_projection,
        hidden_projection,
        bhn,
        hidden,
        d_out,
        d_input_projection,
        d_hidden_projection,
        d_hidden,
        rows,
        h);
  });
}

void GRUCellGrad::eval_gpu(
    const std::vector<mx::array>&,
    std::vector<mx::array>&) {
  detail::throw_cpu_only(name());
}

} // namespace rmlx::nn
