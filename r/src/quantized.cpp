// Bindings for quantized layers, model quantization and the quantized array
// operations. A group size or bit width of NA_INTEGER takes the mode's
// default.
#include "rmlx_embedding.h"
#include "rmlx_module.h"

#include <optional>
#include <string>

#include "rmlx/nn/quantized.h"

namespace mx = mlx::core;
namespace nn = rmlx::nn;

namespace {

std::optional<int> optional_int(int value) {
  if (value == NA_INTEGER) {
    return std::nullopt;
  }
  return value;
}

nn::QuantizationSpec make_spec(int group_size, int bits, std::string mode) {
  return nn::QuantizationSpec{
      optional_int(group_size), optional_int(bits), std::move(mode)};
}

std::optional<mx::array> optional_array(SEXP x, const char* fn, const char* arg) {
  if (x == R_NilValue) {
    return std::nullopt;
  }
  return rmlx_unwrap_array(x, fn, arg);
}

// The quantized twin of a Linear or Embedding; embeddings keep R's 1-based
// indices.
nn::ModulePtr quantized_layer(nn::Module& module, const nn::QuantizationSpec& spec) {
  if (auto* embedding = dynamic_cast<nn::Embedding*>(&module)) {
    return OneBasedQuantizedEmbedding::from_embedding(*embedding, spec);
  }
  return nn::to_quantized(module, spec);
}

// The float twin of a QuantizedLinear or QuantizedEmbedding; embeddings keep
// R's 1-based indices.
nn::ModulePtr dequantized_layer(nn::Module& module) {
  if (auto* quantized = dynamic_cast<nn::QuantizedEmbedding*>(&module)) {
    auto embedding = std::make_shared<OneBasedEmbedding>(
        quantized->num_embeddings(), quantized->dims());
    embedding->register_parameter("weight", quantized->dequantized_weight());
    return embedding;
  }
  return nn::to_dequantized(module);
}

nn::ModulePtr find_module(nn::Module& root, const std::string& path) {
  for (auto& [name, module] : root.named_modules()) {
    if (name == path) {
      return module;
    }
  }
  throw std::invalid_argument("No module at path '" + path + "'.");
}

} // namespace

// Returns c(group_size, bits) with the mode's defaults filled in, or raises
// the error of an invalid combination.
[[cpp11::register]]
cpp11::integers quantization_settings_(int group_size, int bits, std::string mode) {
  auto settings =
      nn::resolve_quantization("quantize", make_spec(group_size, bits, mode));
  return cpp11::writable::integers({settings.group_size, settings.bits});
}

[[cpp11::register]]
SEXP nn_quantized_linear_(
    int input_dims,
    int output_dims,
    bool bias,
    int group_size,
    int bits,
    std::string mode) {
  return rmlx_wrap_module(std::make_shared<nn::QuantizedLinear>(
      input_dims, output_dims, bias, make_spec(group_size, bits, mode)));
}

[[cpp11::register]]
SEXP nn_quantized_embedding_(
    int num_embeddings,
    int dims,
    int group_size,
    int bits,
    std::string mode) {
  return rmlx_wrap_module(std::make_shared<OneBasedQuantizedEmbedding>(
      num_embeddings, dims, make_spec(group_size, bits, mode)));
}

[[cpp11::register]]
SEXP nn_to_quantized_(SEXP module, int group_size, int bits, std::string mode) {
  auto& m = rmlx_unwrap_module(module, "mlx_to_quantized", "layer");
  return rmlx_wrap_module(
      quantized_layer(*m, make_spec(group_size, bits, mode)));
}

[[cpp11::register]]
SEXP nn_to_dequantized_(SEXP module) {
  return rmlx_wrap_module(
      dequantized_layer(*rmlx_unwrap_module(module, "mlx_dequantize", "module")));
}

// Describes the leaf modules of a model for mlx_quantize(): their dotted
// paths, class names and input sizes (the last axis of the float weight;
// -1 for layers other than Linear and Embedding).
[[cpp11::register]]
cpp11::list module_quantize_candidates_(SEXP ptr) {
  auto& m = rmlx_unwrap_module(ptr, "mlx_quantize", "module");
  auto leaves = m->leaf_modules();
  cpp11::writable::strings paths(leaves.size());
  cpp11::writable::strings types(leaves.size());
  cpp11::writable::integers input_dims(leaves.size());
  for (size_t i = 0; i < leaves.size(); ++i) {
    auto& leaf = *leaves[i].second;
    paths[i] = leaves[i].first;
    types[i] = leaf.type_name();
    bool quantizable = dynamic_cast<nn::Linear*>(&leaf) ||
        dynamic_cast<nn::Embedding*>(&leaf);
    input_dims[i] = quantizable ? leaf.param("weight").shape(1) : -1;
  }
  return cpp11::writable::list(
      {cpp11::named_arg("path") = paths,
       cpp11::named_arg("type") = types,
       cpp11::named_arg("input_dims") = input_dims});
}

