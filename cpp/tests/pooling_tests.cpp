#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "rmlx/nn/dropout_channels.h"
#include "rmlx/nn/pooling.h"
#include "rmlx/random.h"
#include "test_utils.h"

using namespace rmlx::nn;
using rmlx::test::arrays_close;
using rmlx::test::arrays_equal;
using rmlx::test::CustomKernelsScope;
using rmlx::test::Fixture;
using rmlx::test::gradient_matches;

namespace {

// Builds a pooling layer of the given kind ("max" or "avg") and rank.
using PoolFactory =
    std::function<std::shared_ptr<Pool>(IntOrTuple, IntOrTuple, IntOrTuple)>;

template <typename Layer>
PoolFactory factory() {
  return [](IntOrTuple kernel, IntOrTuple stride, IntOrTuple padding) {
    return std::make_shared<Layer>(kernel, stride, padding);
  };
}

struct PoolCase {
  int dims;
  std::string name;
  IntOrTuple kernel;
  IntOrTuple stride;
  IntOrTuple padding;
  // False where the padding exceeds half the kernel, which PyTorch rejects.
  bool in_torch;
};

// The cases of tools/fixtures/make_pooling_fixtures.py.
const std::vector<PoolCase>& pool_cases() {
  static const std::vector<PoolCase> cases = {
      {1, "default", 2, {}, 0, true},
      {1, "k3_s1", 3, 1, 0, true},
      {1, "k3_s2_p1", 3, 2, 1, true},
      {1, "tuple", {4}, {3}, {2}, true},
      {1, "window_only_padding", 2, 1, 2, false},
      {2, "default", 2, {}, 0, true},
      {2, "k3_s1", 3, 1, 0, true},
      {2, "mixed", {2, 3}, {1, 2}, {1, 1}, true},
      {2, "k3_s2_p1", 3, 2, 1, true},
      {2, "window_only_padding", 2, 2, {0, 2}, false},
      {3, "default", 2, {}, 0, true},
      {3, "mixed", {2, 3, 2}, {1, 2, 2}, {1, 1, 0}, true},
      {3, "k3_s2_p1", 3, 2, 1, true},
  };
  return cases;
}

PoolFactory pool_factory(const std::string& kind, int dims) {
  if (kind == "max") {
    return dims == 1   ? factory<MaxPool1d>()
        : dims == 2 ? factory<MaxPool2d>()
                    : factory<MaxPool3d>();
  }
  return dims == 1   ? factory<AvgPool1d>()
      : dims == 2 ? factory<AvgPool2d>()
                  : factory<AvgPool3d>();
}

mx::array weighted_sum(const mx::array& y) {
  mx::array weights = mx::astype(
      mx::reshape(mx::sin(mx::arange(static_cast<int>(y.size()))), y.shape()),
      y.dtype());
  return mx::sum(mx::multiply(y, weights));
}

} // namespace

TEST_CASE("pooling matches MLX Python and PyTorch") {
  Fixture fixture("pooling");
  for (const PoolCase& c : pool_cases()) {
    mx::array x = fixture["x" + std::to_string(c.dims) + "d"];
    for (std::string kind : {"max", "avg"}) {
      std::string key = kind + std::to_string(c.dims) + "d_" + c.name;
      auto layer = pool_factory(kind, c.dims)(c.kernel, c.stride, c.padding);
      mx::array y = (*layer)(x);
      CHECK_MESSAGE(arrays_close(y, fixture[key]), key);
      if (c.in_torch) {
        CHECK_MESSAGE(
            arrays_close(y, fixture["torch_" + key], 1e-5, 1e-6), key);
      }
    }
  }
}

TEST_CASE("pooling gradients match MLX Python") {
  Fixture fixture("pooling");
  for (bool custom : {true, false}) {
    CAPTURE(custom);
    CustomKernelsScope kernels(custom);
    for (const PoolCase& c : pool_cases()) {
      mx::array x = fixture["x" + std::to_string(c.dims) + "d"];
      for (std::string kind : {"max", "avg"}) {
        std::string key = kind + std::to_string(c.dims) + "d_" + c.name;
        auto layer = pool_factory(kind, c.dims)(c.kernel, c.stride, c.padding);
        auto f = [&](const mx::array& input) {
          return weighted_sum((*layer)(input));
        };
        CHECK_MESSAGE(arrays_close(mx::grad(f)(x), fixture["grad_" + key]), key);
      }
      if (c.dims != 2) {
        continue;
      }
      // Equal maxima share the gradient, as in MLX.
      mx::array ties = fixture["x2d_ties"];
      std::string key = "max2d_ties_" + c.name;
      auto layer = pool_factory("max", 2)(c.kernel, c.stride, c.padding);
      auto f = [&](const mx::array& input) {
        return weighted_sum((*layer)(input));
      };
      CHECK_MESSAGE(arrays_close((*layer)(ties), fixture[key]), key);
      CHECK_MESSAGE(
          arrays_close(mx::grad(f)(ties), fixture["grad_" + key]), key);
    }
  }
}

