#include "rmlx/nn/quantized.h"

#include <cmath>
#include <sstream>
#include <stdexcept>

#include "layer_utils.h"

namespace rmlx::nn {

namespace {

struct ModeRule {
  const char* mode;
  int default_group_size;
  int default_bits;
  std::vector<int> group_sizes;
  std::vector<int> bits;
};

// The table of mx::quantize's documentation in MLX 0.32.4.
const std::vector<ModeRule>& mode_rules() {
  static const std::vector<ModeRule> rules = {
      {"affine", 64, 4, {32, 64, 128}, {1, 2, 3, 4, 5, 6, 8}},
      {"mxfp4", 32, 4, {32}, {4}},
      {"nvfp4", 16, 4, {16}, {4}},
      {"mxfp8", 32, 8, {32}, {8}},
  };
  return rules;
}

std::string join_ints(const std::vector<int>& values) {
  std::ostringstream os;
  for (size_t i = 0; i < values.size(); ++i) {
    os << (i ? ", " : "") << values[i];
  }
  return os.str();
}

bool contains(const std::vector<int>& values, int value) {
  return std::find(values.begin(), values.end(), value) != values.end();
}

void check_multiple(
    const std::string& component,
    const char* dims_name,
    int dims,
    const QuantizationSettings& settings) {
  if (dims % settings.group_size != 0) {
    std::ostringstream msg;
    msg << "[" << component << "] Expected " << dims_name
        << " to be a multiple of group_size=" << settings.group_size
        << " but received " << dims_name << "=" << dims << ".";
    throw std::invalid_argument(msg.str());
  }
}

void check_positive_dims(
    const std::string& component,
    const char* first_name,
    int first,
    const char* second_name,
    int second) {
  if (first <= 0 || second <= 0) {
    std::ostringstream msg;
    msg << "[" << component << "] Expected positive " << first_name << " and "
        << second_name << " but received " << first_name << "=" << first
        << " and " << second_name << "=" << second << ".";
    throw std::invalid_argument(msg.str());
  }
}

std::string settings_repr(const QuantizationSettings& settings) {
  std::ostringstream os;
  os << "group_size=" << settings.group_size << ", bits=" << settings.bits
     << ", mode=" << settings.mode;
  return os.str();
}

// Stores the outputs of mx::quantize under MLX Python's names: "weight",
// "scales" and, in affine mode only, "biases".
void register_quantized(Module& module, const std::vector<mx::array>& packed) {
  module.register_parameter("weight", packed.at(0));
  module.register_parameter("scales", packed.at(1));
  if (packed.size() > 2) {
    module.register_parameter("biases", packed[2]);
  } else {
    module.remove("biases");
  }
}

std::vector<mx::array> quantize_weight(
    const mx::array& weight,
    const QuantizationSettings& settings) {
  return mx::quantize(
      weight, settings.group_size, settings.bits, settings.mode);
}

std::optional<mx::array> optional_param(const Module& module, const char* key) {
  if (module.has(key)) {
    return module.param(key);
  }
  return std::nullopt;
}

mx::array dequantize_param(
    const Module& module,
    const QuantizationSettings& settings) {
  return mx::dequantize(
      module.param("weight"),
      module.param("scales"),
      optional_param(module, "biases"),
      settings.group_size,
      settings.bits,
      settings.mode);
}

} // namespace

QuantizationSettings resolve_quantization(
    const std::string& component,
    const QuantizationSpec& spec) {
  const ModeRule* rule = nullptr;
  for (const auto& candidate : mode_rules()) {
    if (spec.mode == candidate.mode) {
      rule = &candidate;
    }
  }
  if (rule == nullptr) {
    throw std::invalid_argument(
        "[" + component + "] Invalid quantization mode '" + spec.mode +
        "'. Valid modes are affine, mxfp4, nvfp4 and mxfp8.");
  }

  QuantizationSettings settings{
      spec.group_size.value_or(rule->default_group_size),
      spec.bits.value_or(rule->default_bits),
      spec.mode};
  if (!contains(rule->group_sizes, settings.group_size)) {
    std::ostringstream msg;
    msg << "[" << component << "] Mode " << spec.mode
        << " supports group_size in {" << join_ints(rule->group_sizes)
        << "} but received group_size=" << settings.group_size << ".";
    throw std::invalid_argument(msg.str());
  }
  if (!contains(rule->bits, settings.bits)) {
    std::ostringstream msg;
    msg << "[" << component << "] Mode " << spec.mode << " supports bits in {"
        << join_ints(rule->bits) << "} but received bits=" << settings.bits
        << ".";
    throw std::invalid_argument(msg.str());
  }
  return settings;
}

// QuantizedLinear.

QuantizedLinear::QuantizedLinear(
    int input_dims,
    int output_dims,
    bool bias,
    const QuantizationSpec& spec)
    : settings_(resolve_quantization("QuantizedLinear", spec)) {
  check_positive_dims(
      "QuantizedLinear", "input_dims", input_dims, "output_dims", output_dims);
  check_multiple("QuantizedLinear", "input_dims", input_dims, settings_);

  // The same draw as Linear's weight, so the key stream matches MLX Python.
  float scale = static_cast<float>(std::sqrt(1.0 / input_dims));
  mx::array weight = mx::random::uniform(
      mx::array(-scale), mx::array(scale), {output_dims, input_dims});
  register_quantized(*this, quantize_weight(weight, settings_));
  if (bias) {
    register_parameter("bias", mx::zeros({output_dims}));
  }
  freeze(false);
}

std::shared_ptr<QuantizedLinear> QuantizedLinear::from_linear(
    const Linear& linear,
    const QuantizationSpec& spec) {
  const mx::array& weight = linear.param("weight");
  auto layer = std::make_shared<QuantizedLinear>(
      weight.shape(1), weight.shape(0), false, spec);
  register_quantized(*layer, quantize_weight(weight, layer->settings_));
  // Registered after the constructor's freeze(), so the bias stays
  // trainable, as in MLX Python.
  if (linear.has("bias")) {
    layer->register_parameter("bias", linear.param("bias"));
  }
  return layer;
}

int QuantizedLinear::input_dims() const {
  return param("weight").shape(1) * 32 / settings_.bits;
}

int QuantizedLinear::output_dims() const {
  return param("weight").shape(0);
}

std::string QuantizedLinear::extra_repr() const {
  std::ostringstream os;
  os << "input_dims=" << input_dims() << ", output_dims=" << output_dims()
     << ", bias=" << detail::python_bool(has("bias")) << ", "
     << settings_repr(settings_);
  return os.str();
}

mx::array QuantizedLinear::forward(const mx::array& x) {
  int expected = input_dims();
  if (x.ndim() == 0 || x.shape(-1) != expected) {
    std::ostringstream msg;
    msg << "[QuantizedLinear] Expected input with last dimension " << expected
        << " but received shape " << detail::shape_string(x.shape()) << ".";
    throw std::invalid_argument(msg.str());
  }

  mx::array y = mx::quantized_matmul(
      x,
      param("weight"),
      param("scales"),
      optional_param(*this, "biases"),
      true,
      settings_.group_size,
      settings_.bits,
      settings_.mode);
  if (has("bias")) {
    y = mx::add(y, param("bias"));
  }
  return y;
}

mx::array QuantizedLinear::dequantized_weight() const {
  return dequantize_param(*this, settings_);
}

// QuantizedEmbedding.

QuantizedEmbedding::QuantizedEmbedding(
    int num_embeddings,
    int dims,
    const QuantizationSpec& spec)
    : settings_(resolve_quantization("QuantizedEmbedding", spec)),
      num_embeddings_(num_embeddings),
      dims_(dims) {
  check_positive_dims(
      "QuantizedEmbedding", "num_embeddings", num_embeddings, "dims", dims);
  check_multiple("QuantizedEmbedding", "dims", dims, settings_);

  float scale = static_cast<float>(std::sqrt(1.0 / dims));
  set_quantized(mx::random::normal({num_embeddings, dims}, 0.0f, scale));
  freeze(false);
}

void QuantizedEmbedding::set_quantized(const mx::array& weight) {
  register_quantized(*this, quantize_weight(weight, settings_));
}

std::shared_ptr<QuantizedEmbedding> QuantizedEmbedding::from_embedding(
    const Embedding& embedding,
    const QuantizationSpec& spec) {
  const mx::array& weight = embedding.param("weight");
  auto layer = std::make_shared<QuantizedEmbedding>(
      weight.shape(0), weight.shape(1), spec);
  layer->set_quantized(weight);
  return layer;
}

std::string QuantizedEmbedding::extra_repr() const {
  std::ostringstream os;
  os << num_embeddings_ << ", " << dims_ << ", " << settings_repr(settings_);
  return os.str();
}

mx::array QuantizedEmbedding::forward(const mx::array& x) {
  if (!mx::issubdtype(x.dtype(), mx::integer)) {
    std::ostringstream msg;
    msg << "[QuantizedEmbedding] Expected integer indices but received dtype "
        << x.dtype() << ".";
    throw std::invalid_argument(msg.str());
  }

  std::optional<mx::array> biases;
  if (has("biases")) {
    biases = mx::take(param("biases"), x, 0);
  }
  return mx::dequantize(
      mx::take(param("weight"), x, 0),
      mx::take(param("scales"), x, 0),
      biases,
      settings_.group_size,
      settings_.bits,
      settings_.mode);
}

mx::array QuantizedEmbedding::as_linear(const mx::array& x) {
  return mx::quantized_matmul(
      x,
      param("weight"),
      param("scales"),
      optional_param(*this, "biases"),
      true,
      settings_.group_size,
      settings_.bits,
      settings_.mode);
}

mx::array QuantizedEmbedding::dequantized_weight() const {
  return dequantize_param(*this, settings_);
}

// Whole models.

ModulePtr to_quantized(Module& module, const QuantizationSpec& spec) {
  if (auto* linear = dynamic_cast<Linear*>(&module)) {
    return QuantizedLinear::from_linear(*linear, spec);
  }
  if (auto* embedding = dynamic_cast<Embedding*>(&module)) {
    return QuantizedEmbedding::from_embedding(*embedding, spec);
  }
  throw std::invalid_argument(
      "[quantize] Only Linear and Embedding layers can be quantized, but "
      "received " + module.type_name() + ".");
}

ModulePtr to_dequantized(Module& module) {
  if (auto* quantized = dynamic_cast<QuantizedLinear*>(&module)) {
    mx::array weight = quantized->dequantized_weight();
    auto linear = std::make_shared<Linear>(
        quantized->input_dims(), quantized->output_dims(), module.has("bias"));
    linear->register_parameter("weight", weight);
    if (module.has("bias")) {
      linear->register_parameter("bias", module.param("bias"));
    }
    return linear;
  }
  if (auto* quantized = dynamic_cast<QuantizedEmbedding*>(&module)) {
    auto embedding = std::make_shared<Embedding>(
        quantized->num_embeddings(), quantized->dims());
    embedding->register_parameter("weight", quantized->dequantized_weight());
    return embedding;
  }
  throw std::invalid_argument(
      "[dequantize] Only QuantizedLinear and QuantizedEmbedding layers can be "
      "dequantized, but received " + module.type_name() + ".");
}

void quantize(
    Module& model,
    const QuantizationSpec& spec,
    const QuantizePredicate& predicate) {
  // Collect the replacements first, so that the walk never sees a
  // half-updated tree and a failure leaves the model unchanged.
  std::vector<std::pair<std::string, ModulePtr>> replacements;
  for (auto& [path, leaf] : model.leaf_modules()) {
    std::optional<QuantizationSpec> chosen;
    if (predicate) {
      chosen = predicate(path, *leaf);
    } else if (
        dynamic_cast<Linear*>(leaf.get()) ||
        dynamic_cast<Embedding*>(leaf.get())) {
      chosen = spec;
    }
    if (chosen) {
      replacements.emplace_back(path, to_quantized(*leaf, *chosen));
    }
  }
  for (auto& [path, replacement] : replacements) {
    replace_module(model, path, replacement);
  }
}

void dequantize(Module& model) {
  std::vector<std::pair<std::string, ModulePtr>> replacements;
  for (auto& [path, leaf] : model.leaf_modules()) {
    if (dynamic_cast<QuantizedLinear*>(leaf.get()) ||
        dynamic_cast<QuantizedEmbedding*>(leaf.get())) {
      replacements.emplace_back(path, to_dequantized(*leaf));
    }
  }
  for (auto& [path, replacement] : replacements) {
    replace_module(model, path, replacement);
  }
}

namespace {

// Replaces the module at `rest` (list indices, e.g. {"0"} or {"1", "2"})
// inside a list value, returning whether it was found.
bool replace_in_list(
    Value::List& list,
    const std::vector<std::string>& rest,
    size_t position,
    const ModulePtr& replacement) {
  const std::string& part = rest[position];
  if (part.empty() || part.size() > 9 ||
      part.find_first_not_of("0123456789") != std::string::npos) {
    return false;
  }
  size_t index = std::stoul(part);
  if (index >= list.size()) {
    return false;
  }
  Value& item = list[index];
  if (position + 1 == rest.size()) {
    if (!item.is_module()) {
      return false;
    }
    item = Value(replacement);
    return true;
  }
  if (!item.is_list()) {
    return false;
  }
  return replace_in_list(
      std::get<Value::List>(item.data), rest, position + 1, replacement);
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::stringstream stream(path);
  std::string part;
  while (std::getline(stream, part, '.')) {
    parts.push_back(part);
  }
  return parts;
}

} // namespace

void replace_module(
    Module& root,
    const std::string& path,
    ModulePtr replacement) {
  if (!replacement) {
    throw std::invalid_argument("[replace_module] The replacement is null.");
  }
  // Try the deepest owner first: the parent is the module whose path is the
  // longest proper prefix of `path` that contains the first remaining part.
  auto modules = root.named_modules();
  for (auto it = modules.rbegin(); it != modules.rend(); ++it) {
    const std::string& owner_path = it->first;
    Module& owner = *it->second;
    std::string rest_path;
    if (owner_path.empty()) {
      rest_path = path;
    } else if (
        path.size() > owner_path.size() + 1 &&
        path.compare(0, owner_path.size(), owner_path) == 0 &&
        path[owner_path.size()] == '.') {
      rest_path = path.substr(owner_path.size() + 1);
    } else {
      continue;
    }
    auto rest = split_path(rest_path);
    if (rest.empty() || !owner.has(rest[0])) {
      continue;
    }
    const Value& current = owner.value(rest[0]);
    if (rest.size() == 1 && current.is_module()) {
      owner.register_module(rest[0], replacement);
      return;
    }
    if (rest.size() > 1 && current.is_list()) {
      Value::List list = std::get<Value::List>(current.data);
      if (replace_in_list(list, rest, 1, replacement)) {
        owner.register_value(rest[0], Value(std::move(list)));
        return;
      }
    }
  }
  throw std::invalid_argument(
      "[replace_module] No module at path '" + path + "' in this " +
      root.type_name() + ".");
}

} // namespace rmlx::nn
