#include "rmlx/nn/recurrent_sequence.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "layer_utils.h"
#include "recurrent_sequence_kernels.h"
#include "recurrent_kernels.h"

namespace rmlx::nn {

namespace {

using detail::dense_float32;
using detail::fusable;
using detail::GRUBackwardData;
using detail::GRUForwardData;
using detail::LSTMBackwardData;
using detail::LSTMForwardData;
using detail::prepare;
using detail::Rows;
using detail::SequenceDims;

// The optional inputs of the forward primitives, in their order after
// projected and wh. LSTMSequence never has kHiddenBias, GRUSequence never
// kCell.
enum Slot { kBias, kHiddenBias, kHidden, kCell, kLengths, kSlotCount };

using OptionalInputs = std::array<std::optional<mx::array>, kSlotCount>;

std::array<bool, kSlotCount> present_slots(const SequenceLayout& layout) {
  return {layout.has_bias, layout.has_hidden_bias, layout.has_hidden,
          layout.has_cell, layout.has_lengths};
}

// Returns the optional inputs of a forward primitive by slot.
OptionalInputs optional_inputs(
    const std::vector<mx::array>& inputs,
    const SequenceLayout& layout) {
  OptionalInputs out;
  size_t next = 2;
  auto present = present_slots(layout);
  for (int slot = 0; slot < kSlotCount; ++slot) {
    if (present[slot]) {
      out[slot] = inputs.at(next++);
    }
  }
  return out;
}

// Returns the data of `a`, or null when it is absent.
template <typename T>
const T* data_or_null(const std::optional<mx::array>& a) {
  return a ? a->data<T>() : nullptr;
}

// Returns the data of `a`, or `fallback` when it is absent.
const float* data_or(const std::optional<mx::array>& a, const float* fallback) {
  return a ? a->data<float>() : fallback;
}

// Returns the float32 arrays among a forward primitive's inputs: all but
// lengths.
std::vector<mx::array> float_inputs(
    const std::vector<mx::array>& inputs,
    const SequenceLayout& layout) {
  size_t count = inputs.size() - (layout.has_lengths ? 1 : 0);
  return {inputs.begin(), inputs.begin() + count};
}

// Checks the shapes of the arguments of a sequence function with `gates`
// gates. Throws std::invalid_argument naming `op`.
void check_sequence_shapes(
    const char* op,
    int gates,
    const mx::array& projected,
    const mx::array& wh,
    const std::optional<mx::array>& bias,
    const std::vector<std::optional<mx::array>>& states,
    const std::optional<mx::array>& bhn,
    const std::optional<mx::array>& lengths) {
  std::ostringstream msg;
  msg << "[" << op << "] ";
  bool batched = projected.ndim() == 3;
  if (wh.ndim() != 2 || wh.shape(0) != gates * wh.shape(1) ||
      wh.shape(1) == 0) {
    msg << "Expected wh of shape (" << gates << " * H, H) but received "
        << detail::shape_string(wh.shape()) << ".";
    throw std::invalid_argument(msg.str());
  }
  int h = wh.shape(1);
  if ((projected.ndim() != 2 && !batched) || projected.shape(-1) != gates * h ||
      projected.shape(-2) == 0) {
    msg << "Expected projected of shape (N, L, " << gates * h << ") or (L, "
        << gates * h << ") with L > 0 for wh of shape "
        << detail::shape_string(wh.shape()) << " but received "
        << detail::shape_string(projected.shape()) << ".";
    throw std::invalid_argument(msg.str());
  }
  if (bias && bias->shape() != mx::Shape{gates * h}) {
    msg << "Expected bias of shape (" << gates * h << ",) but received "
        << detail::shape_string(bias->shape()) << ".";
    throw std::invalid_argument(msg.str());
  }
  mx::Shape state_shape = {h};
  if (batched) {
    state_shape.insert(state_shape.begin(), projected.shape(0));
  }
  for (const auto& state : states) {
    if (state && state->shape() != state_shape) {
      msg << "Expected initial states of shape "
          << detail::shape_string(state_shape) << " but received "
          << detail::shape_string(state->shape()) << ".";
      throw std::invalid_argument(msg.str());
    }
  }
  if (bhn && bhn->shape() != mx::Shape{h}) {
    msg << "Expected bhn of shape (" << h << ",) but received "
        << detail::shape_string(bhn->shape()) << ".";
    throw std::invalid_argument(msg.str());
  }
  if (lengths &&
      (!batched || lengths->shape() != mx::Shape{projected.shape(0)})) {
    msg << "Expected lengths of shape (N,) for a batched projected of shape "
        << "(N, L, " << gates * h << ") but received lengths of shape "
        << detail::shape_string(lengths->shape()) << " and projected of "
        << "shape " << detail::shape_string(projected.shape()) << ".";
    throw std::invalid_argument(msg.str());
  }
}

SequenceDims dims_of(const mx::array& sequence, bool reverse) {
  return {static_cast<size_t>(sequence.shape(0)),
          static_cast<size_t>(sequence.shape(1)),
          static_cast<size_t>(sequence.shape(2)), reverse};
}

// Adds a leading batch axis of 1 to an unbatched array.
mx::array batch_of_one(const mx::array& a, bool batched, mx::Stream s) {
  return batched ? a : mx::expand_dims(a, 0, s);
}

// Removes the batch axis that batch_of_one() added.
std::vector<mx::array> unbatch(
    std::vector<mx::array> outputs,
    bool batched,
    mx::Stream s) {
  if (!batched) {
    for (auto& out : outputs) {
      out = mx::squeeze(out, 0, s);
    }
  }
  return outputs;
}

// Builds a forward primitive's inputs from the arguments of
// lstm_sequence() or gru_sequence(), with unbatched arrays given a batch
// axis of 1, and its layout.
std::vector<mx::array> sequence_inputs(
    const mx::array& projected,
    const mx::array& wh,
    const OptionalInputs& optional,
    SequenceLayout& layout,
    mx::Stream s) {
  bool batched = projected.ndim() == 3;
  layout.has_bias = optional[kBias].has_value();
  layout.has_hidden_bias = optional[kHiddenBias].has_value();
  layout.has_hidden = optional[kHidden].has_value();
  layout.has_cell = optional[kCell].has_value();
  layout.has_lengths = optional[kLengths].has_value();
  std::vector<mx::array> inputs = {
      dense_float32(batch_of_one(projected, batched, s), s),
      dense_float32(wh, s)};
  for (int slot = 0; slot < kLengths; ++slot) {
    if (!optional[slot]) {
      continue;
    }
    bool is_state = slot == kHidden || slot == kCell;
    mx::array value = is_state
        ? batch_of_one(*optional[slot], batched, s)
        : *optional[slot];
    inputs.push_back(dense_float32(value, s));
  }
  if (optional[kLengths]) {
    inputs.push_back(mx::contiguous(
        mx::astype(*optional[kLengths], mx::int32, s), false, s));
  }
  return inputs;
}

// Returns the rows of a float32 cotangent of shape (N, L, H) or (N, H):
// its own data when it is row-contiguous, one repeated row when it holds a
// single value (as the zeros that MLX passes for an unused output), and
// otherwise a row-contiguous copy kept in `storage`. It reads the data, so
// it runs inside the dispatched task.
Rows cotangent_rows(const mx::array& a, std::vector<float>& storage) {
  size_t h = a.shape(-1);
  const float* source = a.data<float>();
  if (a.flags().row_contiguous) {
    return {source, h};
  }
  if (a.data_size() == 1) {
    storage.assign(h, source[0]);
    return {storage.data(), 0};
  }
  storage.resize(a.size());
  std::vector<int> index(a.ndim(), 0);
  for (size_t i = 0; i < a.size(); ++i) {
    int64_t offset = 0;
    for (size_t d = 0; d < a.ndim(); ++d) {
      offset += index[d] * a.strides()[d];
    }
    storage[i] = source[offset];
    for (int d = static_cast<int>(a.ndim()) - 1; d >= 0; --d) {
      if (++index[d] < a.shape(d)) {
        break;
      }
      index[d] = 0;
    }
  }
  return {storage.data(), h};
}

// Returns the gradient of W_h from the gradient of the hidden projection
// h W_h^T (N, L, G * H) and the hidden state before each step (N, L, H):
// one product over all N * L rows.
mx::array weight_gradient(
    const mx::array& d_product,
    const mx::array& hidden_before,
    mx::Stream s) {
  int width = d_product.shape(-1);
  int h = hidden_before.shape(-1);
  auto rows = mx::reshape(d_product, {-1, width}, s);
  auto states = mx::reshape(hidden_before, {-1, h}, s);
  return mx::matmul(mx::transpose(rows, s), states, s);
}

// Picks the gradients of `argnums` from `by_input`, the gradient of each
// input by index; a missing entry (lengths) gets zeros.
std::vector<mx::array> select_gradients(
    const std::vector<std::optional<mx::array>>& by_input,
    const std::vector<mx::array>& primals,
    const std::vector<int>& argnums,
    mx::Stream s) {
  std::vector<mx::array> result;
  for (int arg : argnums) {
    const auto& grad = by_input.at(arg);
    result.push_back(grad ? *grad : mx::zeros_like(primals[arg], s));
  }
  return result;
}

// Returns the gradients of a forward primitive's inputs, in input order:
// projected, wh, then the optional inputs in slot order. `gradients`
// contains the gradient of each slot's input, and none for lengths.
std::vector<std::optional<mx::array>> gradients_by_input(
    const mx::array& d_projected,
    const mx::array& d_wh,
    const SequenceLayout& layout,
    const std::array<std::optional<mx::array>, kSlotCount>& gradients) {
  std::vector<std::optional<mx::array>> out = {d_projected, d_wh};
  auto present = present_slots(layout);
  for (int slot = 0; slot < kSlotCount; ++slot) {
    if (present[slot]) {
      out.push_back(gradients[slot]);
    }
  }
  return out;
}

// Returns the sum of a gradient (N, L, width) over its first two axes, the
// gradient of a bias added at every step of every sequence.
mx::array sum_over_steps(const mx::array& gradient, mx::Stream s) {
  return mx::sum(gradient, {0, 1}, false, s);
}

} // namespace

// lstm_sequence and gru_sequence

std::optional<std::vector<mx::array>> lstm_sequence(
    const mx::array& projected,
    const mx::array& wh,
    const std::optional<mx::array>& bias,
    const std::optional<mx::array>& hidden,
    const std::optional<mx::array>& cell,
    const std::optional<mx::array>& lengths,
    bool reverse,
    mx::StreamOrDevice s) {
  check_sequence_shapes(
      "lstm_sequence", 4, projected, wh, bias, {hidden, cell}, std::nullopt,
      lengths);
  auto stream = mx::to_stream(s);
  OptionalInputs optional;
  optional[kBias] = bias;
  optional[kHidden] = hidden;
  optional[kCell] = cell;
  optional[kLengths] = lengths;
  std::vector<mx::array> checked = {projected, wh};
  for (int slot = 0; slot < kLengths; ++slot) {
    if (optional[slot]) {
      checked.push_back(*optional[slot]);
    }
  }
  if (!fusable(stream, checked)) {
    return std::nullopt;
  }

  SequenceLayout layout;
  layout.reverse = reverse;
  auto inputs = sequence_inputs(projected, wh, optional, layout, stream);
  auto primitive = std::make_shared<LSTMSequence>(stream, layout);
  auto shapes = primitive->output_shapes(inputs);
  std::vector<mx::Dtype> dtypes(shapes.size(), mx::float32);
  auto outputs = mx::array::make_arrays(shapes, dtypes, primitive, inputs);
  outputs.erase(outputs.begin() + 4, outputs.end());
  return unbatch(std::move(outputs), projected.ndim() == 3, stream);
}

std::optional<std::vector<mx::array>> gru_sequence(
    const mx::array& projected,
    const mx::array& wh,
    const std::optional<mx::array>& bias,
    const std::optional<mx::array>& bhn,
    const std::optional<mx::array>& hidden,
    const std::optional<mx::array>& lengths,
    bool reverse,
    mx::StreamOrDevice s) {
  check_sequence_shapes(
      "gru_sequence", 3, projected, wh, bias, {hidden}, bhn, lengths);
  auto stream = mx::to_stream(s);
  OptionalInputs optional;
  optional[kBias] = bias;
  optional[kHiddenBias] = bhn;
  optional[kHidden] = hidden;
  optional[kLengths] = lengths;
  std::vector<mx::array> checked = {projected, wh};
  for (int slot = 0; slot < kLengths; ++slot) {
    if (optional[slot]) {
      checked.push_back(*optional[slot]);
    }
  }
  if (!fusable(stream, checked)) {
    return std::nullopt;
  }

  SequenceLayout layout;
  layout.reverse = reverse;
  auto inputs = sequence_inputs(projected, wh, optional, layout, stream);
  auto primitive = std::make_shared<GRUSequence>(stream, layout);
  auto shapes = primitive->output_shapes(inputs);
  std::vector<mx::Dtype> dtypes(shapes.size(), mx::float32);
  auto outputs = mx::array::make_arrays(shapes, dtypes, primitive, inputs);
  outputs.erase(outputs.begin() + 2, outputs.end());
  return unbatch(std::move(outputs), projected.ndim() == 3, stream);
}

// LSTMSequence

std::vector<mx::Shape> LSTMSequence::output_shapes(
    const std::vector<mx::array>& inputs) {
  const auto& projected = inputs[0];
  int n = projected.shape(0);
  int steps = projected.shape(1);
  int h = inputs[1].shape(1);
  mx::Shape sequence = {n, steps, h};
  mx::Shape state = {n, h};
  return {sequence, sequence, state, state,
          sequence, sequence, {n, steps, 4 * h}};
}

bool LSTMSequence::is_equivalent(const mx::Primitive& other) const {
  return layout_ == static_cast<const LSTMSequence&>(other).layout_;
}

void LSTMSequence::eval_cpu(
    const std::vector<mx::array>& inputs,
    std::vector<mx::array>& outputs) {
  auto optional = optional_inputs(inputs, layout_);
  auto& encoder = prepare(
      "LSTMSequence", stream(), float_inputs(inputs, layout_), outputs);
  if (optional[kLengths]) {
    encoder.set_input_array(*optional[kLengths]);
  }
  auto dims = dims_of(outputs[0], layout_.reverse);
  // Without a bias the kernel adds zeros.
  auto zeros = std::make_shared<std::vector<float>>(4 * dims.hidden, 0.0f);
  LSTMForwardData data{
      inputs[0].data<float>(),
      data_or(optional[kBias], zeros->data()),
      inputs[1].data<float>(),
      data_or_null<float>(optional[kHidden]),
      data_or_null<float>(optional[kCell]),
      data_or_null<int32_t>(optional[kLengths]),
      outputs[0].data<float>(),
      outputs[1].data<float>(),
      outputs[2].data<float>(),
      outputs[3].data<float>(),
      outputs[4].data<float>(),
      outputs[5].data<float>(),
      outputs[6].data<float>()};
  encoder.dispatch([data, dims, zeros]() {
    detail::lstm_sequence_forward(data, dims);
  });
}

std::vector<mx::array> LSTMSequence::vjp(
    const std::vector<mx::array>& primals,
    const std::vector<mx::array>& cotangents,
    const std::vector<int>& argnums,
    const std::vector<mx::array>& outputs) {
  auto s = stream();
  auto optional = optional_inputs(primals, layout_);
  std::vector<mx::array> inputs = {primals[1], outputs[6], outputs[5],
                                   outputs[1]};
  if (optional[kLengths]) {
    inputs.push_back(*optional[kLengths]);
  }
  for (int i = 0; i < 4; ++i) {
    inputs.push_back(mx::astype(cotangents[i], mx::float32, s));
  }
  const auto& projected = primals[0];
  mx::Shape state = {projected.shape(0), primals[1].shape(1)};
  auto grads = mx::array::make_arrays(
      {projected.shape(), state, state},
      {mx::float32, mx::float32, mx::float32},
      std::make_shared<LSTMSequenceGrad>(s, layout_),
      inputs);

  std::array<std::optional<mx::array>, kSlotCount> by_slot;
  by_slot[kBias] = sum_over_steps(grads[0], s);
  by_slot[kHidden] = grads[1];
  by_slot[kCell] = grads[2];
  auto by_input = gradients_by_input(
      grads[0], weight_gradient(grads[0], outputs[4], s), layout_, by_slot);
  return select_gradients(by_input, primals, argnums, s);
}

void LSTMSequence::eval_gpu(
    const std::vector<mx::array>&,
    std::vector<mx::array>&) {
  throw std::runtime_error(
      "[LSTMSequence] Runs on the CPU only (lstm_sequence() returns no "
      "result elsewhere).");
}

// LSTMSequenceGrad

bool LSTMSequenceGrad::is_equivalent(const mx::Primitive& other) const {
  return layout_ == static_cast<const LSTMSequenceGrad&>(other).layout_;
}

void LSTMSequenceGrad::eval_cpu(
    const std::vector<mx::array>& inputs,
    std::vector<mx::array>& outputs) {
  std::vector<mx::array> saved(inputs.begin(), inputs.begin() + 4);
  auto& encoder = prepare("LSTMSequenceGrad", stream(), saved, outputs);
  size_t first_cotangent = layout_.has_lengths ? 5 : 4;
  const int32_t* lengths = nullptr;
  if (layout_.has_lengths) {
    encoder.set_input_array(inputs[4]);
    lengths = inputs[4].data<int32_t>();
  }
  std::vector<mx::array> cotangents(
      inputs.begin() + first_cotangent, inputs.end());
  for (const auto& cotangent : cotangents) {
    encoder.set_input_array(cotangent);
  }
  LSTMBackwardData data{
      inputs[0].data<float>(),
      inputs[1].data<float>(),
      inputs[2].data<float>(),
      inputs[3].data<float>(),
      lengths,
      {},
      {},
      {},
      {},
      outputs[0].data<float>(),
      outputs[1].data<float>(),
      outputs[2].data<float>()};
  encoder.dispatch([data, cotangents, dims = dims_of(inputs[3], layout_.reverse)]() mutable {
    std::array<std::vector<float>, 4> storage;
    data.d_hidden_out = cotangent_rows(cotangents[0], storage[0]);
    data.d_cell_out = cotangent_rows(cotangents[1], storage[1]);
    data.d_final_hidden = cotangent_rows(cotangents[2], storage[2]);
    data.d_final_cell = cotangent_rows(cotangents[3], storage[3]);
    detail::lstm_sequence_backward(data, dims);
  });
}

void LSTMSequenceGrad::eval_gpu(
    const std::vector<mx::array>&,
    std::vector<mx::array>&) {
  throw std::runtime_error("[LSTMSequenceGrad] Runs on the CPU only.");
}

// GRUSequence

std::vector<mx::Shape> GRUSequence::output_shapes(
    const std::vector<mx::array>& inputs) {
  const auto& projected = inputs[0];
  int n = projected.shape(0);
  int steps = projected.shape(1);
  int h = inputs[1].shape(1);
  mx::Shape sequence = {n, steps, h};
  return {sequence, {n, h}, sequence, {n, steps, 4 * h}};
}

bool GRUSequence::is_equivalent(const mx::Primitive& other) const {
  return layout_ == static_cast<const GRUSequence&>(other).layout_;
}

void GRUSequence::eval_cpu(
    const std::vector<mx::array>& inputs,
    std::vector<mx::array>& outputs) {
  auto optional = optional_inputs(inputs, layout_);
  auto& encoder = prepare(
      "GRUSequence", stream(), float_inputs(inputs, layout_), outputs);
  if (optional[kLengths]) {
    encoder.set_input_array(*optional[kLengths]);
  }
  auto dims = dims_of(outputs[0], layout_.reverse);
  // Without biases the kernel adds zeros.
  auto zeros = std::make_shared<std::vector<float>>(3 * dims.hidden, 0.0f);
  GRUForwardData data{
      inputs[0].data<float>(),
      data_or(optional[kBias], zeros->data()),
      inputs[1].data<float>(),
      data_or(optional[kHiddenBias], zeros->data()),
      data_or_null<float>(optional[kHidden]),
      data_or_null<int32_t>(optional[kLengths]),
      outputs[0].data<float>(),
      outputs[1].data<float>(),
      outputs[2].data<float>(),
      outputs[3].data<float>()};
  encoder.dispatch([data, dims, zeros]() {
    detail::gru_sequence_forward(data, dims);
  });
}

std::vector<mx::array> GRUSequence::vjp(
    const std::vector<mx::array>& primals,
    const std::vector<mx::array>& cotangents,
    const std::vector<int>& argnums,
    const std::vector<mx::array>& outputs) {
  auto s = stream();
  auto optional = optional_inputs(primals, layout_);
  std::vector<mx::array> inputs = {primals[1], outputs[3], outputs[2]};
  if (optional[kLengths]) {
    inputs.push_back(*optional[kLengths]);
  }
  inputs.push_back(mx::astype(cotangents[0], mx::float32, s));
  inputs.push_back(mx::astype(cotangents[1], mx::float32, s));
  const auto& projected = primals[0];
  int h = primals[1].shape(1);
  auto grads = mx::array::make_arrays(
      {projected.shape(), projected.shape(), {projected.shape(0), h}},
      {mx::float32, mx::float32, mx::float32},
      std::make_shared<GRUSequenceGrad>(s, layout_),
      inputs);

  std::array<std::optional<mx::array>, kSlotCount> by_slot;
  by_slot[kBias] = sum_over_steps(grads[0], s);
  // bhn enters the hidden projection of n at every step of every row.
  auto d_hidden_n = mx::slice(
      grads[1], {0, 0, 2 * h}, {projected.shape(0), projected.shape(1), 3 * h},
      s);
  by_slot[kHiddenBias] = sum_over_steps(d_hidden_n, s);
  by_slot[kHidden] = grads[2];
  auto by_input = gradients_by_input(
      grads[0], weight_gradient(grads[1], outputs[2], s), layout_, by_slot);
  return select_gradients(by_input, primals, argnums, s);
}

void GRUSequence::eval_gpu(
    const std::vector<mx::array>&,
    std::vector<mx::array>&) {
  throw std::runtime_error(
      "[GRUSequence] Runs on the CPU only (gru_sequence() returns no result "
      "elsewhere).");
}

// GRUSequenceGrad

bool GRUSequenceGrad::is_equivalent(const mx::Primitive& other) const {
  return layout_ == static_cast<const GRUSequenceGrad&>(other).layout_;
}

void GRUSequenceGrad::eval_cpu(
    const std::vector<mx::array>& inputs,
    std::vector<mx::array>& outputs) {
  std::vector<mx::array> saved(inputs.begin(), inputs.begin() + 3);
  auto& encoder = prepare("GRUSequenceGrad", stream(), saved, outputs);
  size_t first_cotangent = layout_.has_lengths ? 4 : 3;
  const int32_t* lengths = nullptr;
  if (layout_.has_lengths) {
    encoder.set_input_array(inputs[3]);
    lengths = inputs[3].data<int32_t>();
  }
  std::vector<mx::array> cotangents(
      inputs.begin() + first_cotangent, inputs.end());
  for (const auto& cotangent : cotangents) {
    encoder.set_input_array(cotangent);
  }
  GRUBackwardData data{
      inputs[0].data<float>(),
      inputs[1].data<float>(),
      inputs[2].data<float>(),
      lengths,
      {},
      {},
      outputs[0].data<float>(),
      outputs[1].data<float>(),
      outputs[2].data<float>()};
  encoder.dispatch([data, cotangents, dims = dims_of(inputs[2], layout_.reverse)]() mutable {
    std::array<std::vector<float>, 2> storage;
    data.d_hidden_out = cotangent_rows(cotangents[0], storage[0]);
    data.d_final_hidden = cotangent_rows(cotangents[1], storage[1]);
    detail::gru_sequence_backward(data, dims);
  });
}

void GRUSequenceGrad::eval_gpu(
    const std::vector<mx::array>&,
    std::vector<mx::array>&) {
  throw std::runtime_error("[GRUSequenceGrad] Runs on the CPU only.");
}

} // namespace rmlx::nn