TEST_CASE("max pooling gradient of NaN and -inf windows") {
  Fixture fixture("pooling");
  mx::array x = fixture["x1d_special"];
  MaxPool1d layer(2, 2, 1);
  for (bool custom : {true, false}) {
    CAPTURE(custom);
    CustomKernelsScope kernels(custom);
    mx::array dx = mx::grad([&](const mx::array& input) {
      return mx::sum(layer(input));
    })(x);
    CHECK(arrays_close(layer(x), fixture["max1d_special"]));
    CHECK(arrays_close(dx, fixture["grad_max1d_special"]));
  }
}

TEST_CASE("pooling keeps dtype and pads max with -inf") {
  mx::array x = mx::reshape(mx::arange(1.0, 5.0, mx::float16), {1, 4, 1});
  MaxPool1d max_pool(2, 1, 2);
  mx::array y = max_pool(x);
  CHECK(y.dtype() == mx::float16);
  mx::array expected = mx::array(
      {-INFINITY, 1.0f, 2.0f, 3.0f, 4.0f, 4.0f, -INFINITY}, {1, 7, 1});
  CHECK(arrays_equal(y, mx::astype(expected, mx::float16)));

  // Padded zeros count in the average.
  AvgPool1d avg_pool(2, 2, 1);
  mx::array avg = avg_pool(mx::astype(x, mx::float32));
  CHECK(arrays_close(avg, mx::array({0.5f, 2.5f, 2.0f}, {1, 3, 1})));

  // Integer inputs pad with -inf cast to their dtype, as MLX Python 0.32.4
  // does: the int32 minimum, but 0 for int8.
  mx::array ints = mx::array({-5, -6, -7}, {1, 3, 1});
  CHECK(arrays_equal(
      max_pool(ints),
      mx::array({INT32_MIN, -5, -5, -6, -7, INT32_MIN}, {1, 6, 1})));
  CHECK(arrays_equal(
      MaxPool1d(2, {}, 1)(ints), mx::array({-5, -6}, {1, 2, 1})));
  CHECK(arrays_equal(
      MaxPool1d(2, {}, 1)(mx::astype(ints, mx::int8)),
      mx::astype(mx::array({0, -6}, {1, 2, 1}), mx::int8)));

  // When (size - kernel) // stride + 1 is 0 the output axis is empty, as in
  // MLX Python.
  CHECK((MaxPool1d(2)(mx::ones({1, 1, 3}))).shape() == mx::Shape{1, 0, 3});
}

TEST_CASE("pooling repr") {
  CHECK(MaxPool2d(2).to_string() ==
        "MaxPool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))");
  CHECK(AvgPool1d(3, 1, 1).to_string() ==
        "AvgPool1d(kernel_size=(3,), stride=(1,), padding=(1,))");
  CHECK(MaxPool3d({1, 2, 3}, {3, 2, 1}, {0, 1, 1}).extra_repr() ==
        "kernel_size=(1, 2, 3), stride=(3, 2, 1), padding=(0, 1, 1)");
  AvgPool2d layer({2, 3});
  CHECK(layer.kernel_size() == std::vector<int>{2, 3});
  CHECK(layer.stride() == std::vector<int>{2, 3});
  CHECK(layer.padding() == std::vector<int>{0, 0});
  CHECK(layer.parameters().empty());
}

