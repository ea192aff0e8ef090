#include <doctest/doctest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "rmlx/nn/convolution.h"
#include "test_utils.h"

using namespace rmlx::nn;
using rmlx::test::arrays_close;
using rmlx::test::arrays_equal;
using rmlx::test::CustomKernelsScope;
using rmlx::test::Fixture;
using rmlx::test::gradient_matches;

namespace {

using LayerFactory = std::function<std::shared_ptr<UnaryModule>()>;

struct FixtureCase {
  std::string file;
  std::string name;
  LayerFactory make;
};

// The layers of tools/fixtures/make_conv_fixtures.py, case for case.
std::vector<FixtureCase> fixture_cases() {
  return {
      {"conv1d", "basic", [] { return std::make_shared<Conv1d>(4, 6, 3); }},
      {"conv1d",
       "options",
       [] { return std::make_shared<Conv1d>(4, 6, 3, 2, 2, 2, 2); }},
      {"conv1d",
       "depthwise",
       [] { return std::make_shared<Conv1d>(4, 4, 5, 1, 1, 1, 4); }},
      {"conv1d",
       "no_bias",
       [] { return std::make_shared<Conv1d>(3, 5, 1, 3, 0, 1, 1, false); }},
      {"conv2d", "basic", [] { return std::make_shared<Conv2d>(3, 4, 3); }},
      {"conv2d",
       "tuples",
       [] {
         return std::make_shared<Conv2d>(
             4,
             6,
             IntOrTuple{3, 2},
             IntOrTuple{2, 1},
             IntOrTuple{1, 2},
             IntOrTuple{2, 1},
             2);
       }},
      {"conv2d",
       "no_bias",
       [] { return std::make_shared<Conv2d>(2, 3, 2, 2, 1, 2, 1, false); }},
      {"conv2d",
       "grouped",
       [] { return std::make_shared<Conv2d>(6, 16, 3, 1, 1, 1, 2); }},
      {"conv2d",
       "winograd",
       [] { return std::make_shared<Conv2d>(8, 10, 3, 1, 1); }},
      {"conv2d",
       "winograd_valid",
       [] { return std::make_shared<Conv2d>(9, 8, 3); }},
      {"conv2d",
       "winograd_wide_padding",
       [] {
         return std::make_shared<Conv2d>(
             8, 8, 3, 1, IntOrTuple{2, 1}, 1, 1, false);
       }},
      {"conv3d", "basic", [] { return std::make_shared<Conv3d>(2, 3, 2); }},
      {"conv3d",
       "tuples",
       [] {
         return std::make_shared<Conv3d>(
             3,
             4,
             IntOrTuple{2, 1, 3},
             IntOrTuple{1, 2, 1},
             IntOrTuple{1, 0, 1},
             IntOrTuple{2, 1, 1});
       }},
      {"conv3d",
       "no_bias",
       [] { return std::make_shared<Conv3d>(2, 2, 1, 2, 0, 1, false); }},
      {"conv_transpose1d",
       "basic",
       [] { return std::make_shared<ConvTranspose1d>(4, 3, 3); }},
      {"conv_transpose1d",
       "options",
       [] { return std::make_shared<ConvTranspose1d>(3, 5, 4, 3, 2, 2, 1); }},
      {"conv_transpose1d",
       "no_bias",
       [] {
         return std::make_shared<ConvTranspose1d>(2, 2, 2, 2, 0, 1, 0, false);
       }},
      {"conv_transpose2d",
       "basic",
       [] { return std::make_shared<ConvTranspose2d>(3, 2, 3); }},
      {"conv_transpose2d",
       "tuples",
       [] {
         return std::make_shared<ConvTranspose2d>(
             2,
             4,
             IntOrTuple{3, 2},
             IntOrTuple{2, 3},
             IntOrTuple{1, 0},
             IntOrTuple{1, 2},
             IntOrTuple{1, 2});
       }},
      {"conv_transpose2d",
       "no_bias",
       [] {
         return std::make_shared<ConvTranspose2d>(2, 3, 2, 2, 1, 1, 0, false);
       }},
      {"conv_transpose3d",
       "basic",
       [] { return std::make_shared<ConvTranspose3d>(2, 3, 2); }},
      {"conv_transpose3d",
       "tuples",
       [] {
         return std::make_shared<ConvTranspose3d>(
             2,
             2,
             IntOrTuple{2, 1, 3},
             IntOrTuple{2, 1, 2},
             IntOrTuple{0, 0, 1},
             IntOrTuple{1, 1, 2},
             IntOrTuple{1, 0, 1});
       }},
  };
}

// The transposed convolutions of tools/fixtures/make_conv_fixtures.py as
// arguments of conv_transpose(): the layer cases, whose groups are 1, and
// the grouped FUNCTIONAL_CASES of conv_functional.safetensors.
struct TransposeCase {
  std::string file;
  std::string name;
  std::vector<int> stride;
  std::vector<int> padding;
  std::vector<int> dilation;
  std::vector<int> output_padding;
  int groups;
  bool has_bias;
};

std::vector<TransposeCase> transpose_cases() {
  return {
      {"conv_transpose1d", "basic", {1}, {0}, {1}, {0}, 1, true},
      {"conv_transpose1d", "options", {3}, {2}, {2}, {1}, 1, true},
      {"conv_transpose1d", "no_bias", {2}, {0}, {1}, {0}, 1, false},
      {"conv_transpose2d", "basic", {1, 1}, {0, 0}, {1, 1}, {0, 0}, 1, true},
      {"conv_transpose2d", "tuples", {2, 3}, {1, 0}, {1, 2}, {1, 2}, 1, true},
      {"conv_transpose2d",
       "no_bias",
       {2, 2},
       {1, 1},
       {1, 1},
       {0, 0},
       1,
       false},
      {"conv_transpose3d",
       "basic",
       {1, 1, 1},
       {0, 0, 0},
       {1, 1, 1},
       {0, 0, 0},
       1,
       true},
      {"conv_transpose3d",
       "tuples",
       {2, 1, 2},
       {0, 0, 1},
       {1, 1, 2},
       {1, 0, 1},
       1,
       true},
      {"conv_functional",
       "conv_transpose1d_grouped",
       {2},
       {1},
       {2},
       {1},
       2,
       true},
      {"conv_functional",
       "conv_transpose2d_grouped",
       {2, 1},
       {0, 1},
       {1, 2},
       {1, 0},
       2,
       true},
  };
}

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

// Checks the gradients of the layer with respect to its input, weight and
// bias against central differences. MLX 0.32.4 has no float64 convolution on
// the CPU, so the layer stays float32 and the float64 arguments that
// gradient_matches passes are cast down. The output is linear in each of
// them, so a step of 0.5 has no truncation error and keeps float32 rounding
// small next to the step.
void check_gradients(UnaryModule& layer, const mx::Shape& input_shape) {
  const double step = 0.5;
  auto as_float32 = [](const mx::array& a) {
    return mx::astype(a, mx::float32);
  };
  mx::array x = mx::random::normal(input_shape);

  auto of_input = [&](const mx::array& input) {
    return weighted_sum(layer(as_float32(input)));
  };
  CHECK(gradient_matches(of_input, x, 1e-3, 1e-4, step));

  mx::array weight = layer.param("weight");
  auto of_weight = [&](const mx::array& w) {
    layer.update({{"weight", as_float32(w)}});
    return weighted_sum(layer(x));
  };
  CHECK(gradient_matches(of_weight, weight, 1e-3, 1e-4, step));
  layer.update({{"weight", weight}});

  mx::array bias = mx::random::normal(layer.param("bias").shape());
  auto of_bias = [&](const mx::array& b) {
    layer.update({{"bias", as_float32(b)}});
    return weighted_sum(layer(x));
  };
  CHECK(gradient_matches(of_bias, bias, 1e-3, 1e-4, step));
}

} // namespace