// Replaces the layers at `paths` with their quantized twins. Every
// replacement is built before the first is stored, so an error leaves the
// model unchanged.
[[cpp11::register]]
void module_quantize_paths_(
    SEXP ptr,
    cpp11::strings paths,
    cpp11::integers group_sizes,
    cpp11::integers bits,
    cpp11::strings modes) {
  auto& m = rmlx_unwrap_module(ptr, "mlx_quantize", "module");
  std::vector<std::pair<std::string, nn::ModulePtr>> replacements;
  for (R_xlen_t i = 0; i < paths.size(); ++i) {
    std::string path = paths[i];
    auto layer = find_module(*m, path);
    try {
      replacements.emplace_back(
          path,
          quantized_layer(
              *layer, make_spec(group_sizes[i], bits[i], std::string(modes[i]))));
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("Layer '" + path + "': " + e.what());
    }
  }
  for (auto& [path, replacement] : replacements) {
    nn::replace_module(*m, path, replacement);
  }
}

// Replaces every quantized layer with its float twin; returns their paths.
[[cpp11::register]]
cpp11::strings module_dequantize_(SEXP ptr) {
  auto& m = rmlx_unwrap_module(ptr, "mlx_dequantize", "module");
  std::vector<std::pair<std::string, nn::ModulePtr>> replacements;
  for (auto& [path, leaf] : m->leaf_modules()) {
    if (dynamic_cast<nn::QuantizedLinear*>(leaf.get()) ||
        dynamic_cast<nn::QuantizedEmbedding*>(leaf.get())) {
      replacements.emplace_back(path, dequantized_layer(*leaf));
    }
  }
  cpp11::writable::strings paths(replacements.size());
  for (size_t i = 0; i < replacements.size(); ++i) {
    nn::replace_module(*m, replacements[i].first, replacements[i].second);
    paths[i] = replacements[i].first;
  }
  return paths;
}

// Returns list(weight, scales) or list(weight, scales, biases), as
// mx.quantize returns them.
[[cpp11::register]]
cpp11::list quantize_(SEXP w, int group_size, int bits, std::string mode) {
  auto packed = mx::quantize(
      rmlx_unwrap_array(w, "mlx_quantize", "x"),
      optional_int(group_size),
      optional_int(bits),
      mode);
  cpp11::writable::list out(packed.size());
  cpp11::writable::strings names(packed.size());
  const char* keys[] = {"weight", "scales", "biases"};
  for (size_t i = 0; i < packed.size(); ++i) {
    out[i] = rmlx_wrap_array(packed[i]);
    names[i] = keys[i];
  }
  out.names() = names;
  return out;
}

[[cpp11::register]]
SEXP dequantize_(
    SEXP w,
    SEXP scales,
    SEXP biases,
    int group_size,
    int bits,
    std::string mode,
    SEXP dtype) {
  const char* fn = "mlx_dequantize";
  std::optional<mx::Dtype> out_dtype;
  if (dtype != R_NilValue) {
    out_dtype = rmlx_parse_dtype(cpp11::as_cpp<std::string>(dtype), fn);
  }
  return rmlx_wrap_array(mx::dequantize(
      rmlx_unwrap_array(w, fn, "x"),
      rmlx_unwrap_array(scales, fn, "scales"),
      optional_array(biases, fn, "biases"),
      optional_int(group_size),
      optional_int(bits),
      mode,
      std::nullopt,
      out_dtype));
}

[[cpp11::register]]
SEXP quantized_matmul_(
    SEXP x,
    SEXP w,
    SEXP scales,
    SEXP biases,
    bool transpose,
    int group_size,
    int bits,
    std::string mode) {
  const char* fn = "mlx_quantized_matmul";
  return rmlx_wrap_array(mx::quantized_matmul(
      rmlx_unwrap_array(x, fn, "x"),
      rmlx_unwrap_array(w, fn, "w"),
      rmlx_unwrap_array(scales, fn, "scales"),
      optional_array(biases, fn, "biases"),
      transpose,
      optional_int(group_size),
      optional_int(bits),
      mode));
}

[[cpp11::register]]
SEXP gather_qmm_(
    SEXP x,
    SEXP w,
    SEXP scales,
    SEXP biases,
    SEXP lhs_indices,
    SEXP rhs_indices,
    bool transpose,
    int group_size,
    int bits,
    std::string mode,
    bool sorted_indices) {
  const char* fn = "mlx_gather_qmm";
  return rmlx_wrap_array(mx::gather_qmm(
      rmlx_unwrap_array(x, fn, "x"),
      rmlx_unwrap_array(w, fn, "w"),
      rmlx_unwrap_array(scales, fn, "scales"),
      optional_array(biases, fn, "biases"),
      optional_array(lhs_indices, fn, "lhs_indices"),
      optional_array(rhs_indices, fn, "rhs_indices"),
      transpose,
      optional_int(group_size),
      optional_int(bits),
      mode,
      std::nullopt,
      sorted_indices));
}
