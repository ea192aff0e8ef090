// Bindings for attention, the transformer layers, the positional encodings
// and the key-value cache.
#include "rmlx_module.h"

#include "rmlx/nn/attention.h"
#include "rmlx/nn/positional_encoding.h"
#include "rmlx/nn/transformer.h"

namespace mx = mlx::core;
namespace nn = rmlx::nn;

namespace {

using CacheHandle = std::shared_ptr<std::vector<nn::KVCache>>;

// R passes 0 for a size left to its default.
std::optional<int> optional_size(int size) {
  return size > 0 ? std::optional<int>(size) : std::nullopt;
}

std::shared_ptr<nn::RoPE> unwrap_rope(SEXP rope, const char* fn) {
  if (rope == R_NilValue) {
    return nullptr;
  }
  auto module = std::dynamic_pointer_cast<nn::RoPE>(
      rmlx_unwrap_module(rope, fn, "rope"));
  if (!module) {
    throw std::invalid_argument(
        std::string(fn) + "(): `rope` must be a layer made by mlx_rope().");
  }
  return module;
}

nn::TransformerOptions transformer_options(
    int mlp_dims,
    double dropout,
    const std::string& activation,
    SEXP activation_module,
    bool norm_first,
    bool checkpoint,
    const char* fn) {
  nn::TransformerOptions options;
  options.mlp_dims = optional_size(mlp_dims);
  options.dropout = dropout;
  if (activation_module != R_NilValue) {
    options.activation =
        rmlx_unwrap_module(activation_module, fn, "activation");
  } else {
    options.activation = activation;
  }
  options.norm_first = norm_first;
  options.checkpoint = checkpoint;
  return options;
}

SEXP cache_tag() {
  static SEXP tag = Rf_install("rmlx_kv_cache");
  return tag;
}

void finalize_cache(SEXP ptr) {
  auto* handle = static_cast<CacheHandle*>(R_ExternalPtrAddr(ptr));
  if (handle != nullptr) {
    delete handle;
    R_ClearExternalPtr(ptr);
  }
}

std::vector<nn::KVCache>& unwrap_cache(SEXP x, const char* fn) {
  if (TYPEOF(x) != EXTPTRSXP || R_ExternalPtrTag(x) != cache_tag() ||
      R_ExternalPtrAddr(x) == nullptr) {
    throw std::invalid_argument(
        std::string(fn) +
        "(): `cache` is not a live key-value cache; create one with "
        "mlx_kv_cache().");
  }
  return **static_cast<CacheHandle*>(R_ExternalPtrAddr(x));
}

std::optional<mx::array> optional_array(SEXP x, const char* fn, const char* arg) {
  if (x == R_NilValue) {
    return std::nullopt;
  }
  return rmlx_unwrap_array(x, fn, arg);
}

} // namespace

[[cpp11::register]]
SEXP nn_multi_head_attention_(
    int dims,
    int num_heads,
    int query_input_dims,
    int key_input_dims,
    int value_input_dims,
    int value_dims,
    int value_output_dims,
    bool bias,
    SEXP rope) {
  auto layer = std::make_shared<nn::MultiHeadAttention>(
      dims,
      num_heads,
      optional_size(query_input_dims),
      optional_size(key_input_dims),
      optional_size(value_input_dims),
      optional_size(value_dims),
      optional_size(value_output_dims),
      bias);
  layer->set_rope(unwrap_rope(rope, "mlx_multi_head_attention"));
  return rmlx_wrap_module(layer);
}

[[cpp11::register]]
SEXP nn_create_additive_causal_mask_(int n, std::string dtype) {
  return rmlx_wrap_array(nn::MultiHeadAttention::create_additive_causal_mask(
      n, rmlx_parse_dtype(dtype, "mlx_create_additive_causal_mask")));
}

[[cpp11::register]]
SEXP nn_rope_(int dims, bool traditional, double base, double scale) {
  return rmlx_wrap_module(
      std::make_shared<nn::RoPE>(dims, traditional, base, scale));
}

