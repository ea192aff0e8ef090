// Quantized layers and model quantization against MLX Python's values
// (tools/fixtures/make_quantized_fixtures.py).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "rmlx/nn/activations.h"
#include "rmlx/nn/containers.h"
#include "rmlx/nn/quantized.h"
#include "test_utils.h"

using namespace rmlx::nn;
using rmlx::test::arrays_close;
using rmlx::test::arrays_equal;
using rmlx::test::Fixture;

namespace {

struct Case {
  std::string mode;
  int group_size;
  int bits;
  std::string name() const {
    return mode + "_g" + std::to_string(group_size) + "_b" +
        std::to_string(bits);
  }
};

// Layer cases: make_quantized_fixtures.py writes layers for group sizes up
// to 64.
const std::vector<Case> layer_cases = {
    {"affine", 64, 4},
    {"affine", 32, 2},
    {"affine", 64, 3},
    {"affine", 32, 1},
    {"affine", 64, 6},
    {"mxfp4", 32, 4},
    {"nvfp4", 16, 4},
    {"mxfp8", 32, 8},
};

std::vector<std::string> names_of(const NamedArrays& arrays) {
  std::vector<std::string> names;
  for (const auto& [name, a] : arrays) {
    names.push_back(name);
  }
  return names;
}

} // namespace

TEST_CASE("quantized linear from linear matches MLX Python") {
  Fixture fixture("quantized_layers");
  for (const auto& c : layer_cases) {
    CAPTURE(c.name());
    std::string prefix = c.name() + "_linear_";
    auto linear = std::make_shared<Linear>(64, 5);
    linear->load_weights(
        {{"weight", fixture[prefix + "weight"]},
         {"bias", fixture[prefix + "bias"]}});

    auto layer = QuantizedLinear::from_linear(
        *linear, QuantizationSpec{c.group_size, c.bits, c.mode});

    for (const auto& [name, value] : layer->parameters()) {
      CAPTURE(name);
      CHECK(arrays_equal(value, fixture[prefix + "param_" + name]));
    }
    CHECK(layer->has("biases") == (c.mode == "affine"));
    CHECK(arrays_close((*layer)(fixture["x"]), fixture[prefix + "y"]));
    // The packed weights are frozen and the copied bias is not, as in
    // MLX Python's from_linear.
    CHECK(names_of(layer->trainable_parameters()) ==
          std::vector<std::string>{"bias"});
  }
}

TEST_CASE("quantized embedding from embedding matches MLX Python") {
  Fixture fixture("quantized_layers");
  for (const auto& c : layer_cases) {
    CAPTURE(c.name());
    std::string prefix = c.name() + "_embedding_";
    auto embedding = std::make_shared<Embedding>(10, 64);
    embedding->load_weights({{"weight", fixture[prefix + "weight"]}});

    auto layer = QuantizedEmbedding::from_embedding(
        *embedding, QuantizationSpec{c.group_size, c.bits, c.mode});

    for (const auto& [name, value] : layer->parameters()) {
      CAPTURE(name);
      CHECK(arrays_equal(value, fixture[prefix + "param_" + name]));
    }
    CHECK(arrays_close((*layer)(fixture["ids"]), fixture[prefix + "y"]));
    CHECK(arrays_close(
        layer->as_linear(fixture["x"]), fixture[prefix + "as_linear"]));
    CHECK(layer->trainable_parameters().empty());
  }
}

TEST_CASE("quantized layers from scratch match MLX Python's draws") {
  Fixture fixture("quantized_layers");
  mx::random::seed(5);
  QuantizedLinear linear(64, 4);
  CHECK(arrays_equal(linear.param("weight"), fixture["scratch_linear_weight"]));
  CHECK(arrays_equal(linear.param("scales"), fixture["scratch_linear_scales"]));
  CHECK(arrays_equal(linear.param("biases"), fixture["scratch_linear_biases"]));
  CHECK(arrays_equal(linear.param("bias"), mx::zeros({4})));
  CHECK(linear.trainable_parameters().empty());

  mx::random::seed(5);
  QuantizedEmbedding embedding(6, 32, QuantizationSpec{32, 8, "affine"});
  CHECK(arrays_equal(
      embedding.param("weight"), fixture["scratch_embedding_weight"]));
  CHECK(arrays_equal(
      embedding.param("scales"), fixture["scratch_embedding_scales"]));
  CHECK(arrays_equal(
      embedding.param("biases"), fixture["scratch_embedding_biases"]));
}

TEST_CASE("quantized layers repr as MLX Python") {
  QuantizedLinear linear(64, 8);
  CHECK(
      linear.to_string() ==
      "QuantizedLinear(input_dims=64, output_dims=8, bias=True, "
      "group_size=64, bits=4, mode=affine)");
  QuantizedEmbedding embedding(10, 64, QuantizationSpec{{}, {}, "mxfp4"});
  CHECK(
      embedding.to_string() ==
      "QuantizedEmbedding(10, 64, group_size=32, bits=4, mode=mxfp4)");
}