TEST_CASE("convolution fixtures record their versions") {
  Fixture fixture("conv2d");
  CHECK(fixture.metadata().at("mlx_version") == mx::version());
  CHECK(fixture.metadata().count("torch_version") == 1);
}

TEST_CASE("convolution layers match MLX Python and PyTorch") {
  // Both the unfold kernels and MLX's own convolution, which groups > 1
  // and other dtypes take.
  for (bool custom : {true, false}) {
  CAPTURE(custom);
  CustomKernelsScope kernels(custom);
  for (const auto& test_case : fixture_cases()) {
    CAPTURE(test_case.file);
    CAPTURE(test_case.name);
    Fixture fixture(test_case.file);
    const std::string& name = test_case.name;

    mx::random::seed(42);
    auto layer = test_case.make();
    CHECK(arrays_equal(layer->param("weight"), fixture[name + "_weight"]));
    CHECK(layer->to_string() == fixture.metadata().at(name + "_repr"));

    bool has_bias = fixture.metadata().at(name + "_repr").find("bias=True") !=
        std::string::npos;
    if (has_bias) {
      CHECK(names_of(layer->parameters()) ==
            std::vector<std::string>{"weight", "bias"});
      const mx::array& bias = layer->param("bias");
      CHECK(arrays_equal(bias, mx::zeros({layer->param("weight").shape(0)})));
      layer->update({{"bias", fixture[name + "_bias"]}});
    } else {
      CHECK(names_of(layer->parameters()) ==
            std::vector<std::string>{"weight"});
    }

    mx::array y = (*layer)(fixture[name + "_x"]);
    CHECK(y.dtype() == mx::float32);
    CHECK(arrays_close(y, fixture[name + "_y"], 1e-5, 1e-6));
    CHECK(arrays_close(y, fixture[name + "_torch_y"], 1e-5, 1e-5));
  }
  }
}