[[cpp11::register]]
SEXP nn_sinusoidal_positional_encoding_(
    int dims,
    double min_freq,
    double max_freq,
    double scale,
    bool cos_first,
    bool full_turns) {
  std::optional<double> scale_value =
      std::isnan(scale) ? std::nullopt : std::optional<double>(scale);
  return rmlx_wrap_module(std::make_shared<nn::SinusoidalPositionalEncoding>(
      dims, min_freq, max_freq, scale_value, cos_first, full_turns));
}

[[cpp11::register]]
SEXP nn_alibi_() {
  return rmlx_wrap_module(std::make_shared<nn::ALiBi>());
}

[[cpp11::register]]
SEXP nn_alibi_matrix_(
    int q_sequence_length,
    int k_sequence_length,
    int num_heads,
    int offset,
    std::string dtype) {
  return rmlx_wrap_array(nn::ALiBi::create_alibi_matrix(
      q_sequence_length,
      k_sequence_length,
      num_heads,
      offset,
      rmlx_parse_dtype(dtype, "mlx_create_alibi_matrix")));
}

[[cpp11::register]]
SEXP nn_transformer_encoder_layer_(
    int dims,
    int num_heads,
    int mlp_dims,
    double dropout,
    std::string activation,
    SEXP activation_module,
    bool norm_first,
    SEXP rope) {
  const char* fn = "mlx_transformer_encoder_layer";
  auto layer = std::make_shared<nn::TransformerEncoderLayer>(
      dims,
      num_heads,
      transformer_options(
          mlp_dims, dropout, activation, activation_module, norm_first, false,
          fn));
  std::static_pointer_cast<nn::MultiHeadAttention>(layer->child("attention"))
      ->set_rope(unwrap_rope(rope, fn));
  return rmlx_wrap_module(layer);
}

[[cpp11::register]]
SEXP nn_transformer_encoder_(
    int num_layers,
    int dims,
    int num_heads,
    int mlp_dims,
    double dropout,
    std::string activation,
    SEXP activation_module,
    bool norm_first,
    bool checkpoint,
    SEXP rope) {
  const char* fn = "mlx_transformer_encoder";
  auto layer = std::make_shared<nn::TransformerEncoder>(
      num_layers,
      dims,
      num_heads,
      transformer_options(
          mlp_dims, dropout, activation, activation_module, norm_first,
          checkpoint, fn));
  layer->set_rope(unwrap_rope(rope, fn));
  return rmlx_wrap_module(layer);
}

[[cpp11::register]]
SEXP nn_transformer_decoder_layer_(
    int dims,
    int num_heads,
    int mlp_dims,
    double dropout,
    std::string activation,
    SEXP activation_module,
    bool norm_first) {
  return rmlx_wrap_module(std::make_shared<nn::TransformerDecoderLayer>(
      dims,
      num_heads,
      transformer_options(
          mlp_dims, dropout, activation, activation_module, norm_first, false,
          "mlx_transformer_decoder_layer")));
}

[[cpp11::register]]
SEXP nn_transformer_decoder_(
    int num_layers,
    int dims,
    int num_heads,
    int mlp_dims,
    double dropout,
    std::string activation,
    SEXP activation_module,
    bool norm_first,
    bool checkpoint) {
  return rmlx_wrap_module(std::make_shared<nn::TransformerDecoder>(
      num_layers,
      dims,
      num_heads,
      transformer_options(
          mlp_dims, dropout, activation, activation_module, norm_first,
          checkpoint, "mlx_transformer_decoder")));
}

[[cpp11::register]]
SEXP nn_transformer_(
    int dims,
    int num_heads,
    int num_encoder_layers,
    int num_decoder_layers,
    int mlp_dims,
    double dropout,
    std::string activation,
    SEXP activation_module,
    SEXP custom_encoder,
    SEXP custom_decoder,
    bool norm_first,
    bool checkpoint) {
  const char* fn = "mlx_transformer";
  nn::ModulePtr encoder = custom_encoder == R_NilValue
      ? nullptr
      : rmlx_unwrap_module(custom_encoder, fn, "custom_encoder");
  nn::ModulePtr decoder = custom_decoder == R_NilValue
      ? nullptr
      : rmlx_unwrap_module(custom_decoder, fn, "custom_decoder");
  return rmlx_wrap_module(std::make_shared<nn::Transformer>(
      dims,
      num_heads,
      num_encoder_layers,
      num_decoder_layers,
      transformer_options(
          mlp_dims, dropout, activation, activation_module, norm_first,
          checkpoint, fn),
      encoder,
      decoder));
}