TEST_CASE("pooling argument errors") {
  CHECK_THROWS_AS(MaxPool2d(0), std::invalid_argument);
  CHECK_THROWS_AS(AvgPool1d(2, -1), std::invalid_argument);
  CHECK_THROWS_AS(MaxPool3d({2, 0, 2}), std::invalid_argument);
  CHECK_THROWS_AS(AvgPool2d(2, 2, -1), std::invalid_argument);
  CHECK_THROWS_AS(MaxPool1d(2, {}, {1, 1}), std::invalid_argument);
  CHECK_THROWS_AS(MaxPool2d({2}), std::invalid_argument);
  CHECK_THROWS_AS(AvgPool3d({2, 2}), std::invalid_argument);
  CHECK_THROWS_WITH_AS(
      MaxPool2d({2, 0}),
      "[MaxPool2d] 'kernel_size' must be positive but got (2, 0).",
      std::invalid_argument);
  CHECK_THROWS_WITH_AS(
      AvgPool1d(2, {}, -1),
      "[AvgPool1d] 'padding' must be non-negative but got (-1,).",
      std::invalid_argument);
}

TEST_CASE("pooling input errors") {
  CHECK_THROWS_AS(MaxPool1d(2)(mx::ones({4, 3})), std::invalid_argument);
  CHECK_THROWS_AS(MaxPool1d(2)(mx::ones({1, 4, 4, 3})), std::invalid_argument);
  CHECK_THROWS_AS(AvgPool2d(2)(mx::ones({4, 4, 3})), std::invalid_argument);
  CHECK_THROWS_AS(MaxPool3d(2)(mx::ones({1, 4, 4, 3})), std::invalid_argument);
  CHECK_THROWS_WITH_AS(
      MaxPool2d(2)(mx::ones({4, 4, 3})),
      "[MaxPool2d] Expected a 4-D input (N, H, W, C) but received shape "
      "(4, 4, 3).",
      std::invalid_argument);
  // A window that does not fit even once is an error, not an empty output.
  CHECK_THROWS_AS(
      MaxPool1d(3, 1)(mx::ones({1, 1, 2})), std::invalid_argument);
}

TEST_CASE("pooling gradients match finite differences") {
  mx::random::seed(5);
  // Distinct values keep the maximum of every window unique.
  mx::array x1 = mx::reshape(mx::random::permutation(30), {2, 5, 3});
  mx::array x2 = mx::reshape(mx::random::permutation(80), {2, 5, 4, 2});
  mx::array x3 = mx::reshape(mx::random::permutation(72), {1, 3, 4, 3, 2});
  x1 = mx::multiply(mx::astype(x1, mx::float64), mx::array(0.1));
  x2 = mx::multiply(mx::astype(x2, mx::float64), mx::array(0.1));
  x3 = mx::multiply(mx::astype(x3, mx::float64), mx::array(0.1));

  std::vector<std::pair<std::shared_ptr<Pool>, mx::array>> cases = {
      {std::make_shared<MaxPool1d>(3, 2, 1), x1},
      {std::make_shared<AvgPool1d>(3, 2, 1), x1},
      {std::make_shared<MaxPool2d>(IntOrTuple{2, 3}, IntOrTuple{1, 2}, 1), x2},
      {std::make_shared<AvgPool2d>(IntOrTuple{2, 3}, IntOrTuple{1, 2}, 1), x2},
      {std::make_shared<MaxPool2d>(IntOrTuple{5, 2}), x2},
      {std::make_shared<AvgPool2d>(IntOrTuple{5, 2}), x2},
      {std::make_shared<MaxPool3d>(2, 1, IntOrTuple{0, 1, 1}), x3},
      {std::make_shared<AvgPool3d>(2, 1, IntOrTuple{0, 1, 1}), x3},
  };
  for (auto& [layer, x] : cases) {
    auto f = [&layer](const mx::array& input) {
      return weighted_sum((*layer)(input));
    };
    // The step stays below half the gap between values so no maximum moves.
    CHECK_MESSAGE(
        gradient_matches(f, x, 1e-3, 1e-4, 1e-3), layer->to_string());
  }
}

TEST_CASE("dropout2d and dropout3d masks match MLX Python") {
  Fixture fixture("dropout_channels");
  mx::random::seed(21);
  Dropout2d dropout2d(0.5);
  CHECK(arrays_equal(dropout2d(fixture["x4"]), fixture["dropout2d_4d"]));
  Dropout2d dropout2d_quarter(0.25);
  CHECK(arrays_equal(
      dropout2d_quarter(fixture["x3"]), fixture["dropout2d_3d"]));

  mx::random::seed(22);
  Dropout3d dropout3d(0.5);
  CHECK(arrays_equal(dropout3d(fixture["x5"]), fixture["dropout3d_5d"]));
  Dropout3d dropout3d_quarter(0.25);
  CHECK(arrays_equal(
      dropout3d_quarter(fixture["x4_3d"]), fixture["dropout3d_4d"]));
}

