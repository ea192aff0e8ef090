#include <doctest/doctest.h>

#include <cmath>
#include <memory>

#include "rmlx/nn/activations.h"
#include "rmlx/nn/containers.h"
#include "rmlx/nn/dropout.h"
#include "rmlx/nn/embedding.h"
#include "rmlx/nn/linear.h"
#include "rmlx/nn/normalization.h"
#include "test_utils.h"

using namespace rmlx::nn;
using rmlx::test::arrays_close;
using rmlx::test::arrays_equal;
using rmlx::test::Fixture;
using rmlx::test::gradient_matches;

namespace {

std::vector<std::string> names_of(const NamedArrays& arrays) {
  std::vector<std::string> names;
  for (const auto& [name, a] : arrays) {
    names.push_back(name);
  }
  return names;
}

// Reduces a layer output to a scalar with fixed, uneven weights so that every
// output element contributes a distinct amount to the gradient.
mx::array weighted_sum(const mx::array& y) {
  mx::array weights = mx::astype(
      mx::reshape(mx::sin(mx::arange(static_cast<int>(y.size()))), y.shape()),
      y.dtype());
  return mx::sum(mx::multiply(y, weights));
}

} // namespace

TEST_CASE("fixtures record their versions") {
  Fixture fixture("linear");
  CHECK(fixture.metadata().at("mlx_version") == mx::version());
  CHECK(fixture.metadata().count("torch_version") == 1);
}

TEST_CASE("identity returns its input") {
  auto layer = std::make_shared<Identity>();
  mx::array x = mx::array({1.0f, -2.0f, 3.0f});
  CHECK(arrays_equal((*layer)(x), x));
  CHECK(layer->parameters().empty());
  CHECK(layer->to_string() == "Identity()");
}

TEST_CASE("linear initial weights match MLX Python") {
  Fixture fixture("linear");
  mx::random::seed(42);
  auto layer = std::make_shared<Linear>(4, 3);
  CHECK(arrays_equal(layer->param("weight"), fixture["weight"]));
  CHECK(arrays_equal(layer->param("bias"), fixture["bias"]));
  CHECK(names_of(layer->parameters()) ==
        std::vector<std::string>{"weight", "bias"});

  mx::random::seed(42);
  auto no_bias = std::make_shared<Linear>(4, 3, false);
  CHECK(arrays_equal(no_bias->param("weight"), fixture["no_bias_weight"]));
  CHECK_FALSE(no_bias->has("bias"));
  CHECK(names_of(no_bias->parameters()) == std::vector<std::string>{"weight"});
}

TEST_CASE("linear forward matches MLX Python and PyTorch") {
  Fixture fixture("linear");
  mx::random::seed(42);
  auto layer = std::make_shared<Linear>(4, 3);
  CHECK(arrays_close((*layer)(fixture["x"]), fixture["y"]));
  CHECK(arrays_close((*layer)(fixture["x"]), fixture["torch_y"], 1e-5, 1e-4));
  CHECK(arrays_close((*layer)(fixture["x3"]), fixture["y3"]));

  mx::random::seed(42);
  auto no_bias = std::make_shared<Linear>(4, 3, false);
  CHECK(arrays_close((*no_bias)(fixture["x"]), fixture["y_no_bias"]));
}

TEST_CASE("linear repr and errors") {
  auto layer = std::make_shared<Linear>(4, 3);
  CHECK(layer->type_name() == "Linear");
  CHECK(layer->extra_repr() == "input_dims=4, output_dims=3, bias=True");
  CHECK(Linear(2, 5, false).extra_repr() ==
        "input_dims=2, output_dims=5, bias=False");

  CHECK_THROWS_AS((*layer)(mx::zeros({2, 3})), std::invalid_argument);
  CHECK_THROWS_AS((*layer)(mx::array(1.0f)), std::invalid_argument);
  CHECK_THROWS_AS(Linear(0, 3), std::invalid_argument);
  CHECK_THROWS_AS(Linear(3, -1), std::invalid_argument);
}

