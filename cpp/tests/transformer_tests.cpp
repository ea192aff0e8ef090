#include <doctest/doctest.h>

#include <functional>
#include <map>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "rmlx/nn/activations.h"
#include "rmlx/nn/attention.h"
#include "rmlx/nn/positional_encoding.h"
#include "rmlx/nn/training.h"
#include "rmlx/nn/transformer.h"
#include "test_utils.h"

using namespace rmlx::nn;
using rmlx::test::arrays_close;
using rmlx::test::Fixture;

namespace {

// The layers of make_transformer_fixtures.py, made after seed 42.
ModulePtr make_case(const std::string& name) {
  mx::random::seed(42);
  if (name == "mha") {
    return std::make_shared<MultiHeadAttention>(8, 2);
  }
  if (name == "mha_bias_mask") {
    return std::make_shared<MultiHeadAttention>(
        8,
        2,
        std::nullopt,
        std::nullopt,
        std::nullopt,
        std::nullopt,
        std::nullopt,
        true);
  }
  if (name == "mha_dims") {
    return std::make_shared<MultiHeadAttention>(8, 4, 6, 5, 4, 12, 3);
  }
  if (name == "mha_bool_mask") {
    return std::make_shared<MultiHeadAttention>(8, 2);
  }
  if (name == "encoder_layer") {
    return std::make_shared<TransformerEncoderLayer>(8, 2);
  }
  if (name == "encoder_layer_post_gelu") {
    TransformerOptions options;
    options.mlp_dims = 12;
    options.activation = std::string("gelu");
    options.norm_first = false;
    return std::make_shared<TransformerEncoderLayer>(8, 2, options);
  }
  if (name == "encoder_layer_module_activation") {
    TransformerOptions options;
    options.mlp_dims = 16;
    options.activation = std::make_shared<GELU>();
    return std::make_shared<TransformerEncoderLayer>(8, 4, options);
  }
  TransformerOptions options;
  options.mlp_dims = 16;
  if (name == "encoder") {
    return std::make_shared<TransformerEncoder>(2, 8, 2, options);
  }
  if (name == "encoder_checkpoint") {
    options.norm_first = false;
    options.checkpoint = true;
    return std::make_shared<TransformerEncoder>(2, 8, 2, options);
  }
  if (name == "decoder_layer") {
    return std::make_shared<TransformerDecoderLayer>(8, 2, options);
  }
  if (name == "decoder_layer_post") {
    options.activation = std::string("silu");
    options.norm_first = false;
    return std::make_shared<TransformerDecoderLayer>(8, 2, options);
  }
  if (name == "decoder") {
    options.checkpoint = true;
    return std::make_shared<TransformerDecoder>(2, 8, 2, options);
  }
  options.mlp_dims = 12;
  return std::make_shared<Transformer>(8, 2, 1, 2, options);
}

const std::vector<std::string> kCases = {
    "mha",
    "mha_bias_mask",
    "mha_dims",
    "mha_bool_mask",
    "encoder_layer",
    "encoder_layer_post_gelu",
    "encoder_layer_module_activation",
    "encoder",
    "encoder_checkpoint",
    "decoder_layer",
    "decoder_layer_post",
    "decoder",
    "transformer"};

// The case's inputs in call order; a key missing from the fixture is a
// missing input.
Inputs case_inputs(const Fixture& fx, const std::string& name, Module& m) {
  Inputs inputs;
  for (const auto& input : m.input_names()) {
    std::string key = name + "/in/" + input;
    if (fx.has(key)) {
      inputs.push_back(fx[key]);
    } else {
      inputs.push_back(std::nullopt);
    }
  }
  while (!inputs.empty() && !inputs.back()) {
    inputs.pop_back();
  }
  return inputs;
}

} // namespace

TEST_CASE("transformer layers match MLX Python") {
  Fixture fx("transformer");
  for (const auto& name : kCases) {
    CAPTURE(name);
    ModulePtr layer = make_case(name);
    for (const auto& [param, value] : layer->parameters()) {
      CAPTURE(param);
      CHECK(arrays_close(value, fx[name + "/param/" + param]));
    }
    CHECK(layer->parameters().size() == fx.count(name + "/param/"));

    Inputs inputs = case_inputs(fx, name, *layer);
    mx::array y = layer->forward(inputs).at(0);
    CHECK(arrays_close(y, fx[name + "/y"], 1e-4, 1e-5));
    if (fx.has(name + "/torch_y")) {
      CHECK(arrays_close(y, fx[name + "/torch_y"], 1e-4, 1e-5));
    }
  }
}

TEST_CASE("transformer gradients match MLX Python") {
  Fixture fx("transformer");
  for (const auto& name : kCases) {
    CAPTURE(name);
    ModulePtr layer = make_case(name);
    Inputs inputs = case_inputs(fx, name, *layer);
    mx::array weights = mx::sin(mx::reshape(
        mx::arange(static_cast<int>(fx[name + "/y"].size()), mx::float32),
        fx[name + "/y"].shape()));
    auto loss = [&](const std::vector<mx::array>& args) {
      Inputs with_args = inputs;
      with_args[0] = args[0];
      return std::vector<mx::array>{
          mx::sum(mx::multiply(layer->forward(with_args).at(0), weights))};
    };
    auto [values, grads] = value_and_grad(*layer, loss)({*inputs[0]});
    for (const auto& [param, grad] : grads) {
      CAPTURE(param);
      CHECK(arrays_close(grad, fx[name + "/grad/param/" + param], 1e-4, 1e-5));
    }
    CHECK(grads.size() == fx.count(name + "/grad/param/"));
  }
}