TEST_CASE("dropout2d drops whole channels") {
  mx::random::seed(3);
  Dropout2d layer(0.5);
  mx::array x = mx::ones({4, 3, 5, 8});
  mx::array y = layer(x);
  // Every (sample, channel) slice is all zeros or all 2 = 1 / (1 - p).
  mx::array low = mx::min(y, std::vector<int>{1, 2});
  mx::array high = mx::max(y, std::vector<int>{1, 2});
  CHECK(arrays_equal(low, high));
  CHECK(mx::all(mx::logical_or(
                    mx::equal(low, mx::array(0.0f)),
                    mx::equal(low, mx::array(2.0f))))
            .item<bool>());
  CHECK(mx::any(mx::equal(low, mx::array(0.0f))).item<bool>());
  CHECK(mx::any(mx::equal(low, mx::array(2.0f))).item<bool>());
}

TEST_CASE("channel dropout eval mode and repr") {
  mx::array x = mx::ones({2, 3, 3, 4});
  // eval() walks the module tree, which needs a shared_ptr.
  auto layer = std::make_shared<Dropout2d>(0.3);
  layer->eval();
  CHECK(arrays_equal((*layer)(x), x));
  Dropout3d zero(0.0);
  mx::array x5 = mx::ones({2, 2, 2, 2, 2});
  CHECK(arrays_equal(zero(x5), x5));

  CHECK(Dropout2d().to_string() == "Dropout2d(p=0.5)");
  CHECK(Dropout2d(0.1 + 0.2).extra_repr() == "p=0.30000000000000004");
  CHECK(Dropout3d(0.25).to_string() == "Dropout3d(p=0.25)");
  CHECK(Dropout3d(0.25).p() == 0.25);
}

TEST_CASE("channel dropout errors") {
  CHECK_THROWS_AS(Dropout2d(1.0), std::invalid_argument);
  CHECK_THROWS_AS(Dropout2d(-0.1), std::invalid_argument);
  CHECK_THROWS_AS(Dropout3d(NAN), std::invalid_argument);
  CHECK_THROWS_AS(Dropout2d()(mx::ones({3, 4})), std::invalid_argument);
  CHECK_THROWS_AS(
      Dropout2d()(mx::ones({1, 2, 3, 4, 5})), std::invalid_argument);
  CHECK_THROWS_AS(Dropout3d()(mx::ones({2, 3, 4})), std::invalid_argument);
  CHECK_THROWS_AS(
      Dropout3d()(mx::ones({1, 1, 2, 3, 4, 5})), std::invalid_argument);
  // The rank is checked in evaluation mode too, as in MLX Python.
  auto eval_layer = std::make_shared<Dropout2d>();
  eval_layer->eval();
  CHECK_THROWS_AS((*eval_layer)(mx::ones({3, 4})), std::invalid_argument);
  CHECK_THROWS_WITH_AS(
      Dropout2d(1.5),
      "[Dropout2d] Expected a probability p in [0, 1) but received 1.5.",
      std::invalid_argument);
}

TEST_CASE("dropout2d gradient is the mask") {
  mx::random::seed(4);
  Dropout2d layer(0.5);
  mx::array x = mx::random::normal({2, 3, 3, 4});
  mx::random::seed(4);
  mx::array y = layer(x);
  mx::random::seed(4);
  mx::array gradient = mx::grad([&](const mx::array& input) {
    return mx::sum(layer(input));
  })(x);
  // y = x * mask * 2, so dy/dx is the mask times 2 = y / x.
  CHECK(arrays_close(gradient, mx::divide(y, x)));
}

TEST_CASE("pooling accepts transposed inputs") {
  Fixture fixture("pooling");
  mx::array x = fixture["x2d"];
  // The same values through a transposed (non-contiguous) view.
  mx::array view = mx::transpose(
      mx::contiguous(mx::transpose(x, {0, 2, 1, 3})), {0, 2, 1, 3});
  auto max_pool = std::make_shared<MaxPool2d>(3, 1);
  auto avg_pool = std::make_shared<AvgPool2d>(IntOrTuple{2, 3}, IntOrTuple{1, 2});
  CHECK(arrays_equal((*max_pool)(view), fixture["max2d_k3_s1"]));
  CHECK(arrays_close((*avg_pool)(view), (*avg_pool)(x)));
}