TEST_CASE("convolution gradients match MLX Python") {
  for (bool custom : {true, false}) {
    CAPTURE(custom);
    CustomKernelsScope kernels(custom);
    for (const auto& test_case : fixture_cases()) {
      CAPTURE(test_case.file);
      CAPTURE(test_case.name);
      Fixture fixture(test_case.file);
      const std::string& name = test_case.name;
      auto layer = test_case.make();
      bool has_bias = layer->has("bias");
      std::vector<mx::array> primals = {
          fixture[name + "_x"], fixture[name + "_weight"]};
      if (has_bias) {
        primals.push_back(fixture[name + "_bias"]);
      }
      auto loss = [&](const std::vector<mx::array>& args) {
        NamedArrays parameters = {{"weight", args[1]}};
        if (has_bias) {
          parameters.emplace_back("bias", args[2]);
        }
        layer->update(parameters);
        return std::vector<mx::array>{weighted_sum((*layer)(args[0]))};
      };
      auto [value, grads] = mx::vjp(loss, primals, {mx::array(1.0f)});
      CHECK(arrays_close(grads[0], fixture[name + "_dx"], 1e-4, 1e-5));
      CHECK(arrays_close(grads[1], fixture[name + "_dweight"], 1e-4, 1e-5));
      if (has_bias) {
        CHECK(arrays_close(grads[2], fixture[name + "_dbias"], 1e-4, 1e-5));
      }
    }
  }
}

TEST_CASE("conv_transpose matches MLX Python") {
  for (const auto& test_case : transpose_cases()) {
    CAPTURE(test_case.file);
    CAPTURE(test_case.name);
    Fixture fixture(test_case.file);
    const std::string& name = test_case.name;
    auto forward = [&](const std::vector<mx::array>& args) {
      mx::array y = conv_transpose(
          args[0],
          args[1],
          test_case.stride,
          test_case.padding,
          test_case.dilation,
          test_case.output_padding,
          test_case.groups);
      return test_case.has_bias ? mx::add(y, args[2]) : y;
    };
    std::vector<mx::array> primals = {
        fixture[name + "_x"], fixture[name + "_weight"]};
    if (test_case.has_bias) {
      primals.push_back(fixture[name + "_bias"]);
    }

    mx::array y = forward(primals);
    CHECK(arrays_close(y, fixture[name + "_y"], 1e-5, 1e-6));

    auto loss = [&](const std::vector<mx::array>& args) {
      return std::vector<mx::array>{weighted_sum(forward(args))};
    };
    auto [value, grads] = mx::vjp(loss, primals, {mx::array(1.0f)});
    CHECK(arrays_close(grads[0], fixture[name + "_dx"], 1e-4, 1e-5));
    CHECK(arrays_close(grads[1], fixture[name + "_dweight"], 1e-4, 1e-5));
    if (test_case.has_bias) {
      CHECK(arrays_close(grads[2], fixture[name + "_dbias"], 1e-4, 1e-5));
    }
  }
}