TEST_CASE("linear gradients match finite differences") {
  mx::random::seed(1);
  auto layer = std::make_shared<Linear>(4, 3);
  layer->set_dtype(mx::float64);
  mx::array x = mx::random::normal({2, 4});

  auto of_input = [&](const mx::array& input) {
    return weighted_sum((*layer)(input));
  };
  CHECK(gradient_matches(of_input, x));

  mx::array weight = layer->param("weight");
  auto of_weight = [&](const mx::array& w) {
    layer->update({{"weight", w}});
    return weighted_sum((*layer)(mx::astype(x, mx::float64)));
  };
  CHECK(gradient_matches(of_weight, weight));
  layer->update({{"weight", weight}});

  auto of_bias = [&](const mx::array& b) {
    layer->update({{"bias", b}});
    return weighted_sum((*layer)(mx::astype(x, mx::float64)));
  };
  CHECK(gradient_matches(of_bias, layer->param("bias")));
}

TEST_CASE("embedding initial weights and lookup match MLX Python") {
  Fixture fixture("embedding");
  mx::random::seed(42);
  auto layer = std::make_shared<Embedding>(10, 4);
  CHECK(arrays_equal(layer->param("weight"), fixture["weight"]));
  CHECK(arrays_equal((*layer)(fixture["indices"]), fixture["y"]));
  CHECK(arrays_close(
      layer->as_linear(fixture["x_linear"]), fixture["y_linear"]));

  // Other integer dtypes select the same rows.
  mx::array indices64 = mx::astype(fixture["indices"], mx::int64);
  CHECK(arrays_equal((*layer)(indices64), fixture["y"]));
  mx::array indices8 = mx::astype(fixture["indices"], mx::uint8);
  CHECK(arrays_equal((*layer)(indices8), fixture["y"]));
}

TEST_CASE("embedding repr and errors") {
  auto layer = std::make_shared<Embedding>(10, 4);
  CHECK(layer->to_string() == "Embedding(10, 4)");
  CHECK_THROWS_AS((*layer)(mx::array({0.0f, 1.0f})), std::invalid_argument);
  CHECK_THROWS_AS((*layer)(mx::array({true, false})), std::invalid_argument);
  CHECK_THROWS_AS(Embedding(0, 4), std::invalid_argument);
  CHECK_THROWS_AS(Embedding(10, 0), std::invalid_argument);
}

TEST_CASE("embedding gradients match finite differences") {
  mx::random::seed(2);
  auto layer = std::make_shared<Embedding>(5, 3);
  layer->set_dtype(mx::float64);
  mx::array indices = mx::array({0, 4, 4, 2}, {2, 2});
  auto of_weight = [&](const mx::array& w) {
    layer->update({{"weight", w}});
    return weighted_sum((*layer)(indices));
  };
  CHECK(gradient_matches(of_weight, layer->param("weight")));

  mx::array x = mx::random::normal({2, 3});
  auto of_input = [&](const mx::array& input) {
    return weighted_sum(layer->as_linear(input));
  };
  CHECK(gradient_matches(of_input, x));
}

TEST_CASE("sequential matches MLX Python") {
  Fixture fixture("containers");
  // Separate statements fix the draw order, which the order of evaluation of
  // one call's arguments would leave unspecified.
  mx::random::seed(42);
  auto first = std::make_shared<Linear>(4, 8);
  auto second = std::make_shared<Linear>(8, 2);
  auto model =
      std::make_shared<Sequential>(first, std::make_shared<ReLU>(), second);
  std::vector<std::string> expected = {
      "layers.0.weight",
      "layers.0.bias",
      "layers.2.weight",
      "layers.2.bias"};
  CHECK(names_of(model->parameters()) == expected);
  for (const auto& [name, p] : model->parameters()) {
    CHECK_MESSAGE(arrays_equal(p, fixture[name]), name);
  }
  CHECK(arrays_close((*model)(fixture["x"]), fixture["y"]));
  CHECK(model->layers().size() == 3);
}

TEST_CASE("sequential repr and empty container") {
  auto model = std::make_shared<Sequential>(
      std::make_shared<Linear>(2, 3), std::make_shared<ReLU>());
  CHECK(model->to_string() ==
        "Sequential(\n"
        "  (layers.0): Linear(input_dims=2, output_dims=3, bias=True)\n"
        "  (layers.1): ReLU()\n"
        ")");

  auto empty = std::make_shared<Sequential>();
  mx::array x = mx::array({1.0f, 2.0f});
  CHECK(arrays_equal((*empty)(x), x));
  CHECK(empty->parameters().empty());

  auto from_list = std::make_shared<Sequential>(std::vector<ModulePtr>{
      std::make_shared<Identity>(), std::make_shared<Identity>()});
  CHECK(from_list->layers().size() == 2);
  CHECK_THROWS_AS(Sequential(std::vector<ModulePtr>{nullptr}),
                  std::invalid_argument);
}

