// The CPU attention kernel behind MultiHeadAttention against MLX's own
// attention (the custom kernels turned off) and finite differences.
#include <doctest/doctest.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "rmlx/nn/attention.h"
#include "rmlx/nn/positional_encoding.h"
#include "test_utils.h"

using namespace rmlx::nn;
using rmlx::test::arrays_close;
using rmlx::test::CustomKernelsScope;
using rmlx::test::numeric_gradient;

namespace {

struct AttentionCase {
  std::string name;
  int q_len;
  int kv_len;
  std::optional<int> value_dims;
  // "none", "causal" (additive), "bool" (a fully blocked row included) or
  // "batched" (an additive (1, 1, Lq, Lk) mask).
  std::string mask;
  bool rope = false;
};

std::optional<mx::array> make_mask(const AttentionCase& c) {
  if (c.mask == "none") {
    return std::nullopt;
  }
  auto rows = mx::expand_dims(mx::arange(c.q_len), 1);
  auto cols = mx::expand_dims(mx::arange(c.kv_len), 0);
  if (c.mask == "bool") {
    // Row 0 blocks every key, so its softmax is uniform, as in MLX.
    return mx::logical_and(
        mx::greater_equal(rows, cols), mx::greater(rows, mx::array(0)));
  }
  auto additive = mx::multiply(
      mx::astype(mx::less(rows, cols), mx::float32), mx::array(-1e9f));
  if (c.mask == "batched") {
    return mx::reshape(additive, {1, 1, c.q_len, c.kv_len});
  }
  return additive;
}

// The loss sum(mha(q, k, v, mask) * w) and its gradients with respect to
// q, k and v, with the custom kernels on or off.
std::vector<mx::array> loss_and_grads(const AttentionCase& c, bool kernels) {
  CustomKernelsScope scope(kernels);
  mx::random::seed(7);
  MultiHeadAttention mha(16, 4, std::nullopt, std::nullopt, std::nullopt,
                         c.value_dims, std::nullopt, true);
  if (c.rope) {
    mha.set_rope(std::make_shared<RoPE>(4));
  }
  auto q = mx::random::normal({2, c.q_len, 16});
  auto k = mx::random::normal({2, c.kv_len, 16});
  auto v = mx::random::normal({2, c.kv_len, 16});
  auto w = mx::random::normal({2, c.q_len, 16});
  auto mask = make_mask(c);
  auto loss = [&](const std::vector<mx::array>& x) {
    return mx::sum(mx::multiply(mha.forward(x[0], x[1], x[2], mask), w));
  };
  auto [value, grads] = mx::value_and_grad(loss, {0, 1, 2})({q, k, v});
  grads.insert(grads.begin(), value);
  mx::eval(grads);
  return grads;
}

} // namespace

TEST_CASE("attention kernel matches MLX attention") {
  std::vector<AttentionCase> cases = {
      {"no mask", 5, 5, std::nullopt, "none"},
      {"causal mask", 6, 6, std::nullopt, "causal"},
      {"boolean mask", 6, 6, std::nullopt, "bool"},
      {"shorter queries", 3, 7, std::nullopt, "none"},
      {"value dims 24", 4, 5, 24, "causal"},
      {"(1, 1, Lq, Lk) mask", 5, 5, std::nullopt, "batched"},
      {"RoPE with a causal mask", 6, 6, std::nullopt, "causal", true},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    auto kernel = loss_and_grads(c, true);
    auto reference = loss_and_grads(c, false);
    REQUIRE(kernel.size() == reference.size());
    for (size_t i = 0; i < kernel.size(); ++i) {
      CAPTURE(i);
      CHECK(arrays_close(kernel[i], reference[i], 1e-5, 1e-5));
    }
  }
}