TEST_CASE("conv_transpose rejects invalid arguments") {
  using Invalid = std::invalid_argument;
  mx::array x = mx::zeros({1, 4, 2});
  mx::array weight = mx::zeros({3, 3, 2});
  // Size vectors of different lengths or of more than 3 values.
  CHECK_THROWS_AS(
      conv_transpose(x, weight, {1}, {0, 0}, {1}, {0}), Invalid);
  CHECK_THROWS_AS(
      conv_transpose(x, weight, {}, {}, {}, {}), Invalid);
  CHECK_THROWS_AS(
      conv_transpose(
          x, weight, {1, 1, 1, 1}, {0, 0, 0, 0}, {1, 1, 1, 1}, {0, 0, 0, 0}),
      Invalid);
  // Values out of range.
  CHECK_THROWS_AS(conv_transpose(x, weight, {0}, {0}, {1}, {0}), Invalid);
  CHECK_THROWS_AS(conv_transpose(x, weight, {1}, {-1}, {1}, {0}), Invalid);
  CHECK_THROWS_AS(conv_transpose(x, weight, {1}, {0}, {0}, {0}), Invalid);
  CHECK_THROWS_AS(conv_transpose(x, weight, {1}, {0}, {1}, {-1}), Invalid);
  CHECK_THROWS_AS(conv_transpose(x, weight, {2}, {0}, {1}, {2}), Invalid);
  CHECK_THROWS_AS(conv_transpose(x, weight, {1}, {0}, {1}, {0}, 0), Invalid);
  // MLX's own checks: channels and groups > 1 in three dimensions.
  CHECK_THROWS(conv_transpose(x, weight, {1}, {0}, {1}, {0}, 2));
  CHECK_THROWS(conv_transpose(
      mx::zeros({1, 2, 2, 2, 4}),
      mx::zeros({4, 1, 1, 1, 2}),
      {1, 1, 1},
      {0, 0, 0},
      {1, 1, 1},
      {0, 0, 0},
      2));

  try {
    conv_transpose(x, weight, {2}, {0}, {1}, {2});
    FAIL("expected std::invalid_argument");
  } catch (const std::invalid_argument& error) {
    CHECK(
        std::string(error.what()) ==
        "[conv_transpose] Expected each output_padding value to be smaller "
        "than the stride or the dilation of its dimension but received "
        "output_padding=2, stride=2 and dilation=1.");
  }
}

TEST_CASE("int or tuple expands and prints") {
  IntOrTuple one = 3;
  CHECK(one.is_int());
  CHECK(one.expand(2, "Conv2d", "stride") == std::vector<int>{3, 3});
  CHECK(one.repr() == "3");

  IntOrTuple pair = {2, 1};
  CHECK_FALSE(pair.is_int());
  CHECK(pair.expand(2, "Conv2d", "stride") == std::vector<int>{2, 1});
  CHECK(pair.repr() == "(2, 1)");
  CHECK_THROWS_AS(pair.expand(3, "Conv3d", "stride"), std::invalid_argument);

  IntOrTuple from_vector = std::vector<int>{4};
  CHECK(from_vector.repr() == "(4,)");
  CHECK_THROWS_AS(
      from_vector.expand(2, "Conv2d", "kernel_size"), std::invalid_argument);
}

TEST_CASE("convolution repr with tuple dilation") {
  Conv2d layer(2, 3, IntOrTuple{3, 3}, 1, 0, IntOrTuple{1, 1});
  CHECK(
      layer.to_string() ==
      "Conv2d(2, 3, kernel_size=(3, 3), stride=(1, 1), padding=(0, 0), "
      "dilation=(1, 1), groups=1, bias=True)");
  ConvTranspose1d transpose(4, 3, 3, 2, 1, 1, 1, false);
  CHECK(
      transpose.to_string() ==
      "ConvTranspose1d(4, 3, kernel_size=3, stride=2, padding=1, dilation=1, "
      "output_padding=1, bias=False)");
}

