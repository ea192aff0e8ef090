// The CPU layer normalization kernel behind LayerNorm against MLX's own
// mx::fast::layer_norm (the custom kernels turned off) and finite
// differences.
#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "rmlx/nn/normalization.h"
#include "test_utils.h"

using namespace rmlx::nn;
using rmlx::test::arrays_close;
using rmlx::test::CustomKernelsScope;
using rmlx::test::numeric_gradient;

namespace {

// The loss sum(norm(x) * w), then its gradients with respect to x and to
// every parameter of the layer, with the custom kernels on or off, in
// `dtype` (the kernel runs in float32 only).
std::vector<mx::array> loss_and_grads(
    const mx::Shape& shape,
    bool affine,
    bool bias,
    float offset,
    bool kernels,
    mx::Dtype dtype = mx::float32) {
  CustomKernelsScope scope(kernels);
  mx::random::seed(12);
  int dims = shape.back();
  LayerNorm norm(dims, 1e-5, affine, bias);
  // Random weight and bias instead of ones and zeros.
  NamedArrays random;
  for (const auto& [name, value] : norm.parameters()) {
    random.emplace_back(
        name, mx::astype(mx::random::normal(value.shape()), dtype));
  }
  norm.update(random);
  auto x = mx::astype(
      mx::add(mx::random::normal(shape), mx::array(offset)), dtype);
  auto w = mx::astype(mx::random::normal(shape), dtype);

  std::vector<mx::array> primals = {x};
  for (const auto& [name, value] : norm.parameters()) {
    primals.push_back(value);
  }
  auto loss = [&](const std::vector<mx::array>& p) {
    NamedArrays values;
    size_t i = 1;
    for (const auto& [name, value] : norm.parameters()) {
      values.emplace_back(name, p[i++]);
    }
    norm.update(values);
    return mx::sum(mx::multiply(norm(p[0]), w));
  };
  std::vector<int> argnums(primals.size());
  for (size_t i = 0; i < argnums.size(); ++i) {
    argnums[i] = static_cast<int>(i);
  }
  auto [value, grads] = mx::value_and_grad(loss, argnums)(primals);
  grads.insert(grads.begin(), value);
  mx::eval(grads);
  return grads;
}

} // namespace

TEST_CASE("layer norm kernel matches MLX layer norm") {
  struct Case {
    std::string name;
    mx::Shape shape;
    bool affine;
    bool bias;
    float offset;
  };
  std::vector<Case> cases = {
      {"affine with bias", {4, 6, 16}, true, true, 0.0f},
      {"affine without bias", {5, 16}, true, false, 0.0f},
      {"no affine", {3, 2, 8}, false, false, 0.0f},
      {"13 features", {7, 13}, true, true, 0.0f},
      {"one feature", {4, 1}, true, true, 0.0f},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    auto kernel = loss_and_grads(c.shape, c.affine, c.bias, c.offset, true);
    auto reference = loss_and_grads(c.shape, c.affine, c.bias, c.offset, false);
    REQUIRE(kernel.size() == reference.size());
    for (size_t i = 0; i < kernel.size(); ++i) {
      CAPTURE(i);
      CHECK(arrays_close(kernel[i], reference[i], 1e-5, 1e-5));
    }
  }
}

TEST_CASE("layer norm kernel is accurate far from zero") {
  // Around a mean of 100 the kernel's float32 results and MLX's are
  // compared with the definition evaluated in float64 by MLX's basic
  // operations (fast::layer_norm itself computes float64 in float32).
  mx::Shape shape = {6, 24};
  auto kernel = loss_and_grads(shape, true, true, 100.0f, true);
  auto mlx32 = loss_and_grads(shape, true, true, 100.0f, false);

  mx::random::seed(12);
  auto weight = mx::astype(mx::random::normal({24}), mx::float64);
  auto bias = mx::astype(mx::random::normal({24}), mx::float64);
  auto x = mx::astype(
      mx::add(mx::random::normal(shape), mx::array(100.0f)), mx::float64);
  auto w = mx::astype(mx::random::normal(shape), mx::float64);
  auto loss = [&](const std::vector<mx::array>& p) {
    auto centered = mx::subtract(p[0], mx::mean(p[0], -1, true));
    auto variance = mx::mean(mx::square(centered), -1, true);
    auto y = mx::divide(centered,
                        mx::sqrt(mx::add(variance, mx::array(1e-5, mx::float64))));
    return mx::sum(mx::multiply(mx::add(mx::multiply(y, p[1]), p[2]), w));
  };
  auto [value, grads] =
      mx::value_and_grad(loss, {0, 1, 2})({x, weight, bias});
  grads.insert(grads.begin(), value);
  REQUIRE(grads.size() == kernel.size());
  for (size_t i = 0; i < kernel.size(); ++i) {
    CAPTURE(i);
    auto truth = mx::astype(grads[i], mx::float32);
    CHECK(arrays_close(kernel[i], truth, 1e-4, 1e-4));
    if (i == 0) {
      // The loss is a float32 sum of 144 products in either path.
      continue;
    }
    // MLX's gradient takes the variance as E[x^2] - E[x]^2; the kernel
    // subtracts the mean first and is at least as accurate.
    auto kernel_error = mx::max(mx::abs(mx::subtract(kernel[i], truth)));
    auto mlx_error = mx::max(mx::abs(mx::subtract(mlx32[i], truth)));
    CHECK(kernel_error.item<float>() <= mlx_error.item<float>() + 1e-6f);
  }
}

TEST_CASE("layer norm kernel gradients match finite differences") {
  CustomKernelsScope scope(true);
  mx::random::seed(13);
  LayerNorm norm(5);
  norm.update({{"weight", mx::random::normal({5})},
               {"bias", mx::random::normal({5})}});
  auto x = mx::random::normal({3, 5});
  auto w = mx::random::normal({3, 5});
  // float64 steps, float32 evaluation so that the kernel runs.
  auto of_x = [&](const mx::array& input) {
    return mx::sum(mx::multiply(norm(mx::astype(input, mx::float32)), w));
  };
  auto grad = mx::grad(of_x)(x);
  auto expected = mx::astype(numeric_gradient(of_x, x), mx::float32);
  CHECK(arrays_close(grad, expected, 2e-3, 2e-3));
}

TEST_CASE("layer norm kernel second derivative is not implemented") {
  mx::random::seed(14);
  LayerNorm norm(6);
  auto x = mx::random::normal({2, 6});
  auto outer = [&](const mx::array& input) {
    auto inner = [&](const mx::array& y) {
      return mx::sum(mx::square(norm(y)));
    };
    return mx::sum(mx::square(mx::grad(inner)(input)));
  };
  {
    CustomKernelsScope scope(true);
    CHECK_THROWS_WITH_AS(
        mx::eval(mx::grad(outer)(x)),
        doctest::Contains("LayerNormRowsGrad"),
        std::runtime_error);
  }
  CustomKernelsScope scope(false);
  CHECK_NOTHROW(mx::eval(mx::grad(outer)(x)));
}
