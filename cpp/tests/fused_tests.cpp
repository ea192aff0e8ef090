#include <doctest/doctest.h>

#include "rmlx/optimizers/fused.h"

namespace mx = mlx::core;
using rmlx::optimizers::adam_step;

namespace {

// One Adam step written with MLX operations, as MLX Python's Adam does.
std::vector<mx::array> adam_reference(
    const mx::array& p,
    const mx::array& g,
    const mx::array& m,
    const mx::array& v,
    float a,
    float c,
    float d) {
  auto m_new = mx::add(
      mx::multiply(mx::array(0.9f), m), mx::multiply(mx::array(0.1f), g));
  auto v_new = mx::add(
      mx::multiply(mx::array(0.999f), v),
      mx::multiply(
          mx::array(static_cast<float>(1.0 - 0.999)), mx::square(g)));
  auto denominator =
      mx::add(mx::multiply(mx::sqrt(v_new), mx::array(c)), mx::array(1e-8f));
  auto p_new = mx::subtract(
      mx::multiply(p, mx::array(d)),
      mx::divide(mx::multiply(mx::array(a), m_new), denominator));
  return {p_new, m_new, v_new};
}

bool all_close(const mx::array& a, const mx::array& b) {
  return mx::allclose(a, b, 1e-6, 1e-7).item<bool>();
}

} // namespace

TEST_CASE("adam_step matches MLX operations") {
  mx::random::seed(3);
  auto p = mx::random::normal({7, 5});
  auto g = mx::random::normal({7, 5});
  auto m = mx::multiply(mx::random::normal({7, 5}), mx::array(0.1f));
  auto v = mx::abs(mx::random::normal({7, 5}));
  float a = 0.05f;
  float c = 1.3f;
  float d = 0.999f;
  auto fused = adam_step(
      p, g, m, v, mx::array(a), mx::array(c), mx::array(d), 0.9, 0.999, 1e-8);
  auto expected = adam_reference(p, g, m, v, a, c, d);
  REQUIRE(fused.size() == 3);
  for (int i = 0; i < 3; ++i) {
    CHECK(fused[i].dtype() == mx::float32);
    CHECK(all_close(fused[i], expected[i]));
  }
}

TEST_CASE("adam_step takes broadcast state and float16") {
  auto p = mx::ones({4, 3});
  auto g = mx::full({4, 3}, 0.5f);
  auto zeros = mx::zeros({4, 3});
  auto one = mx::array(1.0f);
  auto fused = adam_step(p, g, zeros, zeros, one, one, one, 0.9, 0.999, 1e-8);
  auto expected = adam_reference(p, g, zeros, zeros, 1.0f, 1.0f, 1.0f);
  CHECK(all_close(fused[0], expected[0]));

  // float16 runs the same formula as MLX operations.
  auto half = [](const mx::array& x) { return mx::astype(x, mx::float16); };
  auto low = adam_step(
      half(p), half(g), half(zeros), half(zeros), one, one, one, 0.9, 0.999,
      1e-8);
  CHECK(low[0].dtype() == mx::float16);
  CHECK(mx::allclose(mx::astype(low[0], mx::float32), expected[0], 1e-2, 1e-2)
            .item<bool>());
}

TEST_CASE("adam_step runs inside compile") {
  auto step = mx::compile([](const std::vector<mx::array>& in) {
    auto one = mx::array(1.0f);
    return adam_step(in[0], in[1], in[2], in[3], in[4], one, one, 0.9, 0.999,
                     1e-8);
  });
  auto p = mx::ones({3});
  auto g = mx::array({0.1f, -0.2f, 0.3f});
  auto m = mx::zeros({3});
  auto v = mx::zeros({3});
  auto lr = mx::array(0.1f);
  auto compiled = step({p, g, m, v, lr});
  auto expected = adam_reference(p, g, m, v, 0.1f, 1.0f, 1.0f);
  for (int i = 0; i < 3; ++i) {
    CHECK(all_close(compiled[i], expected[i]));
  }
  // A new learning rate is an input, not a constant of the trace.
  auto second = step({p, g, m, v, mx::array(0.2f)});
  auto expected_second = adam_reference(p, g, m, v, 0.2f, 1.0f, 1.0f);
  CHECK(all_close(second[0], expected_second[0]));
}