TEST_CASE("convolution constructors reject invalid arguments") {
  using Invalid = std::invalid_argument;
  // Channels and groups.
  CHECK_THROWS_AS(Conv1d(0, 3, 3), Invalid);
  CHECK_THROWS_AS(Conv1d(3, -1, 3), Invalid);
  CHECK_THROWS_AS(Conv1d(5, 4, 3, 1, 0, 1, 2), Invalid);
  CHECK_THROWS_AS(Conv1d(4, 6, 3, 1, 0, 1, 4), Invalid);
  CHECK_THROWS_AS(Conv1d(4, 4, 3, 1, 0, 1, 0), Invalid);
  CHECK_THROWS_AS(Conv2d(6, 4, 3, 1, 0, 1, 4), Invalid);
  CHECK_THROWS_AS(Conv2d(4, 6, 3, 1, 0, 1, 4), Invalid);
  CHECK_THROWS_AS(Conv3d(0, 2, 1), Invalid);
  CHECK_THROWS_AS(ConvTranspose2d(2, 0, 1), Invalid);

  // Sizes out of range.
  CHECK_THROWS_AS(Conv1d(2, 3, 0), Invalid);
  CHECK_THROWS_AS(Conv1d(2, 3, 3, 0), Invalid);
  CHECK_THROWS_AS(Conv1d(2, 3, 3, 1, -1), Invalid);
  CHECK_THROWS_AS(Conv1d(2, 3, 3, 1, 0, 0), Invalid);
  CHECK_THROWS_AS(Conv2d(2, 3, IntOrTuple{3, 0}), Invalid);
  CHECK_THROWS_AS(Conv2d(2, 3, 3, IntOrTuple{1, -2}), Invalid);
  CHECK_THROWS_AS(Conv2d(2, 3, 3, 1, IntOrTuple{0, -1}), Invalid);
  CHECK_THROWS_AS(Conv3d(2, 3, 2, 1, 0, IntOrTuple{1, 0, 1}), Invalid);
  CHECK_THROWS_AS(ConvTranspose3d(2, 3, 2, 0), Invalid);
  CHECK_THROWS_AS(ConvTranspose1d(2, 3, 3, 1, -1), Invalid);

  // Size lists of the wrong length.
  CHECK_THROWS_AS(Conv2d(2, 3, IntOrTuple{3}), Invalid);
  CHECK_THROWS_AS(Conv2d(2, 3, 3, IntOrTuple{1, 1, 1}), Invalid);
  CHECK_THROWS_AS(Conv3d(2, 3, IntOrTuple{2, 2}), Invalid);
  CHECK_THROWS_AS(Conv3d(2, 3, 2, 1, 0, IntOrTuple{1, 1}), Invalid);
  CHECK_THROWS_AS(ConvTranspose2d(2, 3, 2, 1, 0, 1, IntOrTuple{0}), Invalid);

  // output_padding must be non-negative and below the stride or dilation.
  CHECK_THROWS_AS(ConvTranspose1d(2, 3, 3, 1, 0, 1, -1), Invalid);
  CHECK_THROWS_AS(ConvTranspose1d(2, 3, 3, 2, 0, 1, 2), Invalid);
  CHECK_THROWS_AS(ConvTranspose1d(2, 3, 3, 1, 0, 1, 1), Invalid);
  CHECK_NOTHROW(ConvTranspose1d(2, 3, 3, 1, 0, 2, 1));
  CHECK_THROWS_AS(
      ConvTranspose2d(2, 3, 2, IntOrTuple{2, 1}, 0, 1, IntOrTuple{1, 1}),
      Invalid);
  CHECK_THROWS_AS(ConvTranspose3d(2, 3, 2, 2, 0, 1, 2), Invalid);

  try {
    Conv2d(5, 4, 3, 1, 0, 1, 2);
    FAIL("expected std::invalid_argument");
  } catch (const std::invalid_argument& error) {
    CHECK(
        std::string(error.what()) ==
        "[Conv2d] The number of input channels (5) must be divisible by the "
        "number of groups (2).");
  }
}