TEST_CASE("additive causal mask in low precision") {
  Fixture fx("transformer");
  for (auto [name, dtype] : std::vector<std::pair<std::string, mx::Dtype>>{
           {"float32", mx::float32},
           {"float16", mx::float16},
           {"bfloat16", mx::bfloat16}}) {
    CAPTURE(name);
    mx::array mask = MultiHeadAttention::create_additive_causal_mask(5, dtype);
    CHECK(mask.dtype() == dtype);
    CHECK(arrays_close(mx::astype(mask, mx::float32), fx["mask/causal_" + name]));
    if (dtype == mx::float32) {
      continue;
    }
    mx::random::seed(42);
    MultiHeadAttention layer(8, 2);
    layer.set_dtype(dtype);
    mx::array x = mx::astype(fx["mask/attention_x"], dtype);
    mx::array y = layer.forward(x, x, x, mask);
    CHECK_FALSE(mx::any(mx::isnan(y)).item<bool>());
    CHECK(arrays_close(
        mx::astype(y, mx::float32), fx["mask/attention_" + name], 2e-2, 2e-2));
  }
  CHECK_THROWS_AS(
      MultiHeadAttention::create_additive_causal_mask(3, mx::int32),
      std::invalid_argument);
}

TEST_CASE("positional encodings match MLX Python") {
  Fixture fx("transformer");
  RoPE rope(8);
  RoPE partial(6, true, 500.0, 0.5);
  for (auto& [name, layer] :
       std::vector<std::pair<std::string, RoPE*>>{
           {"default", &rope}, {"partial_traditional", &partial}}) {
    CAPTURE(name);
    const auto& x = fx["rope_" + name + "/x"];
    CHECK(arrays_close(layer->forward(x, 0), fx["rope_" + name + "/y"]));
    CHECK(arrays_close(
        layer->forward(x, 3), fx["rope_" + name + "/y_offset3"], 1e-5, 1e-5));
    CHECK(arrays_close(
        layer->forward(x, mx::array(3)),
        fx["rope_" + name + "/y_offset3"],
        1e-5,
        1e-5));
  }

  SinusoidalPositionalEncoding plain(8);
  SinusoidalPositionalEncoding options(6, 0.01, 2.0, 1.5, true, true);
  SinusoidalPositionalEncoding two(2);
  for (auto& [name, layer] :
       std::vector<std::pair<std::string, SinusoidalPositionalEncoding*>>{
           {"default", &plain}, {"options", &options}, {"two", &two}}) {
    CAPTURE(name);
    CHECK(arrays_close(
        (*layer)(fx["sinusoidal_" + name + "/x"]),
        fx["sinusoidal_" + name + "/y"],
        1e-5,
        1e-5));
  }

  ALiBi alibi;
  CHECK(arrays_close(
      alibi.forward(fx["alibi_four_heads/scores"], 0),
      fx["alibi_four_heads/y"]));
  CHECK(arrays_close(
      alibi.forward(
          fx["alibi_six_heads_offset_mask/scores"],
          2,
          fx["alibi_six_heads_offset_mask/mask"]),
      fx["alibi_six_heads_offset_mask/y"]));

  CHECK_THROWS_AS(RoPE(3), std::invalid_argument);
  CHECK_THROWS_AS(SinusoidalPositionalEncoding(5), std::invalid_argument);
  CHECK_THROWS_AS(ALiBi::create_alibi_slope(0), std::invalid_argument);
}

TEST_CASE("attention rejects bad sizes") {
  CHECK_THROWS_AS(MultiHeadAttention(8, 3), std::invalid_argument);
  CHECK_THROWS_AS(
      MultiHeadAttention(8, 2, std::nullopt, std::nullopt, std::nullopt, 5),
      std::invalid_argument);
  CHECK_THROWS_AS(MultiHeadAttention(0, 1), std::invalid_argument);
  TransformerOptions bad;
  bad.activation = std::string("swish");
  CHECK_THROWS_AS(TransformerEncoderLayer(8, 2, bad), std::invalid_argument);
  MultiHeadAttention layer(8, 2);
  mx::array x2 = mx::zeros({4, 8});
  CHECK_THROWS_AS(layer.forward(x2, x2, x2), std::invalid_argument);
}

TEST_CASE("cached decoding matches full recomputation") {
  mx::random::seed(7);
  TransformerOptions options;
  options.mlp_dims = 32;
  // Registering a child needs the module to be owned by a shared_ptr.
  auto owner = std::make_shared<TransformerEncoder>(2, 16, 4, options);
  TransformerEncoder& encoder = *owner;
  encoder.set_rope(std::make_shared<RoPE>(4));
  encoder.eval();
  mx::array x = mx::random::normal({2, 6, 16});
  mx::array full = encoder.forward(
      x, MultiHeadAttention::create_additive_causal_mask(6));

  std::vector<KVCache> caches;
  // A prompt of 3 steps, then one step at a time.
  mx::array prompt = mx::slice(x, {0, 0, 0}, {2, 3, 16});
  std::vector<mx::array> steps = {encoder.forward(
      prompt, MultiHeadAttention::create_additive_causal_mask(3), &caches)};
  for (int t = 3; t < 6; ++t) {
    mx::array step = mx::slice(x, {0, t, 0}, {2, t + 1, 16});
    steps.push_back(encoder.forward(step, std::nullopt, &caches));
  }
  CHECK(caches.size() == 2);
  CHECK(caches[0].offset() == 6);
  CHECK(arrays_close(mx::concatenate(steps, 1), full, 1e-4, 1e-5));
}
