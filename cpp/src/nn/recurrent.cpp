#include "rmlx/nn/recurrent.h"

#include <cmath>
#include <functional>
#include <map>
#include <sstream>
#include <stdexcept>

#include "layer_utils.h"
#include "rmlx/nn/activations.h"
#include "rmlx/nn/dropout.h"
#include "rmlx/nn/recurrent_cell.h"
#include "rmlx/nn/recurrent_sequence.h"

namespace rmlx::nn {

namespace {

// Returns x (N, L, D) with zeros at the steps past each sequence's length.
// A padded step still takes part in the products of the weight gradients,
// with a zero gate gradient, and 0 * NaN would turn them into NaN.
mx::array zero_padded_steps(const mx::array& x, const mx::array& lengths) {
  mx::array positions = mx::expand_dims(mx::arange(x.shape(-2), mx::int32), 0);
  mx::array valid = mx::less(
      positions, mx::expand_dims(mx::astype(lengths, mx::int32), -1));
  return mx::where(mx::expand_dims(valid, -1), x, mx::array(0, x.dtype()));
}

void check_sizes(const std::string& layer, int input_size, int hidden_size) {
  if (input_size <= 0 || hidden_size <= 0) {
    std::ostringstream msg;
    msg << "[" << layer << "] Expected positive input_size and hidden_size "
        << "but received input_size=" << input_size
        << " and hidden_size=" << hidden_size << ".";
    throw std::invalid_argument(msg.str());
  }
}

// Draws a parameter from U(-scale, scale) as mx.random.uniform does with
// Python float bounds.
mx::array uniform(float scale, const mx::Shape& shape) {
  return mx::random::uniform(mx::array(-scale), mx::array(scale), shape);
}

float init_scale(int hidden_size) {
  return static_cast<float>(1.0 / std::sqrt(static_cast<double>(hidden_size)));
}

// Returns the input at `index` as a state, or nullopt when it is absent.
std::optional<mx::array> optional_input(const Inputs& inputs, size_t index) {
  return index < inputs.size() ? inputs[index] : std::nullopt;
}


// Splits `a` into its slices of extent 1 along `axis`. MLX 0.32.4's
// mx::split uses its Split primitive, whose gradient is one concatenation,
// only for fewer than 10 pieces. For more it takes one slice per piece,
// and each slice's gradient is a full-size array: for 64 steps those cost
// more than the whole recurrence did. Splitting in a tree of at most 10
// pieces a level keeps every level a Split.
std::vector<mx::array> split_each(const mx::array& a, int axis) {
  int length = a.shape(axis);
  if (length <= 10) {
    return mx::split(a, length, axis);
  }
  int group = (length + 9) / 10;
  mx::Shape bounds;
  for (int start = group; start < length; start += group) {
    bounds.push_back(start);
  }
  std::vector<mx::array> pieces;
  pieces.reserve(length);
  for (const mx::array& part : mx::split(a, bounds, axis)) {
    for (mx::array& piece : split_each(part, axis)) {
      pieces.push_back(std::move(piece));
    }
  }
  return pieces;
}
} // namespace

// RecurrentLayer

RecurrentLayer::RecurrentLayer(int input_size, int hidden_size)
    : input_size_(input_size), hidden_size_(hidden_size) {}

std::vector<mx::array> RecurrentLayer::forward(const Inputs& inputs) {
  check_inputs(*this, inputs, 1);
  RecurrentState initial;
  for (int s = 0; s < num_states(); ++s) {
    initial.push_back(optional_input(inputs, 1 + s));
  }
  return run(*inputs[0], initial);
}

std::vector<mx::array> RecurrentLayer::run(
    const mx::array& x,
    const RecurrentState& initial) {
  check_inputs_shapes(x, initial);
  return scan(x, initial).sequences;
}

void RecurrentLayer::check_inputs_shapes(
    const mx::array& x,
    const RecurrentState& initial) const {
  auto names = input_names();
  if ((x.ndim() != 2 && x.ndim() != 3) || x.shape(-1) != input_size_ ||
      x.shape(-2) == 0) {
    std::ostringstream msg;
    msg << "[" << type_name() << "] Expected x of shape (N, L, "
        << input_size_ << ") or (L, " << input_size_
        << ") with L > 0 but received shape "
        << detail::shape_string(x.shape()) << ".";
    throw std::invalid_argument(msg.str());
  }
  mx::Shape expected = {hidden_size_};
  if (x.ndim() == 3) {
    expected.insert(expected.begin(), x.shape(0));
  }
  for (size_t i = 0; i < initial.size(); ++i) {
    if (initial[i] && initial[i]->shape() != expected) {
      std::ostringstream msg;
      msg << "[" << type_name() << "] Expected " << names[i + 1]
          << " of shape " << detail::shape_string(expected)
          << " for x of shape " << detail::shape_string(x.shape())
          << " but received shape "
          << detail::shape_string(initial[i]->shape()) << ".";
      throw std::invalid_argument(msg.str());
    }
  }
}

mx::array RecurrentLayer::project(
    const mx::array& x,
    const std::string& weight,
    const std::string& bias) const {
  if (has(bias)) {
    return mx::addmm(param(bias), x, mx::transpose(param(weight)));
  }
  return mx::matmul(x, mx::transpose(param(weight)));
}

ScanResult RecurrentLayer::scan(
    const mx::array& input,
    const RecurrentState& initial,
    const std::optional<mx::array>& lengths,
    bool reverse) {
  mx::array x = lengths ? zero_padded_steps(input, *lengths) : input;
  int steps = x.shape(-2);
  int n_states = num_states();
  RecurrentState state = initial;
  state.resize(n_states);
  // The sequence primitives take lengths only with a batch axis.
  if (!lengths || x.ndim() == 3) {
    if (auto whole = scan_sequence(x, state, lengths, reverse)) {
      return std::move(*whole);
    }
  }

  mx::array projected = project_input(x);
  std::vector<mx::array> inputs = split_each(projected, -2);
  mx::array zero(0.0f, projected.dtype());
  std::optional<mx::array> step_lengths;
  if (lengths) {
    step_lengths = mx::expand_dims(mx::astype(*lengths, mx::int32), -1);
    // Masked steps keep the state, so it must exist from the start.
    mx::Shape state_shape = projected.shape();
    state_shape.erase(state_shape.end() - 2);
    state_shape.back() = hidden_size_;
    for (auto& s : state) {
      if (!s) {
        s = mx::zeros(state_shape, projected.dtype());
      }
    }
  }

  std::vector<std::vector<mx::array>> outputs(n_states);
  for (auto& sequence : outputs) {
    sequence.reserve(steps);
  }
  std::vector<int> order(steps);
  for (int i = 0; i < steps; ++i) {
    order[i] = reverse ? steps - 1 - i : i;
  }
  std::vector<std::optional<mx::array>> by_position(steps * n_states);
  for (int t : order) {
    std::vector<mx::array> next = step(mx::squeeze(inputs[t], -2), state);
    for (int s = 0; s < n_states; ++s) {
      if (step_lengths) {
        mx::array valid = mx::less(mx::array(t), *step_lengths);
        by_position[t * n_states + s] = mx::where(valid, next[s], zero);
        state[s] = mx::where(valid, next[s], *state[s]);
      } else {
        by_position[t * n_states + s] = next[s];
        state[s] = next[s];
      }
    }
  }
  for (int t = 0; t < steps; ++t) {
    for (int s = 0; s < n_states; ++s) {
      outputs[s].push_back(*by_position[t * n_states + s]);
    }
  }

  ScanResult result;
  for (int s = 0; s < n_states; ++s) {
    result.sequences.push_back(mx::stack(outputs[s], -2));
    result.final_state.push_back(*state[s]);
  }
  return result;
}

// RNN

RNN::RNN(
    int input_size,
    int hidden_size,
    bool bias,
    const std::string& nonlinearity)
    : RecurrentLayer(input_size, hidden_size),
      nonlinearity_name_(nonlinearity) {
  check_sizes("RNN", input_size, hidden_size);
  if (!named_activations().count(nonlinearity)) {
    std::ostringstream msg;
    msg << "[RNN] Expected nonlinearity to be one of";
    for (const auto& [name, fn] : named_activations()) {
      msg << " '" << name << "'";
    }
    msg << " but received '" << nonlinearity << "'.";
    throw std::invalid_argument(msg.str());
  }
  init_parameters(bias);
}

RNN::RNN(int input_size, int hidden_size, bool bias, ModulePtr nonlinearity)
    : RecurrentLayer(input_size, hidden_size) {
  check_sizes("RNN", input_size, hidden_size);
  if (!nonlinearity) {
    throw std::invalid_argument(
        "[RNN] Expected a nonlinearity module but received a null pointer.");
  }
  init_parameters(bias);
  register_module("nonlinearity", std::move(nonlinearity));
}

void RNN::init_parameters(bool bias) {
  float scale = init_scale(hidden_size());
  register_parameter("Wxh", uniform(scale, {hidden_size(), input_size()}));
  register_parameter("Whh", uniform(scale, {hidden_size(), hidden_size()}));
  if (bias) {
    register_parameter("bias", uniform(scale, {hidden_size()}));
  }
}

std::string RNN::nonlinearity_repr() const {
  if (has("nonlinearity")) {
    return child("nonlinearity")->to_string();
  }
  return nonlinearity_name_;
}

std::string RNN::extra_repr() const {
  std::ostringstream os;
  os << "input_dims=" << input_size() << ", hidden_size=" << hidden_size()
     << ", nonlinearity=" << nonlinearity_repr()
     << ", bias=" << detail::python_bool(has("bias"));
  return os.str();
}

mx::array RNN::activate(const mx::array& x) const {
  if (has("nonlinearity")) {
    return (*child("nonlinearity"))(x);
  }
  return named_activations().at(nonlinearity_name_)(x);
}

mx::array RNN::project_input(const mx::array& x) const {
  return project(x, "Wxh", "bias");
}

std::vector<mx::array> RNN::step(
    const mx::array& projected,
    const RecurrentState& state) const {
  mx::array pre = state[0]
      ? mx::addmm(projected, *state[0], mx::transpose(param("Whh")))
      : projected;
  return {activate(pre)};
}

mx::array RNN::forward(
    const mx::array& x,
    const std::optional<mx::array>& hidden) {
  return run(x, {hidden})[0];
}

// GRU

GRU::GRU(int input_size, int hidden_size, bool bias)
    : RecurrentLayer(input_size, hidden_size) {
  check_sizes("GRU", input_size, hidden_size);
  float scale = init_scale(hidden_size);
  register_parameter("Wx", uniform(scale, {3 * hidden_size, input_size}));
  register_parameter("Wh", uniform(scale, {3 * hidden_size, hidden_size}));
  if (bias) {
    register_parameter("b", uniform(scale, {3 * hidden_size}));
    register_parameter("bhn", uniform(scale, {hidden_size}));
  }
}

std::string GRU::extra_repr() const {
  std::ostringstream os;
  os << "input_dims=" << input_size() << ", hidden_size=" << hidden_size()
     << ", bias=" << detail::python_bool(has("b"));
  return os.str();
}

mx::array GRU::project_input(const mx::array& x) const {
  return project(x, "Wx", "b");
}

std::vector<mx::array> GRU::step(
    const mx::array& projected,
    const RecurrentState& state) const {
  const auto& hidden = state[0];
  if (hidden) {
    mx::array hidden_proj = mx::matmul(*hidden, mx::transpose(param("Wh")));
    std::optional<mx::array> bhn;
    if (has("bhn")) {
      bhn = param("bhn");
    }
    return {gru_cell(projected, hidden_proj, bhn, *hidden)};
  }

  // Without a hidden state, the operations of MLX Python's GRU.__call__ in
  // its order, with the hidden terms left out.
  int h = hidden_size();
  auto input_parts = mx::split(projected, mx::Shape{2 * h}, -1);
  auto gates = mx::split(mx::sigmoid(input_parts[0]), 2, -1);
  const mx::array& r = gates[0];
  const mx::array& z = gates[1];
  mx::array n = input_parts[1];
  if (has("bhn")) {
    n = mx::add(n, mx::multiply(r, param("bhn")));
  }
  n = mx::tanh(n);
  mx::array keep = mx::subtract(detail::float_scalar(1.0, z), z);
  return {mx::multiply(keep, n)};
}

std::optional<ScanResult> GRU::scan_sequence(
    const mx::array& x,
    const RecurrentState& initial,
    const std::optional<mx::array>& lengths,
    bool reverse) const {
  std::optional<mx::array> bhn;
  if (has("bhn")) {
    bhn = param("bhn");
  }
  std::optional<mx::array> bias;
  if (has("b")) {
    bias = param("b");
  }
  auto outputs = gru_sequence(
      x, param("Wx"), param("Wh"), bias, bhn, initial[0], lengths, reverse);
  if (!outputs) {
    return std::nullopt;
  }
  return ScanResult{{(*outputs)[0]}, {(*outputs)[1]}};
}

mx::array GRU::forward(
    const mx::array& x,
    const std::optional<mx::array>& hidden) {
  return run(x, {hidden})[0];
}

// LSTM

LSTM::LSTM(int input_size, int hidden_size, bool bias)
    : RecurrentLayer(input_size, hidden_size) {
  check_sizes("LSTM", input_size, hidden_size);
  float scale = init_scale(hidden_size);
  register_parameter("Wx", uniform(scale, {4 * hidden_size, input_size}));
  register_parameter("Wh", uniform(scale, {4 * hidden_size, hidden_size}));
  if (bias) {
    register_parameter("bias", uniform(scale, {4 * hidden_size}));
  }
}

std::string LSTM::extra_repr() const {
  std::ostringstream os;
  os << "input_dims=" << input_size() << ", hidden_size=" << hidden_size()
     << ", bias=" << detail::python_bool(has("bias"));
  return os.str();
}

mx::array LSTM::project_input(const mx::array& x) const {
  return project(x, "Wx", "bias");
}

std::vector<mx::array> LSTM::step(
    const mx::array& projected,
    const RecurrentState& state) const {
  mx::array ifgo = state[0]
      ? mx::addmm(projected, *state[0], mx::transpose(param("Wh")))
      : projected;
  return lstm_cell(ifgo, state[1]);
}

std::optional<ScanResult> LSTM::scan_sequence(
    const mx::array& x,
    const RecurrentState& initial,
    const std::optional<mx::array>& lengths,
    bool reverse) const {
  std::optional<mx::array> bias;
  if (has("bias")) {
    bias = param("bias");
  }
  auto outputs = lstm_sequence(
      x, param("Wx"), param("Wh"), bias, initial[0], initial[1], lengths,
      reverse);
  if (!outputs) {
    return std::nullopt;
  }
  const auto& o = *outputs;
  return ScanResult{{o[0], o[1]}, {o[2], o[3]}};
}

std::pair<mx::array, mx::array> LSTM::forward(
    const mx::array& x,
    const std::optional<mx::array>& hidden,
    const std::optional<mx::array>& cell) {
  auto sequences = run(x, {hidden, cell});
  return {sequences[0], sequences[1]};
}

// StackedRecurrent

StackedRecurrent::StackedRecurrent(
    const std::string& type_name,
    int input_size,
    int hidden_size,
    StackOptions options,
    const std::function<std::shared_ptr<RecurrentLayer>(int)>& make_cell)
    : input_size_(input_size), hidden_size_(hidden_size), options_(options) {
  check_sizes(type_name, input_size, hidden_size);
  if (options.num_layers < 1) {
    std::ostringstream msg;
    msg << "[" << type_name << "] Expected num_layers of at least 1 but "
        << "received " << options.num_layers << ".";
    throw std::invalid_argument(msg.str());
  }
  // Dropout's constructor checks the probability; its message names it.
  try {
    dropout_ = std::make_shared<Dropout>(options.dropout);
  } catch (const std::invalid_argument&) {
    std::ostringstream msg;
    msg << "[" << type_name << "] Expected dropout in [0, 1) but received "
        << detail::python_float_repr(options.dropout) << ".";
    throw std::invalid_argument(msg.str());
  }

  std::vector<ModulePtr> cells;
  for (int layer = 0; layer < options.num_layers; ++layer) {
    int cell_input = layer == 0 ? input_size : num_directions() * hidden_size;
    for (int direction = 0; direction < num_directions(); ++direction) {
      cells.push_back(make_cell(cell_input));
    }
  }
  register_modules("layers", cells);
}

std::shared_ptr<RecurrentLayer> StackedRecurrent::cell(
    int layer,
    int direction) const {
  const auto& list = std::get<Value::List>(value("layers").data);
  const auto& item = list.at(layer * num_directions() + direction);
  return std::dynamic_pointer_cast<RecurrentLayer>(
      std::get<ModulePtr>(item.data));
}

std::string StackedRecurrent::extra_repr() const {
  std::ostringstream os;
  os << "input_size=" << input_size_ << ", hidden_size=" << hidden_size_
     << ", num_layers=" << options_.num_layers
     << ", bias=" << detail::python_bool(options_.bias)
     << ", dropout=" << detail::python_float_repr(options_.dropout)
     << ", bidirectional=" << detail::python_bool(options_.bidirectional);
  return os.str();
}

void StackedRecurrent::check_forward_inputs(
    const mx::array& x,
    const RecurrentState& initial,
    const std::optional<mx::array>& lengths) const {
  auto names = input_names();
  if ((x.ndim() != 2 && x.ndim() != 3) || x.shape(-1) != input_size_ ||
      x.shape(-2) == 0) {
    std::ostringstream msg;
    msg << "[" << type_name() << "] Expected x of shape (N, L, "
        << input_size_ << ") or (L, " << input_size_
        << ") with L > 0 but received shape "
        << detail::shape_string(x.shape()) << ".";
    throw std::invalid_argument(msg.str());
  }
  mx::Shape expected = {options_.num_layers * num_directions(), hidden_size_};
  if (x.ndim() == 3) {
    expected.insert(expected.begin() + 1, x.shape(0));
  }
  for (size_t i = 0; i < initial.size(); ++i) {
    if (initial[i] && initial[i]->shape() != expected) {
      std::ostringstream msg;
      msg << "[" << type_name() << "] Expected " << names[i + 1]
          << " of shape " << detail::shape_string(expected)
          << " (num_layers * directions, N, hidden_size) for x of shape "
          << detail::shape_string(x.shape()) << " but received shape "
          << detail::shape_string(initial[i]->shape()) << ".";
      throw std::invalid_argument(msg.str());
    }
  }
  if (!lengths) {
    return;
  }
  bool numeric = mx::issubdtype(lengths->dtype(), mx::integer) ||
      mx::issubdtype(lengths->dtype(), mx::floating);
  if (x.ndim() != 3 || lengths->ndim() != 1 ||
      lengths->shape(0) != x.shape(0) || !numeric) {
    std::ostringstream msg;
    msg << "[" << type_name() << "] Expected lengths to be a vector of "
        << "integers with one entry per sequence of a batched x (N, L, "
        << input_size_ << ") but received lengths of shape "
        << detail::shape_string(lengths->shape()) << " and dtype "
        << lengths->dtype() << " for x of shape "
        << detail::shape_string(x.shape()) << ".";
    throw std::invalid_argument(msg.str());
  }
}

std::vector<mx::array> StackedRecurrent::forward(const Inputs& inputs) {
  check_inputs(*this, inputs, 1);
  int n_states = num_states();
  const mx::array& x = *inputs[0];
  RecurrentState initial(n_states);
  for (int s = 0; s < n_states; ++s) {
    initial[s] = optional_input(inputs, 1 + s);
  }
  auto lengths = optional_input(inputs, 1 + n_states);
  check_forward_inputs(x, initial, lengths);

  int directions = num_directions();
  int n_cells = options_.num_layers * directions;
  std::vector<RecurrentState> cell_initial(n_cells, RecurrentState(n_states));
  for (int s = 0; s < n_states; ++s) {
    if (!initial[s]) {
      continue;
    }
    auto rows = mx::split(*initial[s], n_cells, 0);
    for (int j = 0; j < n_cells; ++j) {
      cell_initial[j][s] = mx::squeeze(rows[j], 0);
    }
  }

  mx::array layer_input = x;
  std::vector<std::vector<mx::array>> finals(n_states);
  for (int layer = 0; layer < options_.num_layers; ++layer) {
    std::vector<mx::array> direction_outputs;
    for (int direction = 0; direction < directions; ++direction) {
      auto result = cell(layer, direction)
                        ->scan(
                            layer_input,
                            cell_initial[layer * directions + direction],
                            lengths,
                            direction == 1);
      direction_outputs.push_back(result.sequences[0]);
      for (int s = 0; s < n_states; ++s) {
        finals[s].push_back(result.final_state[s]);
      }
    }
    layer_input = directions == 2 ? mx::concatenate(direction_outputs, -1)
                                  : direction_outputs[0];
    if (layer + 1 < options_.num_layers) {
      dropout_->train(training());
      layer_input = (*dropout_)(layer_input);
    }
  }

  std::vector<mx::array> outputs = {layer_input};
  for (int s = 0; s < n_states; ++s) {
    outputs.push_back(mx::stack(finals[s], 0));
  }
  return outputs;
}

StackedRNN::StackedRNN(
    int input_size,
    int hidden_size,
    StackOptions options,
    const std::string& nonlinearity)
    : StackedRecurrent(
          "StackedRNN",
          input_size,
          hidden_size,
          options,
          [&](int cell_input) {
            return std::make_shared<RNN>(
                cell_input, hidden_size, options.bias, nonlinearity);
          }) {}

StackedRNN::StackedRNN(
    int input_size,
    int hidden_size,
    StackOptions options,
    ModulePtr nonlinearity)
    : StackedRecurrent(
          "StackedRNN",
          input_size,
          hidden_size,
          options,
          [&](int cell_input) {
            return std::make_shared<RNN>(
                cell_input, hidden_size, options.bias, nonlinearity);
          }) {}

std::string StackedRNN::extra_repr() const {
  std::string base = StackedRecurrent::extra_repr();
  std::string nonlinearity = std::dynamic_pointer_cast<RNN>(cell(0, 0))
                                 ->nonlinearity_repr();
  return base + ", nonlinearity=" + nonlinearity;
}

StackedGRU::StackedGRU(int input_size, int hidden_size, StackOptions options)
    : StackedRecurrent(
          "StackedGRU",
          input_size,
          hidden_size,
          options,
          [&](int cell_input) {
            return std::make_shared<GRU>(cell_input, hidden_size, options.bias);
          }) {}

StackedLSTM::StackedLSTM(int input_size, int hidden_size, StackOptions options)
    : StackedRecurrent(
          "StackedLSTM",
          input_size,
          hidden_size,
          options,
          [&](int cell_input) {
            return std::make_shared<LSTM>(
                cell_input, hidden_size, options.bias);
          }) {}

} // namespace rmlx::nn
