// Constructors of the built-in layers and the functional activations.
#include "rmlx_module.h"
#include "rmlx_embedding.h"

#include <functional>
#include <limits>
#include <map>

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
SEXP nn_bilinear_(
    int input1_dims,
    int input2_dims,
    int output_dims,
    bool bias) {
  return rmlx_wrap_module(std::make_shared<nn::Bilinear>(
      input1_dims, input2_dims, output_dims, bias));
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
SEXP nn_group_norm_(
    int num_groups,
    int dims,
    double eps,
    bool affine,
    bool pytorch_compatible) {
  return rmlx_wrap_module(std::make_shared<nn::GroupNorm>(
      num_groups, dims, eps, affine, pytorch_compatible));
}

[[cpp11::register]]
SEXP nn_instance_norm_(int dims, double eps, bool affine) {
  return rmlx_wrap_module(
      std::make_shared<nn::InstanceNorm>(dims, eps, affine));
}

[[cpp11::register]]
SEXP nn_rms_norm_(int dims, double eps) {
  return rmlx_wrap_module(std::make_shared<nn::RMSNorm>(dims, eps));
}

[[cpp11::register]]
SEXP nn_dropout_(double p) {
  return rmlx_wrap_module(std::make_shared<nn::Dropout>(p));
}

namespace {

// An activation's options, as the R wrappers pass them: `first` is alpha,
// lambd, negative_slope, threshold or min_val, `second` is max_val, and
// `axis` is 0-based or negative.
struct ActivationOptions {
  double first;
  double second;
  int axis;
  std::string approx;
};

using LayerFactory = std::function<nn::ModulePtr(const ActivationOptions&)>;
using ActivationFunction =
    std::function<mx::array(const mx::array&, const ActivationOptions&)>;

template <typename Layer>
LayerFactory plain_layer() {
  return [](const ActivationOptions&) { return std::make_shared<Layer>(); };
}

const std::map<std::string, LayerFactory>& activation_layers() {
  using Options = ActivationOptions;
  static const std::map<std::string, LayerFactory> layers = {
      {"relu", plain_layer<nn::ReLU>()},
      {"relu2", plain_layer<nn::ReLU2>()},
      {"relu6", plain_layer<nn::ReLU6>()},
      {"sigmoid", plain_layer<nn::Sigmoid>()},
      {"tanh", plain_layer<nn::Tanh>()},
      {"silu", plain_layer<nn::SiLU>()},
      {"selu", plain_layer<nn::SELU>()},
      {"log_sigmoid", plain_layer<nn::LogSigmoid>()},
      {"softmax", plain_layer<nn::Softmax>()},
      {"softmin", plain_layer<nn::Softmin>()},
      {"log_softmax", plain_layer<nn::LogSoftmax>()},
      {"mish", plain_layer<nn::Mish>()},
      {"softplus", plain_layer<nn::Softplus>()},
      {"softsign", plain_layer<nn::Softsign>()},
      {"hardswish", plain_layer<nn::Hardswish>()},
      {"gelu",
       [](const Options& o) { return std::make_shared<nn::GELU>(o.approx); }},
      {"leaky_relu",
       [](const Options& o) {
         return std::make_shared<nn::LeakyReLU>(o.first);
       }},
      {"elu",
       [](const Options& o) { return std::make_shared<nn::ELU>(o.first); }},
      {"celu",
       [](const Options& o) { return std::make_shared<nn::CELU>(o.first); }},
      {"glu",
       [](const Options& o) { return std::make_shared<nn::GLU>(o.axis); }},
      {"softshrink",
       [](const Options& o) {
         return std::make_shared<nn::Softshrink>(o.first);
       }},
      {"hard_shrink",
       [](const Options& o) {
         return std::make_shared<nn::HardShrink>(o.first);
       }},
      {"hard_tanh",
       [](const Options& o) {
         return std::make_shared<nn::HardTanh>(o.first, o.second);
       }},
      {"step",
       [](const Options& o) { return std::make_shared<nn::Step>(o.first); }},
  };
  return layers;
}

const std::map<std::string, ActivationFunction>& activation_functions() {
  using Options = ActivationOptions;
  using Array = const mx::array&;
  static const std::map<std::string, ActivationFunction> functions = {
      {"relu", [](Array x, const Options&) { return nn::relu(x); }},
      {"relu2", [](Array x, const Options&) { return nn::relu2(x); }},
      {"relu6", [](Array x, const Options&) { return nn::relu6(x); }},
      {"gelu", [](Array x, const Options&) { return nn::gelu(x); }},
      {"gelu_approx",
       [](Array x, const Options&) { return nn::gelu_approx(x); }},
      {"gelu_fast_approx",
       [](Array x, const Options&) { return nn::gelu_fast_approx(x); }},
      {"sigmoid", [](Array x, const Options&) { return nn::sigmoid(x); }},
      {"tanh", [](Array x, const Options&) { return mx::tanh(x); }},
      {"silu", [](Array x, const Options&) { return nn::silu(x); }},
      {"selu", [](Array x, const Options&) { return nn::selu(x); }},
      {"log_sigmoid",
       [](Array x, const Options&) { return nn::log_sigmoid(x); }},
      {"mish", [](Array x, const Options&) { return nn::mish(x); }},
      {"softplus", [](Array x, const Options&) { return nn::softplus(x); }},
      {"softsign", [](Array x, const Options&) { return nn::softsign(x); }},
      {"hardswish", [](Array x, const Options&) { return nn::hardswish(x); }},
      {"leaky_relu",
       [](Array x, const Options& o) { return nn::leaky_relu(x, o.first); }},
      {"elu", [](Array x, const Options& o) { return nn::elu(x, o.first); }},
      {"celu", [](Array x, const Options& o) { return nn::celu(x, o.first); }},
      {"softshrink",
       [](Array x, const Options& o) { return nn::softshrink(x, o.first); }},
      {"hard_shrink",
       [](Array x, const Options& o) { return nn::hard_shrink(x, o.first); }},
      {"hard_tanh",
       [](Array x, const Options& o) {
         return nn::hard_tanh(x, o.first, o.second);
       }},
      {"step", [](Array x, const Options& o) { return nn::step(x, o.first); }},
      {"softmax",
       [](Array x, const Options& o) { return nn::softmax(x, o.axis); }},
      {"softmin",
       [](Array x, const Options& o) { return nn::softmin(x, o.axis); }},
      {"log_softmax",
       [](Array x, const Options& o) { return nn::log_softmax(x, o.axis); }},
      {"glu", [](Array x, const Options& o) { return nn::glu(x, o.axis); }},
  };
  return functions;
}

} // namespace

[[cpp11::register]]
SEXP nn_activation_layer_(
    std::string name,
    double first,
    double second,
    int axis,
    std::string approx) {
  const auto& layers = activation_layers();
  auto found = layers.find(name);
  if (found == layers.end()) {
    throw std::invalid_argument("Unknown activation layer '" + name + "'.");
  }
  return rmlx_wrap_module(found->second({first, second, axis, approx}));
}

[[cpp11::register]]
SEXP nn_activation_(
    std::string name,
    SEXP x,
    double first,
    double second,
    int axis) {
  const auto& a = rmlx_unwrap_array(x, ("mlx_act_" + name).c_str(), "x");
  const auto& functions = activation_functions();
  auto found = functions.find(name);
  if (found == functions.end()) {
    throw std::invalid_argument("Unknown activation '" + name + "'.");
  }
  return rmlx_wrap_array(found->second(a, {first, second, axis, ""}));
}

[[cpp11::register]]
SEXP nn_prelu_layer_(int num_parameters, double init) {
  return rmlx_wrap_module(std::make_shared<nn::PReLU>(num_parameters, init));
}

[[cpp11::register]]
SEXP nn_prelu_(SEXP x, SEXP alpha) {
  return rmlx_wrap_array(nn::prelu(
      rmlx_unwrap_array(x, "mlx_act_prelu", "x"),
      rmlx_unwrap_array(alpha, "mlx_act_prelu", "alpha")));
}