TEST_CASE("quantization settings are checked") {
  auto settings = resolve_quantization("test", QuantizationSpec{});
  CHECK(settings.group_size == 64);
  CHECK(settings.bits == 4);
  settings = resolve_quantization("test", QuantizationSpec{{}, {}, "nvfp4"});
  CHECK(settings.group_size == 16);
  settings = resolve_quantization("test", QuantizationSpec{{}, {}, "mxfp8"});
  CHECK(settings.bits == 8);

  CHECK_THROWS_AS(
      resolve_quantization("test", QuantizationSpec{{}, {}, "int4"}),
      std::invalid_argument);
  CHECK_THROWS_AS(
      resolve_quantization("test", QuantizationSpec{16, 4, "affine"}),
      std::invalid_argument);
  CHECK_THROWS_AS(
      resolve_quantization("test", QuantizationSpec{64, 7, "affine"}),
      std::invalid_argument);
  CHECK_THROWS_AS(
      resolve_quantization("test", QuantizationSpec{64, 4, "mxfp4"}),
      std::invalid_argument);
  CHECK_THROWS_AS(
      resolve_quantization("test", QuantizationSpec{32, 8, "mxfp4"}),
      std::invalid_argument);
  CHECK_THROWS_AS(QuantizedLinear(100, 4), std::invalid_argument);
  CHECK_THROWS_AS(QuantizedLinear(0, 4), std::invalid_argument);
  CHECK_THROWS_AS(QuantizedEmbedding(10, 48), std::invalid_argument);

  QuantizedLinear linear(64, 2);
  CHECK_THROWS_AS(linear(mx::zeros({2, 32})), std::invalid_argument);
  QuantizedEmbedding embedding(4, 64);
  CHECK_THROWS_AS(embedding(mx::zeros({2})), std::invalid_argument);
}

TEST_CASE("quantize a model matches MLX Python") {
  Fixture fixture("quantized_layers");
  auto model = std::make_shared<Sequential>(std::vector<ModulePtr>{
      std::make_shared<Linear>(64, 8),
      std::make_shared<ReLU>(),
      std::make_shared<Linear>(8, 2)});
  model->load_weights(
      {{"layers.0.weight", fixture["model_float_layers.0.weight"]},
       {"layers.0.bias", fixture["model_float_layers.0.bias"]},
       {"layers.2.weight", fixture["model_float_layers.2.weight"]},
       {"layers.2.bias", fixture["model_float_layers.2.bias"]}});

  // Without a predicate, Linear(8, 2) cannot be quantized and nothing
  // changes.
  CHECK_THROWS_AS(
      quantize(*model, QuantizationSpec{32, 4}), std::invalid_argument);
  CHECK(model->named_modules()[1].second->type_name() == "Linear");

  quantize(*model, QuantizationSpec{32, 4}, [](const std::string&, Module& m) {
    std::optional<QuantizationSpec> spec;
    auto* linear = dynamic_cast<Linear*>(&m);
    if (linear && linear->param("weight").shape(1) % 32 == 0) {
      spec = QuantizationSpec{32, 4, "affine"};
    }
    return spec;
  });

  auto modules = model->named_modules();
  CHECK(modules[1].first == "layers.0");
  CHECK(modules[1].second->type_name() == "QuantizedLinear");
  CHECK(modules[3].second->type_name() == "Linear");
  CHECK(arrays_close((*model)(fixture["x"]), fixture["model_y"]));

  dequantize(*model);
  modules = model->named_modules();
  CHECK(modules[1].second->type_name() == "Linear");
  CHECK(arrays_close((*model)(fixture["x"]), fixture["model_y"], 1e-5, 1e-5));
}

TEST_CASE("replace module by dotted path") {
  auto inner = std::make_shared<Sequential>(std::vector<ModulePtr>{
      std::make_shared<Linear>(2, 2)});
  auto model = std::make_shared<Sequential>(std::vector<ModulePtr>{
      std::make_shared<Identity>(), inner});
  auto replacement = std::make_shared<Linear>(2, 3);
  replace_module(*model, "layers.1.layers.0", replacement);
  CHECK(inner->named_modules()[1].second == replacement);
  CHECK_THROWS_AS(
      replace_module(*model, "layers.5", replacement), std::invalid_argument);
  CHECK_THROWS_AS(
      replace_module(*model, "missing", replacement), std::invalid_argument);
}

TEST_CASE("quantize matches MLX Python for every mode") {
  Fixture fixture("quantize");
  std::vector<Case> cases = layer_cases;
  cases.push_back({"affine", 128, 8});
  for (const auto& c : cases) {
    CAPTURE(c.name());
    auto packed = mx::quantize(fixture["w"], c.group_size, c.bits, c.mode);
    CHECK(arrays_equal(packed[0], fixture[c.name() + "_wq"]));
    CHECK(arrays_equal(packed[1], fixture[c.name() + "_scales"]));
  }
}