TEST_CASE("convolution forward rejects invalid input") {
  using Invalid = std::invalid_argument;
  // MLX's convolutions need a batch axis, so unbatched input is an error.
  CHECK_THROWS_AS(Conv1d(2, 3, 3)(mx::zeros({5, 2})), Invalid);
  CHECK_THROWS_AS(Conv2d(2, 3, 3)(mx::zeros({5, 5, 2})), Invalid);
  CHECK_THROWS_AS(Conv3d(2, 3, 1)(mx::zeros({2, 2, 2, 2})), Invalid);
  CHECK_THROWS_AS(ConvTranspose1d(2, 3, 3)(mx::zeros({5, 2})), Invalid);
  CHECK_THROWS_AS(ConvTranspose2d(2, 3, 3)(mx::zeros({1, 5, 2})), Invalid);
  CHECK_THROWS_AS(
      ConvTranspose3d(2, 3, 1)(mx::zeros({1, 2, 2, 2, 2, 2})), Invalid);

  // Input channels that do not match in_channels.
  CHECK_THROWS_AS(Conv1d(2, 3, 3)(mx::zeros({1, 5, 3})), Invalid);
  CHECK_THROWS_AS(Conv1d(4, 4, 3, 1, 0, 1, 2)(mx::zeros({1, 5, 2})), Invalid);
  CHECK_THROWS_AS(Conv2d(2, 3, 3)(mx::zeros({1, 5, 5, 1})), Invalid);
  CHECK_THROWS_AS(ConvTranspose2d(2, 3, 3)(mx::zeros({1, 5, 5, 3})), Invalid);

  // MLX itself raises for input smaller than the dilated kernel.
  CHECK_THROWS_AS(Conv1d(2, 3, 3)(mx::zeros({1, 2, 2})), Invalid);
  CHECK_THROWS_AS(Conv2d(2, 3, 3, 1, 0, 2)(mx::zeros({1, 4, 4, 2})), Invalid);

  // Padding that removes every output position, with and without
  // output_padding (the two take different paths).
  CHECK_THROWS_AS(
      ConvTranspose1d(2, 3, 3, 2, 4, 1, 1)(mx::zeros({1, 2, 2})), Invalid);
  CHECK_THROWS_AS(
      ConvTranspose1d(2, 3, 3, 2, 4, 1, 0)(mx::zeros({1, 2, 2})), Invalid);
  CHECK_THROWS_AS(
      ConvTranspose2d(2, 3, 3, 2, IntOrTuple{0, 4}, 1, 1)(
          mx::zeros({1, 2, 2, 2})),
      Invalid);

  try {
    ConvTranspose1d(2, 3, 3, 2, 4, 1, 1)(mx::zeros({1, 2, 2}));
    FAIL("expected std::invalid_argument");
  } catch (const std::invalid_argument& error) {
    CHECK(
        std::string(error.what()) ==
        "[ConvTranspose1d] Expected padding=4 to leave at least one output "
        "position, but the output without padding has shape (1, 5, 3). "
        "Reduce the padding or enlarge the input.");
  }

  try {
    Conv2d(2, 3, 3)(mx::zeros({1, 5, 5, 1}));
    FAIL("expected std::invalid_argument");
  } catch (const std::invalid_argument& error) {
    CHECK(
        std::string(error.what()) ==
        "[Conv2d] Expected input of shape (N, H, W, C) with C=2 but received "
        "shape (1, 5, 5, 1).");
  }
}

TEST_CASE("convolution output shapes") {
  CHECK(Conv1d(2, 3, 3, 2, 1)(mx::zeros({2, 7, 2})).shape() ==
        mx::Shape{2, 4, 3});
  CHECK(Conv2d(2, 3, IntOrTuple{3, 1}, IntOrTuple{1, 2})(
            mx::zeros({1, 5, 5, 2}))
            .shape() == mx::Shape{1, 3, 3, 3});
  CHECK(ConvTranspose1d(2, 3, 3, 2, 1, 1, 1)(mx::zeros({1, 4, 2})).shape() ==
        mx::Shape{1, 8, 3});
  CHECK(ConvTranspose3d(2, 1, 2, 2)(mx::zeros({1, 2, 2, 2, 2})).shape() ==
        mx::Shape{1, 4, 4, 4, 1});
}

TEST_CASE("convolution gradients match finite differences") {
  mx::random::seed(3);
  SUBCASE("conv1d") {
    Conv1d layer(4, 2, 3, 2, 1, 1, 2);
    check_gradients(layer, {1, 6, 4});
  }
  SUBCASE("conv2d") {
    Conv2d layer(2, 2, IntOrTuple{2, 3}, 1, IntOrTuple{1, 0}, IntOrTuple{1, 2});
    check_gradients(layer, {1, 3, 5, 2});
  }
  SUBCASE("conv3d") {
    Conv3d layer(2, 2, 2, IntOrTuple{1, 2, 1});
    check_gradients(layer, {1, 2, 3, 3, 2});
  }
  SUBCASE("conv_transpose1d") {
    ConvTranspose1d layer(2, 3, 3, 2, 0, 1, 1);
    check_gradients(layer, {1, 4, 2});
  }
  SUBCASE("conv_transpose1d with padding") {
    ConvTranspose1d layer(2, 2, 3, 2, 2, 1, 1);
    check_gradients(layer, {1, 4, 2});
  }
  SUBCASE("conv_transpose2d") {
    ConvTranspose2d layer(
        2, 2, IntOrTuple{2, 3}, IntOrTuple{2, 1}, IntOrTuple{0, 1}, 1,
        IntOrTuple{1, 0});
    check_gradients(layer, {1, 3, 3, 2});
  }
  SUBCASE("conv_transpose3d") {
    ConvTranspose3d layer(2, 1, 2, 2, 0, 1, 1);
    check_gradients(layer, {1, 2, 2, 2, 2});
  }
}