[[cpp11::register]]
SEXP nn_kv_cache_() {
  auto* heap = new CacheHandle(std::make_shared<std::vector<nn::KVCache>>());
  SEXP ptr = PROTECT(R_MakeExternalPtr(heap, cache_tag(), R_NilValue));
  R_RegisterCFinalizerEx(ptr, finalize_cache, TRUE);
  UNPROTECT(1);
  return ptr;
}

[[cpp11::register]]
int nn_kv_cache_offset_(SEXP cache) {
  auto& caches = unwrap_cache(cache, "mlx_kv_cache_offset");
  return caches.empty() ? 0 : caches[0].offset();
}

namespace {

// Runs `m` on the new positions `x`, extending `caches`.
SEXP forward_cached(
    const std::shared_ptr<nn::Module>& m,
    std::vector<nn::KVCache>& caches,
    SEXP x,
    SEXP mask,
    SEXP memory,
    SEXP memory_mask) {
  const char* fn = "mlx_forward_cached";
  const auto& input = rmlx_unwrap_array(x, fn, "x");
  auto mask_value = optional_array(mask, fn, "mask");
  if (auto encoder = std::dynamic_pointer_cast<nn::TransformerEncoder>(m)) {
    return rmlx_wrap_array(encoder->forward(input, mask_value, &caches));
  }
  if (caches.empty()) {
    caches.resize(1);
  }
  if (auto layer = std::dynamic_pointer_cast<nn::TransformerEncoderLayer>(m)) {
    return rmlx_wrap_array(layer->forward(input, mask_value, &caches[0]));
  }
  if (auto attention = std::dynamic_pointer_cast<nn::MultiHeadAttention>(m)) {
    return rmlx_wrap_array(
        attention->forward(input, input, input, mask_value, &caches[0]));
  }
  auto memory_value = optional_array(memory, fn, "memory");
  auto memory_mask_value = optional_array(memory_mask, fn, "memory_mask");
  auto decoder = std::dynamic_pointer_cast<nn::TransformerDecoder>(m);
  auto decoder_layer = std::dynamic_pointer_cast<nn::TransformerDecoderLayer>(m);
  if ((decoder || decoder_layer) && !memory_value) {
    throw std::invalid_argument(
        std::string(fn) + "(): a decoder needs `memory`, the encoder output.");
  }
  if (decoder) {
    return rmlx_wrap_array(decoder->forward(
        input, *memory_value, mask_value, memory_mask_value, &caches));
  }
  if (decoder_layer) {
    return rmlx_wrap_array(decoder_layer->forward(
        input, *memory_value, mask_value, memory_mask_value, &caches[0]));
  }
  throw std::invalid_argument(
      std::string(fn) + "(): `module` must be a MultiHeadAttention, a "
      "transformer encoder or decoder, or one of their layers, not " +
      m->type_name() + ".");
}

} // namespace

// The cache records the module of its first successful call in the external
// pointer's protected slot. A failed call restores the cache, because a layer
// that appended its keys before a later layer failed would shift every later
// position.
[[cpp11::register]]
SEXP nn_forward_cached_(
    SEXP module,
    SEXP x,
    SEXP mask,
    SEXP memory,
    SEXP memory_mask,
    SEXP cache) {
  const char* fn = "mlx_forward_cached";
  auto m = rmlx_unwrap_module(module, fn, "module");
  auto& caches = unwrap_cache(cache, fn);
  SEXP owner = R_ExternalPtrProtected(cache);
  if (owner != R_NilValue &&
      rmlx_unwrap_module(owner, fn, "module").get() != m.get()) {
    throw std::invalid_argument(
        std::string(fn) + "(): `cache` belongs to another module; create a "
        "new cache with mlx_kv_cache() for each model and sequence.");
  }
  auto saved = caches;
  SEXP out;
  try {
    out = forward_cached(m, caches, x, mask, memory, memory_mask);
  } catch (...) {
    caches = std::move(saved);
    throw;
  }
  if (owner == R_NilValue) {
    R_SetExternalPtrProtected(cache, module);
  }
  return out;
}