TEST_CASE("sequential training mode reaches its layers") {
  auto dropout = std::make_shared<Dropout>(0.5);
  auto model = std::make_shared<Sequential>(dropout);
  model->eval();
  CHECK_FALSE(dropout->training());
  mx::array x = mx::ones({4, 4});
  CHECK(arrays_equal((*model)(x), x));
}

TEST_CASE("layer norm matches MLX Python and PyTorch") {
  Fixture fixture("normalization");
  const mx::array& x = fixture["ln_x"];

  auto layer = std::make_shared<LayerNorm>(4);
  layer->update({{"weight", fixture["weight"]}, {"bias", fixture["bias"]}});
  CHECK(arrays_close((*layer)(x), fixture["ln_affine"]));
  CHECK(arrays_close((*layer)(x), fixture["torch_ln_affine"], 1e-4, 1e-5));

  auto no_affine = std::make_shared<LayerNorm>(4, 1e-5, false);
  CHECK(no_affine->parameters().empty());
  CHECK(arrays_close((*no_affine)(x), fixture["ln_no_affine"]));
  // Without a weight, any last dimension is accepted, as in MLX Python.
  CHECK_NOTHROW((*no_affine)(mx::ones({2, 7})));

  auto no_bias = std::make_shared<LayerNorm>(4, 1e-5, true, false);
  CHECK(names_of(no_bias->parameters()) == std::vector<std::string>{"weight"});
  no_bias->update({{"weight", fixture["weight"]}});
  CHECK(arrays_close((*no_bias)(x), fixture["ln_no_bias"]));

  auto large_eps = std::make_shared<LayerNorm>(4, 0.1);
  large_eps->update({{"weight", fixture["weight"]}, {"bias", fixture["bias"]}});
  CHECK(arrays_close((*large_eps)(x), fixture["ln_eps"]));
}

TEST_CASE("layer norm repr and errors") {
  CHECK(LayerNorm(4).extra_repr() == "4, eps=1e-05, affine=True");
  CHECK(LayerNorm(8, 0.001, false).extra_repr() ==
        "8, eps=0.001, affine=False");
  CHECK_THROWS_AS(LayerNorm(4, 0.0), std::invalid_argument);
  CHECK_THROWS_AS(LayerNorm(4, -1e-5), std::invalid_argument);
  auto layer = std::make_shared<LayerNorm>(4);
  CHECK_THROWS_AS((*layer)(mx::ones({2, 3})), std::invalid_argument);
}

TEST_CASE("layer norm gradients match finite differences") {
  auto layer = std::make_shared<LayerNorm>(4);
  layer->set_dtype(mx::float64);
  mx::random::seed(3);
  layer->update(
      {{"weight", mx::random::normal({4}, mx::float64)},
       {"bias", mx::random::normal({4}, mx::float64)}});
  mx::array x = mx::random::normal({3, 4});
  auto of_input = [&](const mx::array& input) {
    return weighted_sum((*layer)(input));
  };
  CHECK(gradient_matches(of_input, x));

  mx::array weight = layer->param("weight");
  auto of_weight = [&](const mx::array& w) {
    layer->update({{"weight", w}});
    return weighted_sum((*layer)(mx::astype(x, mx::float64)));
  };
  CHECK(gradient_matches(of_weight, weight));
}

TEST_CASE("batch norm training and evaluation match MLX Python") {
  Fixture fixture("normalization");
  for (std::string key : {"2d", "3d", "4d"}) {
    CAPTURE(key);
    auto layer = std::make_shared<BatchNorm>(4, 1e-5, 0.3);
    layer->update({{"weight", fixture["weight"]}, {"bias", fixture["bias"]}});
    CHECK(layer->training());

    CHECK(arrays_close(
        (*layer)(fixture["bn_x_" + key]), fixture["bn_train1_" + key], 1e-5,
        1e-5));
    CHECK(arrays_close(
        layer->param("running_mean"), fixture["bn_running_mean1_" + key]));
    CHECK(arrays_close(
        layer->param("running_var"), fixture["bn_running_var1_" + key]));

    CHECK(arrays_close(
        (*layer)(fixture["bn_x2_" + key]), fixture["bn_train2_" + key], 1e-5,
        1e-5));
    CHECK(arrays_close(
        layer->param("running_mean"), fixture["bn_running_mean2_" + key]));
    CHECK(arrays_close(
        layer->param("running_var"), fixture["bn_running_var2_" + key]));

    layer->eval();
    mx::array running_mean = layer->param("running_mean");
    CHECK(arrays_close(
        (*layer)(fixture["bn_x_" + key]), fixture["bn_eval_" + key], 1e-5,
        1e-5));
    // Evaluation leaves the running statistics alone.
    CHECK(arrays_equal(layer->param("running_mean"), running_mean));
  }
}

