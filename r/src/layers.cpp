// Constructors of the built-in layers and the functional activations.
#include "rmlx_module.h"
#include "rmlx_embedding.h"

#include <limits>

#include "rmlx/nn/activations.h"
#include "rmlx/nn/containers.h"
#include "rmlx/nn/dropout.h"
#include "rmlx/nn/embedding.h"
#include "rmlx/nn/linear.h"
#include "rmlx/nn/normalization.h"
#include "rmlx/random.h"

namespace mx = mlx::core;
namespace nn = rmlx::nn;

[[cpp11::register]]
void random_seed_(double seed) {
  rmlx::random::seed(static_cast<uint64_t>(seed));
}

[[cpp11::register]]
SEXP nn_linear_(int input_dims, int output_dims, bool bias) {
  return rmlx_wrap_module(
      std::make_shared<nn::Linear>(input_dims, output_dims, bias));
}

[[cpp11::register]]
SEXP nn_identity_() {
  return rmlx_wrap_module(std::make_shared<nn::Identity>());
}

mx::array rmlx_one_based_lookup(
    const mx::array& x,
    int rows,
    const std::function<mx::array(const mx::array&)>& lookup) {
  if (!mx::issubdtype(x.dtype(), mx::integer)) {
    return lookup(x);
  }
  mx::array index = mx::subtract(x, mx::array(1, x.dtype()));
  mx::array valid = mx::logical_and(
      mx::greater_equal(index, mx::array(0, x.dtype())),
      mx::less(index, mx::array(rows, x.dtype())));
  mx::array safe = mx::where(valid, index, mx::array(0, x.dtype()));
  mx::array out = lookup(safe);
  return mx::where(
      mx::expand_dims(valid, -1),
      out,
      mx::array(std::numeric_limits<float>::quiet_NaN(), out.dtype()));
}

[[cpp11::register]]
SEXP nn_embedding_(int num_embeddings, int dims) {
  return rmlx_wrap_module(
      std::make_shared<OneBasedEmbedding>(num_embeddings, dims));
}

[[cpp11::register]]
SEXP nn_embedding_as_linear_(SEXP module, SEXP x) {
  auto m = rmlx_unwrap_module(module, "mlx_as_linear", "embedding");
  const auto& input = rmlx_unwrap_array(x, "mlx_as_linear", "x");
  if (auto embedding = std::dynamic_pointer_cast<nn::Embedding>(m)) {
    return rmlx_wrap_array(embedding->as_linear(input));
  }
  if (auto embedding = std::dynamic_pointer_cast<nn::QuantizedEmbedding>(m)) {
    return rmlx_wrap_array(embedding->as_linear(input));
  }
  throw std::invalid_argument(
      "mlx_as_linear(): `embedding` must be an Embedding or "
      "QuantizedEmbedding layer, not " + m->type_name() + ".");
}

[[cpp11::register]]
SEXP nn_sequential_(cpp11::list modules) {
  std::vector<nn::ModulePtr> layers;
  for (R_xlen_t i = 0; i < modules.size(); ++i) {
    layers.push_back(rmlx_unwrap_module(modules[i], "mlx_sequential", "..."));
  }
  return rmlx_wrap_module(std::make_shared<nn::Sequential>(layers));
}

[[cpp11::register]]
SEXP nn_layer_norm_(int dims, double eps, bool affine, bool bias) {
  return rmlx_wrap_module(
      std::make_shared<nn::LayerNorm>(dims, eps, affine, bias));
}

[[cpp11::register]]
SEXP nn_batch_norm_(
    int num_features,
    double eps,
    double momentum,
    bool affine,
    bool track_running_stats) {
  return rmlx_wrap_module(std::make_shared<nn::BatchNorm>(
      num_features, eps, momentum, affine, track_running_stats));
}

[[cpp11::register]]
SEXP nn_dropout_(double p) {
  return rmlx_wrap_module(std::make_shared<nn::Dropout>(p));
}

[[cpp11::register]]
SEXP nn_activation_layer_(std::string name, double param, std::string approx) {
  nn::ModulePtr m;
  if (name == "relu") {
    m = std::make_shared<nn::ReLU>();
  } else if (name == "gelu") {
    m = std::make_shared<nn::GELU>(approx);
  } else if (name == "sigmoid") {
    m = std::make_shared<nn::Sigmoid>();
  } else if (name == "tanh") {
    m = std::make_shared<nn::Tanh>();
  } else if (name == "silu") {
    m = std::make_shared<nn::SiLU>();
  } else if (name == "leaky_relu") {
    m = std::make_shared<nn::LeakyReLU>(param);
  } else if (name == "softmax") {
    m = std::make_shared<nn::Softmax>();
  } else {
    throw std::invalid_argument("Unknown activation layer '" + name + "'.");
  }
  return rmlx_wrap_module(m);
}

[[cpp11::register]]
SEXP nn_activation_(std::string name, SEXP x, double param, int axis) {
  const auto& a = rmlx_unwrap_array(x, ("mlx_act_" + name).c_str(), "x");
  if (name == "relu") {
    return rmlx_wrap_array(nn::relu(a));
  } else if (name == "gelu") {
    return rmlx_wrap_array(nn::gelu(a));
  } else if (name == "gelu_approx") {
    return rmlx_wrap_array(nn::gelu_approx(a));
  } else if (name == "gelu_fast_approx") {
    return rmlx_wrap_array(nn::gelu_fast_approx(a));
  } else if (name == "sigmoid") {
    return rmlx_wrap_array(nn::sigmoid(a));
  } else if (name == "tanh") {
    return rmlx_wrap_array(mx::tanh(a));
  } else if (name == "silu") {
    return rmlx_wrap_array(nn::silu(a));
  } else if (name == "leaky_relu") {
    return rmlx_wrap_array(nn::leaky_relu(a, param));
  } else if (name == "softmax") {
    return rmlx_wrap_array(nn::softmax(a, axis));
  }
  throw std::invalid_argument("Unknown activation '" + name + "'.");
}
