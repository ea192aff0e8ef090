#include "rmlx/nn/transformer.h"

#include <functional>
#include <map>
#include <sstream>
#include <stdexcept>

#include "rmlx/nn/activations.h"
#include "rmlx/nn/dropout.h"
#include "rmlx/nn/linear.h"
#include "rmlx/nn/normalization.h"

namespace rmlx::nn {

namespace {

// Registers a module activation as the child "activation" and returns "",
// or checks a name and returns it.
std::string register_activation(
    Module& layer,
    const Activation& activation) {
  if (const auto* module = std::get_if<ModulePtr>(&activation)) {
    if (!*module) {
      throw std::invalid_argument(
          "[" + layer.type_name() + "] Expected an activation module but "
          "received a null pointer.");
    }
    layer.register_module("activation", *module);
    return "";
  }
  const auto& name = std::get<std::string>(activation);
  if (!named_activations().count(name)) {
    std::ostringstream msg;
    msg << "[" << layer.type_name() << "] Expected activation to be one of";
    for (const auto& [known, fn] : named_activations()) {
      msg << " '" << known << "'";
    }
    msg << " or a module, but received '" << name << "'.";
    throw std::invalid_argument(msg.str());
  }
  return name;
}

mx::array apply_activation(
    Module& layer,
    const std::string& name,
    const mx::array& x) {
  if (layer.has("activation")) {
    return (*layer.child("activation"))(x);
  }
  return named_activations().at(name)(x);
}

void check_layer_sizes(
    const std::string& layer,
    int num_layers,
    int dims,
    int num_heads) {
  if (num_layers < 0 || dims <= 0 || num_heads <= 0) {
    std::ostringstream msg;
    msg << "[" << layer << "] Expected num_layers >= 0 and positive dims "
        << "and num_heads but received num_layers=" << num_layers
        << ", dims=" << dims << " and num_heads=" << num_heads << ".";
    throw std::invalid_argument(msg.str());
  }
}

int mlp_size(const TransformerOptions& options, int dims) {
  int size = options.mlp_dims.value_or(4 * dims);
  if (size <= 0) {
    std::ostringstream msg;
    msg << "[Transformer] Expected a positive mlp_dims but received " << size
        << ".";
    throw std::invalid_argument(msg.str());
  }
  return size;
}

std::vector<ModulePtr> module_list(const Module& module, const char* key) {
  std::vector<ModulePtr> modules;
  for (const auto& item : std::get<Value::List>(module.value(key).data)) {
    modules.push_back(std::get<ModulePtr>(item.data));
  }
  return modules;
}

// Runs layer->forward(inputs) under mx::checkpoint, so that the backward
// pass recomputes the layer's intermediate values instead of keeping them.
// The trainable parameters are inputs of the checkpointed function, as in
// MLX Python's nn.utils.checkpoint, so that their gradients flow through it.
// NOTE: a recomputation draws new dropout masks, so with dropout > 0 the
// gradient is that of a different mask than the forward pass used.
std::vector<mx::array> checkpointed_forward(
    const ModulePtr& layer,
    const Inputs& inputs) {
  NamedArrays params = layer->trainable_parameters();
  std::vector<bool> present;
  std::vector<mx::array> args;
  for (const auto& input : inputs) {
    present.push_back(input.has_value());
    if (input) {
      args.push_back(*input);
    }
  }
  size_t num_inputs = args.size();
  std::vector<std::string> names;
  for (const auto& [name, value] : params) {
    names.push_back(name);
    args.push_back(value);
  }

  auto fn = [layer, present, names, num_inputs](
                const std::vector<mx::array>& values) {
    NamedArrays saved = layer->trainable_parameters();
    NamedArrays replaced;
    for (size_t i = 0; i < names.size(); ++i) {
      replaced.emplace_back(names[i], values[num_inputs + i]);
    }
    Inputs rebuilt;
    size_t next = 0;
    for (bool is_present : present) {
      rebuilt.push_back(
          is_present ? std::optional<mx::array>(values[next++])
                     : std::nullopt);
    }
    layer->update(replaced);
    try {
      auto out = layer->forward(rebuilt);
      layer->update(saved);
      return out;
    } catch (...) {
      layer->update(saved);
      throw;
    }
  };
  return mx::checkpoint(fn)(args);
}

std::optional<mx::array> optional_input(const Inputs& inputs, size_t i) {
  return inputs.size() > i ? inputs[i] : std::nullopt;
}

} // namespace

TransformerEncoderLayer::TransformerEncoderLayer(
    int dims,
    int num_heads,
    const TransformerOptions& options)
    : norm_first_(options.norm_first) {
  check_layer_sizes("TransformerEncoderLayer", 1, dims, num_heads);
  int mlp_dims = mlp_size(options, dims);
  register_module(
      "attention", std::make_shared<MultiHeadAttention>(dims, num_heads));
  register_module("ln1", std::make_shared<LayerNorm>(dims));
  register_module("ln2", std::make_shared<LayerNorm>(dims));
  register_module("linear1", std::make_shared<Linear>(dims, mlp_dims));
  register_module("linear2", std::make_shared<Linear>(mlp_dims, dims));
  register_module("dropout1", std::make_shared<Dropout>(options.dropout));
  register_module("dropout2", std::make_shared<Dropout>(options.dropout));
  activation_name_ = register_activation(*this, options.activation);
}

mx::array TransformerEncoderLayer::activate(const mx::array& x) {
  return apply_activation(*this, activation_name_, x);
}

std::vector<mx::array> TransformerEncoderLayer::forward(const Inputs& inputs) {
  check_inputs(*this, inputs, 1);
  return {forward(*inputs[0], optional_input(inputs, 1))};
}

mx::array TransformerEncoderLayer::forward(
    const mx::array& x,
    const std::optional<mx::array>& mask,
    KVCache* cache) {
  auto& attention = static_cast<MultiHeadAttention&>(*child("attention"));
  Module& ln1 = *child("ln1");
  Module& ln2 = *child("ln2");
  Module& linear1 = *child("linear1");
  Module& linear2 = *child("linear2");
  Module& dropout1 = *child("dropout1");
  Module& dropout2 = *child("dropout2");

  if (norm_first_) {
    mx::array y = ln1(x);
    y = dropout1(attention.forward(y, y, y, mask, cache));
    mx::array h = mx::add(x, y);
    y = linear2(dropout2(activate(linear1(ln2(h)))));
    return mx::add(h, y);
  }
  mx::array y = dropout1(attention.forward(x, x, x, mask, cache));
  mx::array h = ln1(mx::add(x, y));
  y = linear2(dropout2(activate(linear1(h))));
  return ln2(mx::add(h, y));
}

namespace {

// Registers `num_layers` layers of type Layer as "layers" and the final
// LayerNorm as "ln", the children of MLX Python's encoder and decoder.
template <typename Layer>
void register_layer_stack(
    Module& stack,
    int num_layers,
    int dims,
    int num_heads,
    const TransformerOptions& options) {
  std::vector<ModulePtr> layers;
  for (int i = 0; i < num_layers; ++i) {
    layers.push_back(std::make_shared<Layer>(dims, num_heads, options));
  }
  stack.register_modules("layers", layers);
  stack.register_module("ln", std::make_shared<LayerNorm>(dims));
}

} // namespace

TransformerEncoder::TransformerEncoder(
    int num_layers,
    int dims,
    int num_heads,
    const TransformerOptions& options)
    : checkpoint_(options.checkpoint) {
  check_layer_sizes("TransformerEncoder", num_layers, dims, num_heads);
  register_layer_stack<TransformerEncoderLayer>(
      *this, num_layers, dims, num_heads, options);
}

std::vector<ModulePtr> TransformerEncoder::layers() const {
  return module_list(*this, "layers");
}

void TransformerEncoder::set_rope(std::shared_ptr<RoPE> rope) {
  for (const auto& layer : layers()) {
    std::static_pointer_cast<MultiHeadAttention>(layer->child("attention"))
        ->set_rope(rope);
  }
}

std::vector<mx::array> TransformerEncoder::forward(const Inputs& inputs) {
  check_inputs(*this, inputs, 1);
  return {forward(*inputs[0], optional_input(inputs, 1))};
}

mx::array TransformerEncoder::forward(
    const mx::array& x,
    const std::optional<mx::array>& mask,
    std::vector<KVCache>* caches) {
  auto all = layers();
  if (caches && caches->size() < all.size()) {
    caches->resize(all.size());
  }
  mx::array y = x;
  for (size_t i = 0; i < all.size(); ++i) {
    auto& layer = static_cast<TransformerEncoderLayer&>(*all[i]);
    if (caches) {
      y = layer.forward(y, mask, &(*caches)[i]);
    } else if (checkpoint_) {
      y = checkpointed_forward(all[i], Inputs{y, mask}).at(0);
    } else {
      y = layer.forward(y, mask);
    }
  }
  return (*child("ln"))(y);
}

TransformerDecoderLayer::TransformerDecoderLayer(
    int dims,
    int num_heads,
    const TransformerOptions& options)
    : norm_first_(options.norm_first) {
  check_layer_sizes("TransformerDecoderLayer", 1, dims, num_heads);
  int mlp_dims = mlp_size(options, dims);
  register_module(
      "self_attention", std::make_shared<MultiHeadAttention>(dims, num_heads));
  register_module(
      "cross_attention",
      std::make_shared<MultiHeadAttention>(dims, num_heads));
  register_module("ln1", std::make_shared<LayerNorm>(dims));
  register_module("ln2", std::make_shared<LayerNorm>(dims));
  register_module("ln3", std::make_shared<LayerNorm>(dims));
  register_module("linear1", std::make_shared<Linear>(dims, mlp_dims));
  register_module("linear2", std::make_shared<Linear>(mlp_dims, dims));
  register_module("dropout1", std::make_shared<Dropout>(options.dropout));
  register_module("dropout2", std::make_shared<Dropout>(options.dropout));
  register_module("dropout3", std::make_shared<Dropout>(options.dropout));
  activation_name_ = register_activation(*this, options.activation);
}

std::vector<mx::array> TransformerDecoderLayer::forward(const Inputs& inputs) {
  check_inputs(*this, inputs, 2);
  return {forward(
      *inputs[0],
      *inputs[1],
      optional_input(inputs, 2),
      optional_input(inputs, 3))};
}

mx::array TransformerDecoderLayer::forward(
    const mx::array& x,
    const mx::array& memory,
    const std::optional<mx::array>& x_mask,
    const std::optional<mx::array>& memory_mask,
    KVCache* cache) {
  auto& self_attention =
      static_cast<MultiHeadAttention&>(*child("self_attention"));
  auto& cross_attention =
      static_cast<MultiHeadAttention&>(*child("cross_attention"));
  Module& ln1 = *child("ln1");
  Module& ln2 = *child("ln2");
  Module& ln3 = *child("ln3");
  Module& linear1 = *child("linear1");
  Module& linear2 = *child("linear2");
  Module& dropout1 = *child("dropout1");
  Module& dropout2 = *child("dropout2");
  Module& dropout3 = *child("dropout3");
  auto mlp = [&](const mx::array& h) {
    mx::array a = apply_activation(*this, activation_name_, linear1(h));
    return linear2(dropout3(a));
  };

  if (norm_first_) {
    mx::array y = ln1(x);
    y = dropout1(self_attention.forward(y, y, y, x_mask, cache));
    mx::array h = mx::add(x, y);
    y = ln2(h);
    y = dropout2(cross_attention.forward(y, memory, memory, memory_mask));
    h = mx::add(h, y);
    return mx::add(h, mlp(ln3(h)));
  }
  mx::array y = dropout1(self_attention.forward(x, x, x, x_mask, cache));
  mx::array h = ln1(mx::add(x, y));
  y = dropout2(cross_attention.forward(h, memory, memory, memory_mask));
  h = ln2(mx::add(h, y));
  return ln3(mx::add(h, mlp(h)));
}

TransformerDecoder::TransformerDecoder(
    int num_layers,
    int dims,
    int num_heads,
    const TransformerOptions& options)
    : checkpoint_(options.checkpoint) {
  check_layer_sizes("TransformerDecoder", num_layers, dims, num_heads);
  register_layer_stack<TransformerDecoderLayer>(
      *this, num_layers, dims, num_heads, options);
}

std::vector<ModulePtr> TransformerDecoder::layers() const {
  return module_list(*this, "layers");
}

std::vector<mx::array> TransformerDecoder::forward(const Inputs& inputs) {
  check_inputs(*this, inputs, 2);
  return {forward(
      *inputs[0],
      *inputs[1],
      optional_input(inputs, 2),
      optional_input(inputs, 3))};
}

mx::array TransformerDecoder::forward(
    const mx::array& x,
    const mx::array& memory,
    const std::optional<mx::array>& x_mask,
    const std::optional<mx::array>& memory_mask,
    std::vector<KVCache>* caches) {
  auto all = layers();
  if (caches && caches->size() < all.size()) {
    caches->resize(all.size());
  }
  mx::array y = x;
  for (size_t i = 0; i < all.size(); ++i) {
    auto& layer = static_cast<TransformerDecoderLayer&>(*all[i]);
    if (caches) {
      y = layer.forward(y, memory, x_mask, memory_mask, &(*caches)[i]);
    } else if (checkpoint_) {
      y = checkpointed_forward(all[i], Inputs{y, memory, x_mask, memory_mask})
              .at(0);
    } else {
      y = layer.forward(y, memory, x_mask, memory_mask);
    }
  }
  return (*child("ln"))(y);
}

Transformer::Transformer(
    int dims,
    int num_heads,
    int num_encoder_layers,
    int num_decoder_layers,
    const TransformerOptions& options,
    ModulePtr custom_encoder,
    ModulePtr custom_decoder) {
  if (custom_encoder) {
    register_module("encoder", std::move(custom_encoder));
  } else {
    register_module(
        "encoder",
        std::make_shared<TransformerEncoder>(
            num_encoder_layers, dims, num_heads, options));
  }
  if (custom_decoder) {
    register_module("decoder", std::move(custom_decoder));
  } else {
    register_module(
        "decoder",
        std::make_shared<TransformerDecoder>(
            num_decoder_layers, dims, num_heads, options));
  }
}

std::vector<mx::array> Transformer::forward(const Inputs& inputs) {
  check_inputs(*this, inputs, 2);
  mx::array memory =
      child("encoder")->forward(Inputs{inputs[0], optional_input(inputs, 2)})
          .at(0);
  return child("decoder")->forward(Inputs{
      inputs[1],
      memory,
      optional_input(inputs, 3),
      optional_input(inputs, 4)});
}

} // namespace rmlx::nn