TEST_CASE("batch norm matches PyTorch on two-dimensional input") {
  Fixture fixture("normalization");
  auto layer = std::make_shared<BatchNorm>(4, 1e-5, 0.3);
  layer->update({{"weight", fixture["weight"]}, {"bias", fixture["bias"]}});
  CHECK(arrays_close(
      (*layer)(fixture["bn_x_2d"]), fixture["torch_bn_train1_2d"], 1e-4,
      1e-5));
  CHECK(arrays_close(
      (*layer)(fixture["bn_x2_2d"]), fixture["torch_bn_train2_2d"], 1e-4,
      1e-5));
  CHECK(arrays_close(layer->param("running_mean"),
              fixture["torch_bn_running_mean2_2d"], 1e-5, 1e-6));
  CHECK(arrays_close(layer->param("running_var"),
              fixture["torch_bn_running_var2_2d"], 1e-5, 1e-6));
  layer->eval();
  CHECK(arrays_close((*layer)(fixture["bn_x_2d"]), fixture["torch_bn_eval_2d"],
              1e-4, 1e-5));
}

TEST_CASE("batch norm without affine or running statistics") {
  Fixture fixture("normalization");
  auto layer = std::make_shared<BatchNorm>(4, 1e-5, 0.1, false, false);
  CHECK(layer->parameters().empty());
  CHECK(arrays_close(
      (*layer)(fixture["bn_x_3d"]), fixture["bn_plain_train"], 1e-5, 1e-5));
  layer->eval();
  // Without running statistics, evaluation uses the batch statistics.
  CHECK(arrays_close(
      (*layer)(fixture["bn_x_3d"]), fixture["bn_plain_eval"], 1e-5, 1e-5));
}

TEST_CASE("batch norm keeps running statistics frozen") {
  auto layer = std::make_shared<BatchNorm>(3);
  CHECK(names_of(layer->parameters()) ==
        std::vector<std::string>{
            "weight", "bias", "running_mean", "running_var"});
  CHECK(names_of(layer->trainable_parameters()) ==
        std::vector<std::string>{"weight", "bias"});

  layer->unfreeze();
  CHECK(names_of(layer->trainable_parameters()) ==
        std::vector<std::string>{"weight", "bias"});
  layer->freeze();
  CHECK(layer->trainable_parameters().empty());
  layer->unfreeze(false, {"weight"});
  CHECK(names_of(layer->trainable_parameters()) ==
        std::vector<std::string>{"weight"});

  // As in MLX Python, a parent's unfreeze clears the child's frozen set.
  auto model = std::make_shared<Sequential>(std::make_shared<BatchNorm>(3));
  model->unfreeze();
  CHECK(model->trainable_parameters().size() == 4);

  auto untracked = std::make_shared<BatchNorm>(3, 1e-5, 0.1, true, false);
  untracked->unfreeze();
  CHECK(untracked->trainable_parameters().size() == 2);
}

TEST_CASE("batch norm repr and errors") {
  CHECK(BatchNorm(4).extra_repr() ==
        "4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True");
  CHECK(BatchNorm(2, 0.001, 0.5, false, false).extra_repr() ==
        "2, eps=0.001, momentum=0.5, affine=False, track_running_stats=False");
  CHECK_THROWS_AS(BatchNorm(4, 0.0), std::invalid_argument);

  auto layer = std::make_shared<BatchNorm>(4);
  CHECK_THROWS_AS((*layer)(mx::ones({4})), std::invalid_argument);
  CHECK_THROWS_AS((*layer)(mx::ones({2, 2, 2, 2, 4})), std::invalid_argument);
  CHECK_THROWS_AS((*layer)(mx::ones({2, 3})), std::invalid_argument);
  // Training needs more than one value per feature.
  CHECK_THROWS_AS((*layer)(mx::ones({1, 4})), std::invalid_argument);
  CHECK_THROWS_AS((*layer)(mx::ones({1, 1, 4})), std::invalid_argument);
  layer->eval();
  CHECK_NOTHROW((*layer)(mx::ones({1, 4})));
}

