#include "rmlx/nn/recurrent_sequence.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
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

// The inputs that every forward primitive has, x, wx and wh, come first.
constexpr size_t kRequiredInputs = 3;

// The optional inputs of the forward primitives, in their order after the
// required ones. LSTMSequence never has kHiddenBias, GRUSequence never
// kCell.
enum Slot { kBias, kHiddenBias, kHidden, kCell, kLengths, kSlotCount };

using OptionalInputs = std::array<std::optional<mx::array>, kSlotCount>;

std::array<bool, kSlotCount> present_slots(const SequenceLayout& layout) {
  return {layout.has_bias, layout.has_hidden_bias, layout.has_hidden,
          layout.has_cell, layout.has_lengths};
}

SequenceLayout layout_of(const OptionalInputs& optional, bool reverse) {
  SequenceLayout layout;
  layout.has_bias = optional[kBias].has_value();
  layout.has_hidden_bias = optional[kHiddenBias].has_value();
  layout.has_hidden = optional[kHidden].has_value();
  layout.has_cell = optional[kCell].has_value();
  layout.has_lengths = optional[kLengths].has_value();
  layout.reverse = reverse;
  return layout;
}

// Returns the optional inputs of a forward primitive by slot.
OptionalInputs optional_inputs(
    const std::vector<mx::array>& inputs,
    const SequenceLayout& layout) {
  OptionalInputs out;
  size_t next = kRequiredInputs;
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

// Returns the float32 arrays among a forward primitive's inputs: all but
// lengths, which comes last.
std::vector<mx::array> float_inputs(
    const std::vector<mx::array>& inputs,
    const SequenceLayout& layout) {
  size_t count = inputs.size() - (layout.has_lengths ? 1 : 0);
  return {inputs.begin(), inputs.begin() + count};
}

// Returns the sizes of a forward primitive's batched inputs.
SequenceDims dims_of(
    const mx::array& x,
    const mx::array& wh,
    const SequenceLayout& layout) {
  return {static_cast<size_t>(x.shape(0)), static_cast<size_t>(x.shape(1)),
          static_cast<size_t>(x.shape(2)), static_cast<size_t>(wh.shape(1)),
          layout.reverse};
}

// Throws std::invalid_argument for `op` with `message`.
[[noreturn]] void invalid(const char* op, const std::string& message) {
  throw std::invalid_argument(std::string("[") + op + "] " + message);
}

// Checks the shapes of the arguments of a sequence function with `gates`
// gates. Throws std::invalid_argument naming `op`.
void check_sequence_shapes(
    const char* op,
    int gates,
    const mx::array& x,
    const mx::array& wx,
    const mx::array& wh,
    const OptionalInputs& optional) {
  std::ostringstream msg;
  if (wh.ndim() != 2 || wh.shape(0) != gates * wh.shape(1) ||
      wh.shape(1) == 0) {
    msg << "Expected wh of shape (" << gates << " * H, H) but received "
        << detail::shape_string(wh.shape()) << ".";
    invalid(op, msg.str());
  }
  int h = wh.shape(1);
  bool batched = x.ndim() == 3;
  if ((x.ndim() != 2 && !batched) || x.shape(-2) == 0 || x.shape(-1) == 0) {
    msg << "Expected x of shape (N, L, D) or (L, D) with L > 0 and D > 0 "
        << "but received " << detail::shape_string(x.shape()) << ".";
    invalid(op, msg.str());
  }
  mx::Shape wx_shape = {gates * h, x.shape(-1)};
  if (wx.shape() != wx_shape) {
    msg << "Expected wx of shape " << detail::shape_string(wx_shape)
        << " for x of shape " << detail::shape_string(x.shape())
        << " and wh of shape " << detail::shape_string(wh.shape())
        << " but received " << detail::shape_string(wx.shape()) << ".";
    invalid(op, msg.str());
  }
  const auto& bias = optional[kBias];
  if (bias && bias->shape() != mx::Shape{gates * h}) {
    msg << "Expected bias of shape (" << gates * h << ",) but received "
        << detail::shape_string(bias->shape()) << ".";
    invalid(op, msg.str());
  }
  const auto& bhn = optional[kHiddenBias];
  if (bhn && bhn->shape() != mx::Shape{h}) {
    msg << "Expected bhn of shape (" << h << ",) but received "
        << detail::shape_string(bhn->shape()) << ".";
    invalid(op, msg.str());
  }
  mx::Shape state_shape = {h};
  if (batched) {
    state_shape.insert(state_shape.begin(), x.shape(0));
  }
  for (int slot : {kHidden, kCell}) {
    const auto& state = optional[slot];
    if (state && state->shape() != state_shape) {
      msg << "Expected initial states of shape "
          << detail::shape_string(state_shape) << " but received "
          << detail::shape_string(state->shape()) << ".";
      invalid(op, msg.str());
    }
  }
  const auto& lengths = optional[kLengths];
  if (lengths && (!batched || lengths->shape() != mx::Shape{x.shape(0)})) {
    msg << "Expected lengths of shape (N,) for a batched x of shape "
        << "(N, L, D) but received lengths of shape "
        << detail::shape_string(lengths->shape()) << " and x of shape "
        << detail::shape_string(x.shape()) << ".";
    invalid(op, msg.str());
  }
}

// True when the sequence kernels apply: see lstm_sequence().
bool kernels_apply(
    mx::Stream stream,
    const mx::array& x,
    const mx::array& wx,
    const mx::array& wh,
    const OptionalInputs& optional) {
  std::vector<mx::array> checked = {x, wx, wh};
  for (int slot = 0; slot < kLengths; ++slot) {
    if (optional[slot]) {
      checked.push_back(*optional[slot]);
    }
  }
  return fusable(stream, checked);
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

// Builds a forward primitive's inputs, with x and the states of an
// unbatched sequence given a batch axis of 1.
std::vector<mx::array> sequence_inputs(
    const mx::array& x,
    const mx::array& wx,
    const mx::array& wh,
    const OptionalInputs& optional,
    mx::Stream s) {
  bool batched = x.ndim() == 3;
  std::vector<mx::array> inputs = {
      dense_float32(batch_of_one(x, batched, s), s), dense_float32(wx, s),
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

// Builds the outputs of a forward primitive and returns the first
// `returned` of them, without the batch axis for an unbatched x.
std::vector<mx::array> make_sequence_outputs(
    std::shared_ptr<mx::Primitive> primitive,
    const std::vector<mx::array>& inputs,
    size_t returned,
    bool batched,
    mx::Stream s) {
  auto shapes = primitive->output_shapes(inputs);
  std::vector<mx::Dtype> dtypes(shapes.size(), mx::float32);
  auto outputs = mx::array::make_arrays(shapes, dtypes, primitive, inputs);
  outputs.erase(outputs.begin() + returned, outputs.end());
  return unbatch(std::move(outputs), batched, s);
}

// Returns the rows of a float32 cotangent of shape (N, L, H) or (N, H).
// They are its own data when it is row-contiguous, and one repeated row
// when it has a single value, as the zeros that MLX passes for an unused
// output. Otherwise they are a row-contiguous copy kept in `storage`. It
// reads the data, so it runs inside the dispatched task.
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

// Returns rows [first, last) of a matrix.
mx::array rows_of(const mx::array& m, int first, int last, mx::Stream s) {
  return mx::slice(m, {first, 0}, {last, m.shape(1)}, s);
}

// Returns the gradients of `argnums` from the gradient of each input,
// zeros for an input without one (lengths).
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

// Returns the gradients of a forward primitive's inputs in input order,
// from those of x, wx and wh and of each optional input by slot.
std::vector<std::optional<mx::array>> gradients_by_input(
    std::optional<mx::array> d_x,
    mx::array d_wx,
    mx::array d_wh,
    const SequenceLayout& layout,
    const OptionalInputs& by_slot) {
  std::vector<std::optional<mx::array>> out = {d_x, d_wx, d_wh};
  auto present = present_slots(layout);
  for (int slot = 0; slot < kSlotCount; ++slot) {
    if (present[slot]) {
      out.push_back(by_slot[slot]);
    }
  }
  return out;
}

bool wants_input_gradient(const std::vector<int>& argnums) {
  return std::find(argnums.begin(), argnums.end(), 0) != argnums.end();
}

// Registers the cotangents, the inputs from `first` on, with the encoder.
// They may have any strides, so prepare() does not check them.
std::vector<mx::array> register_cotangents(
    mx::cpu::CommandEncoder& encoder,
    const std::vector<mx::array>& inputs,
    size_t first) {
  std::vector<mx::array> cotangents(inputs.begin() + first, inputs.end());
  for (const auto& cotangent : cotangents) {
    encoder.set_input_array(cotangent);
  }
  return cotangents;
}

// Registers the lengths (when the layout has them) and then the cotangents
// of a backward primitive's inputs with the encoder, and returns the
// lengths' data (or nullptr) and the cotangents. The saved inputs come
// first, then the lengths, then the cotangents.
std::pair<const int32_t*, std::vector<mx::array>> register_backward_inputs(
    mx::cpu::CommandEncoder& encoder,
    const std::vector<mx::array>& inputs,
    const SequenceLayout& layout) {
  const int32_t* lengths = nullptr;
  if (layout.has_lengths) {
    encoder.set_input_array(inputs[4]);
    lengths = inputs[4].data<int32_t>();
  }
  size_t first_cotangent = layout.has_lengths ? 5 : 4;
  return {lengths, register_cotangents(encoder, inputs, first_cotangent)};
}

// Lists a backward primitive's inputs in the order that
// register_backward_inputs() reads them: the four saved arrays, the
// lengths when there are any, then the first `count` cotangents as float32.
std::vector<mx::array> backward_inputs(
    std::vector<mx::array> saved,
    const OptionalInputs& optional,
    const std::vector<mx::array>& cotangents,
    size_t count,
    mx::Stream s) {
  if (optional[kLengths]) {
    saved.push_back(*optional[kLengths]);
  }
  for (size_t i = 0; i < count; ++i) {
    saved.push_back(mx::astype(cotangents[i], mx::float32, s));
  }
  return saved;
}

// The sizes of a backward primitive's sequence: inputs[2] is the saved
// (N, L, D + H + 1) rows, inputs[0] W_x and inputs[1] W_h.
SequenceDims backward_dims(
    const std::vector<mx::array>& inputs,
    const SequenceLayout& layout) {
  const auto& rows = inputs[2];
  return SequenceDims{
      static_cast<size_t>(rows.shape(0)), static_cast<size_t>(rows.shape(1)),
      static_cast<size_t>(inputs[0].shape(1)),
      static_cast<size_t>(inputs[1].shape(1)), layout.reverse};
}

} // namespace

// lstm_sequence and gru_sequence

std::optional<std::vector<mx::array>> lstm_sequence(
    const mx::array& x,
    const mx::array& wx,
    const mx::array& wh,
    const std::optional<mx::array>& bias,
    const std::optional<mx::array>& hidden,
    const std::optional<mx::array>& cell,
    const std::optional<mx::array>& lengths,
    bool reverse,
    mx::StreamOrDevice s) {
  OptionalInputs optional;
  optional[kBias] = bias;
  optional[kHidden] = hidden;
  optional[kCell] = cell;
  optional[kLengths] = lengths;
  check_sequence_shapes("lstm_sequence", 4, x, wx, wh, optional);
  auto stream = mx::to_stream(s);
  if (!kernels_apply(stream, x, wx, wh, optional)) {
    return std::nullopt;
  }
  auto primitive =
      std::make_shared<LSTMSequence>(stream, layout_of(optional, reverse));
  return make_sequence_outputs(
      primitive, sequence_inputs(x, wx, wh, optional, stream), 4,
      x.ndim() == 3, stream);
}

std::optional<std::vector<mx::array>> gru_sequence(
    const mx::array& x,
    const mx::array& wx,
    const mx::array& wh,
    const std::optional<mx::array>& bias,
    const std::optional<mx::array>& bhn,
    const std::optional<mx::array>& hidden,
    const std::optional<mx::array>& lengths,
    bool reverse,
    mx::StreamOrDevice s) {
  OptionalInputs optional;
  optional[kBias] = bias;
  optional[kHiddenBias] = bhn;
  optional[kHidden] = hidden;
  optional[kLengths] = lengths;
  check_sequence_shapes("gru_sequence", 3, x, wx, wh, optional);
  auto stream = mx::to_stream(s);
  if (!kernels_apply(stream, x, wx, wh, optional)) {
    return std::nullopt;
  }
  auto primitive =
      std::make_shared<GRUSequence>(stream, layout_of(optional, reverse));
  return make_sequence_outputs(
      primitive, sequence_inputs(x, wx, wh, optional, stream), 2,
      x.ndim() == 3, stream);
}

// SequencePrimitive and SequenceGradPrimitive

void SequencePrimitive::eval_gpu(
    const std::vector<mx::array>&,
    std::vector<mx::array>&) {
  detail::throw_cpu_only(name());
}

bool SequencePrimitive::is_equivalent(const mx::Primitive& other) const {
  return layout_ == static_cast<const SequencePrimitive&>(other).layout_;
}

bool SequenceGradPrimitive::is_equivalent(const mx::Primitive& other) const {
  const auto& grad = static_cast<const SequenceGradPrimitive&>(other);
  return layout_ == grad.layout_ && with_input_ == grad.with_input_;
}

// LSTMSequence

std::vector<mx::Shape> LSTMSequence::output_shapes(
    const std::vector<mx::array>& inputs) {
  auto dims = dims_of(inputs[0], inputs[2], layout_);
  int n = dims.batch;
  int steps = dims.steps;
  int h = dims.hidden;
  mx::Shape sequence = {n, steps, h};
  mx::Shape state = {n, h};
  int width = detail::input_width(dims);
  return {sequence, sequence, state, state, {n, steps, width},
          {steps, n, 6 * h}};
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
  LSTMForwardData data{
      inputs[0].data<float>(),
      inputs[1].data<float>(),
      inputs[2].data<float>(),
      data_or_null<float>(optional[kBias]),
      data_or_null<float>(optional[kHidden]),
      data_or_null<float>(optional[kCell]),
      data_or_null<int32_t>(optional[kLengths]),
      outputs[0].data<float>(),
      outputs[1].data<float>(),
      outputs[2].data<float>(),
      outputs[3].data<float>(),
      outputs[4].data<float>(),
      outputs[5].data<float>()};
  encoder.dispatch([data, dims = dims_of(inputs[0], inputs[2], layout_)]() {
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
  auto inputs = backward_inputs(
      {primals[1], primals[2], outputs[4], outputs[5]}, optional, cotangents,
      4, s);
  bool with_input = wants_input_gradient(argnums);
  auto dims = dims_of(primals[0], primals[2], layout_);
  int d = dims.input;
  int h = dims.hidden;
  mx::Shape state = {static_cast<int>(dims.batch), h};
  std::vector<mx::Shape> shapes = {{d + h + 1, 4 * h}, state, state};
  if (with_input) {
    shapes.push_back(primals[0].shape());
  }
  std::vector<mx::Dtype> dtypes(shapes.size(), mx::float32);
  auto grads = mx::array::make_arrays(
      shapes, dtypes, std::make_shared<LSTMSequenceGrad>(s, layout_, with_input),
      inputs);

  // Rows [0, D) of the transposed weight gradient belong to W_x, the next
  // H to W_h, and the last is the bias gradient.
  const mx::array& d_weights = grads[0];
  OptionalInputs by_slot;
  by_slot[kBias] = mx::reshape(rows_of(d_weights, d + h, d + h + 1, s), {4 * h}, s);
  by_slot[kHidden] = grads[1];
  by_slot[kCell] = grads[2];
  std::optional<mx::array> d_x;
  if (with_input) {
    d_x = grads[3];
  }
  auto by_input = gradients_by_input(
      d_x, mx::transpose(rows_of(d_weights, 0, d, s), s),
      mx::transpose(rows_of(d_weights, d, d + h, s), s), layout_, by_slot);
  return select_gradients(by_input, primals, argnums, s);
}

// LSTMSequenceGrad

void LSTMSequenceGrad::eval_cpu(
    const std::vector<mx::array>& inputs,
    std::vector<mx::array>& outputs) {
  std::vector<mx::array> saved(inputs.begin(), inputs.begin() + 4);
  auto& encoder = prepare("LSTMSequenceGrad", stream(), saved, outputs);
  auto [lengths, cotangents] =
      register_backward_inputs(encoder, inputs, layout_);
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
      outputs[2].data<float>(),
      with_input_ ? outputs[3].data<float>() : nullptr};
  SequenceDims dims = backward_dims(inputs, layout_);
  encoder.dispatch([data, cotangents, dims]() mutable {
    std::array<std::vector<float>, 4> storage;
    data.d_hidden_out = cotangent_rows(cotangents[0], storage[0]);
    data.d_cell_out = cotangent_rows(cotangents[1], storage[1]);
    data.d_final_hidden = cotangent_rows(cotangents[2], storage[2]);
    data.d_final_cell = cotangent_rows(cotangents[3], storage[3]);
    detail::lstm_sequence_backward(data, dims);
  });
}

// GRUSequence

std::vector<mx::Shape> GRUSequence::output_shapes(
    const std::vector<mx::array>& inputs) {
  auto dims = dims_of(inputs[0], inputs[2], layout_);
  int n = dims.batch;
  int steps = dims.steps;
  int h = dims.hidden;
  int width = detail::input_width(dims);
  return {{n, steps, h}, {n, h}, {n, steps, width}, {n, steps, 4 * h}};
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
  GRUForwardData data{
      inputs[0].data<float>(),
      inputs[1].data<float>(),
      inputs[2].data<float>(),
      data_or_null<float>(optional[kBias]),
      data_or_null<float>(optional[kHiddenBias]),
      data_or_null<float>(optional[kHidden]),
      data_or_null<int32_t>(optional[kLengths]),
      outputs[0].data<float>(),
      outputs[1].data<float>(),
      outputs[2].data<float>(),
      outputs[3].data<float>()};
  encoder.dispatch([data, dims = dims_of(inputs[0], inputs[2], layout_)]() {
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
  auto inputs = backward_inputs(
      {primals[1], primals[2], outputs[2], outputs[3]}, optional, cotangents,
      2, s);
  bool with_input = wants_input_gradient(argnums);
  auto dims = dims_of(primals[0], primals[2], layout_);
  int d = dims.input;
  int h = dims.hidden;
  std::vector<mx::Shape> shapes = {
      {d, 3 * h}, {h, 3 * h}, {3 * h}, {h}, {static_cast<int>(dims.batch), h}};
  if (with_input) {
    shapes.push_back(primals[0].shape());
  }
  std::vector<mx::Dtype> dtypes(shapes.size(), mx::float32);
  auto grads = mx::array::make_arrays(
      shapes, dtypes, std::make_shared<GRUSequenceGrad>(s, layout_, with_input),
      inputs);

  OptionalInputs by_slot;
  by_slot[kBias] = grads[2];
  by_slot[kHiddenBias] = grads[3];
  by_slot[kHidden] = grads[4];
  std::optional<mx::array> d_x;
  if (with_input) {
    d_x = grads[5];
  }
  // The kernel writes the weight gradients transposed.
  auto by_input = gradients_by_input(
      d_x, mx::transpose(grads[0], s), mx::transpose(grads[1], s), layout_,
      by_slot);
  return select_gradients(by_input, primals, argnums, s);
}

// GRUSequenceGrad

void GRUSequenceGrad::eval_cpu(
    const std::vector<mx::array>& inputs,
    std::vector<mx::array>& outputs) {
  std::vector<mx::array> saved(inputs.begin(), inputs.begin() + 4);
  auto& encoder = prepare("GRUSequenceGrad", stream(), saved, outputs);
  auto [lengths, cotangents] =
      register_backward_inputs(encoder, inputs, layout_);
  GRUBackwardData data{
      inputs[0].data<float>(),
      inputs[1].data<float>(),
      inputs[2].data<float>(),
      inputs[3].data<float>(),
      lengths,
      {},
      {},
      outputs[0].data<float>(),
      outputs[1].data<float>(),
      outputs[2].data<float>(),
      outputs[3].data<float>(),
      outputs[4].data<float>(),
      with_input_ ? outputs[5].data<float>() : nullptr};
  SequenceDims dims = backward_dims(inputs, layout_);
  encoder.dispatch([data, cotangents, dims]() mutable {
    std::array<std::vector<float>, 2> storage;
    data.d_hidden_out = cotangent_rows(cotangents[0], storage[0]);
    data.d_final_hidden = cotangent_rows(cotangents[1], storage[1]);
    detail::gru_sequence_backward(data, dims);
  });
}

} // namespace rmlx::nn