TEST_CASE("attention kernel gradients match finite differences") {
  CustomKernelsScope scope(true);
  mx::random::seed(8);
  MultiHeadAttention mha(8, 2);
  auto q = mx::random::normal({1, 3, 8});
  auto kv = mx::random::normal({1, 4, 8});
  auto w = mx::random::normal({1, 3, 8});
  auto mask = mx::random::normal({3, 4});
  // float64 steps, float32 evaluation so that the kernel runs.
  auto of_queries = [&](const mx::array& x) {
    auto y = mha.forward(mx::astype(x, mx::float32), kv, kv, mask);
    return mx::sum(mx::multiply(y, w));
  };
  auto of_mask = [&](const mx::array& m) {
    auto y = mha.forward(q, kv, kv, mx::astype(m, mx::float32));
    return mx::sum(mx::multiply(y, w));
  };
  auto grad_q = mx::grad(of_queries)(q);
  auto grad_mask = mx::grad(of_mask)(mask);
  CHECK(arrays_close(grad_q, mx::astype(numeric_gradient(of_queries, q), mx::float32),
                     2e-3, 2e-3));
  CHECK(arrays_close(grad_mask,
                     mx::astype(numeric_gradient(of_mask, mask), mx::float32),
                     2e-3, 2e-3));
}

TEST_CASE("attention kernel second derivative is not implemented") {
  mx::random::seed(9);
  MultiHeadAttention mha(8, 2);
  auto x = mx::random::normal({1, 3, 8});
  auto outer = [&](const mx::array& input) {
    auto inner = [&](const mx::array& y) {
      return mx::sum(mx::square(mha.forward(y, y, y)));
    };
    return mx::sum(mx::grad(inner)(input));
  };
  {
    CustomKernelsScope scope(true);
    CHECK_THROWS_WITH_AS(
        mx::eval(mx::grad(outer)(x)),
        doctest::Contains("HeadAttentionGrad"),
        std::runtime_error);
  }
  CustomKernelsScope scope(false);
  CHECK_NOTHROW(mx::eval(mx::grad(outer)(x)));
}

TEST_CASE("attention kernel mask gradient differentiates") {
  // The derivative of the mask's gradient with respect to the input. It
  // goes through the probabilities, which the kernel's vjp must recompute.
  mx::random::seed(10);
  MultiHeadAttention mha(8, 2);
  auto x = mx::random::normal({2, 3, 8});
  auto mask = mx::random::normal({3, 4});
  auto kv = mx::random::normal({2, 4, 8});
  auto w = mx::random::normal({2, 3, 8});
  auto u = mx::random::normal({3, 4});
  auto outer = [&](const mx::array& input) {
    auto inner = [&](const mx::array& m) {
      return mx::sum(mx::multiply(mha.forward(input, kv, kv, m), w));
    };
    return mx::sum(mx::multiply(mx::grad(inner)(mask), u));
  };
  auto derivative = [&](bool kernels) {
    CustomKernelsScope scope(kernels);
    auto grad = mx::grad(outer)(x);
    mx::eval(grad);
    return grad;
  };
  auto kernel = derivative(true);
  auto reference = derivative(false);
  CHECK(arrays_close(kernel, reference, 1e-4, 1e-5));
}

TEST_CASE("attention kernel leaves invalid masks to MLX") {
  // MLX raises an error for these masks, and the kernel must not accept
  // them instead.
  mx::random::seed(11);
  MultiHeadAttention mha(8, 2);
  auto x = mx::random::normal({2, 3, 8});
  std::vector<std::pair<std::string, mx::array>> masks = {
      {"rank 5", mx::zeros({1, 1, 1, 3, 3})},
      {"float64", mx::zeros({3, 3}, mx::float64)},
  };
  for (const auto& [name, mask] : masks) {
    CAPTURE(name);
    for (bool kernels : {true, false}) {
      CAPTURE(kernels);
      CustomKernelsScope scope(kernels);
      CHECK_THROWS_AS(mx::eval(mha.forward(x, x, x, mask)),
                      std::invalid_argument);
    }
  }
}