TEST_CASE("batch norm gradients match finite differences") {
  mx::random::seed(4);
  mx::array x = mx::random::normal({5, 3});

  // Training mode with batch statistics only, so no state changes.
  auto layer = std::make_shared<BatchNorm>(3, 1e-5, 0.1, true, false);
  layer->set_dtype(mx::float64);
  layer->update({{"weight", mx::array({0.5, -2.0, 1.5}, mx::float64)}});
  auto of_input = [&](const mx::array& input) {
    return weighted_sum((*layer)(input));
  };
  CHECK(gradient_matches(of_input, x));

  // Evaluation mode with running statistics.
  auto tracked = std::make_shared<BatchNorm>(3);
  tracked->set_dtype(mx::float64);
  tracked->update(
      {{"running_mean", mx::array({0.1, -0.2, 0.3}, mx::float64)},
       {"running_var", mx::array({0.5, 2.0, 1.0}, mx::float64)}});
  tracked->eval();
  auto of_input_eval = [&](const mx::array& input) {
    return weighted_sum((*tracked)(input));
  };
  CHECK(gradient_matches(of_input_eval, x));
}

TEST_CASE("dropout matches MLX Python after seeding") {
  Fixture fixture("dropout");
  mx::random::seed(7);
  auto layer = std::make_shared<Dropout>(0.25);
  CHECK(arrays_close((*layer)(fixture["x"]), fixture["y"]));
}

TEST_CASE("dropout is the identity in evaluation or with p of zero") {
  mx::array x = mx::random::normal({8, 8});
  auto layer = std::make_shared<Dropout>(0.5);
  layer->eval();
  CHECK(arrays_equal((*layer)(x), x));

  auto zero = std::make_shared<Dropout>(0.0);
  CHECK(zero->training());
  CHECK(arrays_equal((*zero)(x), x));
}

TEST_CASE("dropout mask statistics and scale") {
  mx::random::seed(11);
  double p = 0.3;
  auto layer = std::make_shared<Dropout>(p);
  mx::array x = mx::ones({200, 500});
  mx::array y = (*layer)(x);

  double zero_fraction =
      mx::mean(mx::astype(mx::equal(y, mx::array(0.0f)), mx::float32))
          .item<float>();
  CHECK(zero_fraction == doctest::Approx(p).epsilon(0.03));
  // Every kept element is scaled by 1 / (1 - p).
  mx::array kept = mx::logical_or(
      mx::equal(y, mx::array(0.0f)),
      mx::isclose(y, mx::array(static_cast<float>(1.0 / (1.0 - p)))));
  CHECK(mx::all(kept).item<bool>());
  CHECK(mx::mean(y).item<float>() == doctest::Approx(1.0).epsilon(0.02));

  // Successive calls draw fresh masks.
  CHECK_FALSE(arrays_equal((*layer)(x), (*layer)(x)));
}

TEST_CASE("dropout keeps the input dtype") {
  auto layer = std::make_shared<Dropout>(0.5);
  mx::array x = mx::ones({4, 4}, mx::float16);
  CHECK((*layer)(x).dtype() == mx::float16);
}

TEST_CASE("dropout gradient uses the same mask") {
  auto layer = std::make_shared<Dropout>(0.4);
  mx::array x = mx::random::normal({6, 5});
  auto [value, gradient] = mx::value_and_grad(
      [&](const mx::array& input) { return mx::sum((*layer)(input)); })(x);
  // d/dx of sum(mask * x / (1 - p)) is mask / (1 - p), either 0 or 1 / 0.6.
  mx::array expected_values = mx::logical_or(
      mx::equal(gradient, mx::array(0.0f)),
      mx::isclose(gradient, mx::array(static_cast<float>(1.0 / 0.6))));
  CHECK(mx::all(expected_values).item<bool>());
  CHECK(mx::any(mx::equal(gradient, mx::array(0.0f))).item<bool>());
}

TEST_CASE("dropout repr and errors") {
  CHECK(Dropout().extra_repr() == "p=0.5");
  // MLX Python prints 1 - (1 - p), so 0.1 shows its rounding.
  CHECK(Dropout(0.1).extra_repr() == "p=0.09999999999999998");
  CHECK(Dropout(0.5).p() == 0.5);
  CHECK_THROWS_AS(Dropout(1.0), std::invalid_argument);
  CHECK_THROWS_AS(Dropout(-0.1), std::invalid_argument);
  CHECK_THROWS_AS(Dropout(std::nan("")), std::invalid_argument);
}
