#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "rmlx/nn/unfold.h"
#include "test_utils.h"

using namespace rmlx::nn;
using rmlx::test::arrays_close;
using rmlx::test::arrays_equal;

namespace {

struct Geometry {
  mx::Shape input;
  std::vector<int> kernel;
  std::vector<int> stride;
  std::vector<int> padding;
  std::vector<int> dilation;
};

std::vector<Geometry> geometries() {
  return {
      {{2, 7, 3}, {3}, {2}, {1}, {2}},
      {{2, 5, 6, 3}, {3, 3}, {1, 1}, {1, 1}, {1, 1}},
      {{1, 6, 5, 2}, {2, 3}, {2, 1}, {0, 2}, {2, 1}},
      {{2, 4, 5, 1}, {3, 2}, {3, 2}, {2, 1}, {1, 2}},
      {{1, 4, 3, 5, 2}, {2, 2, 3}, {1, 2, 1}, {1, 0, 1}, {1, 1, 2}},
  };
}

// The windows of x, built element by element from its values on the host:
// an implementation independent of the kernel under test.
mx::array reference_unfold(const mx::array& x, const Geometry& g) {
  size_t dims = g.kernel.size();
  std::vector<int> in(3, 1), out(3, 1), k(3, 1), s(3, 1), p(3, 0), d(3, 1);
  for (size_t i = 0; i < dims; ++i) {
    size_t axis = 3 - dims + i;
    in[axis] = g.input[i + 1];
    k[axis] = g.kernel[i];
    s[axis] = g.stride[i];
    p[axis] = g.padding[i];
    d[axis] = g.dilation[i];
    out[axis] = (in[axis] + 2 * p[axis] - d[axis] * (k[axis] - 1) - 1) /
            s[axis] +
        1;
  }
  int batch = g.input.front();
  int channels = g.input.back();
  mx::array xf = mx::contiguous(mx::astype(x, mx::float32));
  mx::eval(xf);
  std::vector<float> values(xf.data<float>(), xf.data<float>() + xf.size());
  std::vector<float> result;
  for (int n = 0; n < batch; ++n)
    for (int o0 = 0; o0 < out[0]; ++o0)
      for (int o1 = 0; o1 < out[1]; ++o1)
        for (int o2 = 0; o2 < out[2]; ++o2)
          for (int k0 = 0; k0 < k[0]; ++k0)
            for (int k1 = 0; k1 < k[1]; ++k1)
              for (int k2 = 0; k2 < k[2]; ++k2)
                for (int c = 0; c < channels; ++c) {
                  int i0 = o0 * s[0] - p[0] + k0 * d[0];
                  int i1 = o1 * s[1] - p[1] + k1 * d[1];
                  int i2 = o2 * s[2] - p[2] + k2 * d[2];
                  bool inside = i0 >= 0 && i0 < in[0] && i1 >= 0 &&
                      i1 < in[1] && i2 >= 0 && i2 < in[2];
                  size_t index =
                      (((size_t(n) * in[0] + i0) * in[1] + i1) * in[2] + i2) *
                          channels +
                      c;
                  result.push_back(inside ? values[index] : 0.0f);
                }
  mx::Shape shape = {batch};
  for (size_t i = 0; i < dims; ++i) {
    shape.push_back(out[3 - dims + i]);
  }
  shape.insert(shape.end(), g.kernel.begin(), g.kernel.end());
  shape.push_back(channels);
  return mx::array(result.begin(), shape, mx::float32);
}

mx::array unfold_of(const mx::array& x, const Geometry& g) {
  return unfold(x, g.kernel, g.stride, g.padding, g.dilation);
}

std::vector<int> spatial_of(const Geometry& g) {
  return std::vector<int>(g.input.begin() + 1, g.input.end() - 1);
}

mx::array fold_of(const mx::array& windows, const Geometry& g) {
  return fold(
      windows, spatial_of(g), g.kernel, g.stride, g.padding, g.dilation);
}

float dot(const mx::array& a, const mx::array& b) {
  return mx::sum(mx::multiply(a, b)).item<float>();
}

} // namespace

TEST_CASE("unfold matches an elementwise reference") {
  mx::random::seed(7);
  for (const Geometry& g : geometries()) {
    CAPTURE(g.input);
    mx::array x = mx::random::normal(g.input);
    CHECK(arrays_equal(unfold_of(x, g), reference_unfold(x, g)));
  }
}

TEST_CASE("unfold reads transposed inputs") {
  mx::random::seed(8);
  Geometry g = geometries()[1];
  mx::array x = mx::random::normal({2, 3, 6, 5});
  mx::array transposed = mx::transpose(x, {0, 3, 2, 1});
  CHECK(arrays_equal(
      unfold_of(transposed, g),
      reference_unfold(mx::contiguous(transposed), g)));
}

TEST_CASE("fold is the adjoint of unfold") {
  mx::random::seed(9);
  for (const Geometry& g : geometries()) {
    CAPTURE(g.input);
    mx::array x = mx::random::normal(g.input);
    mx::array windows = unfold_of(x, g);
    mx::array w = mx::random::normal(windows.shape());
    mx::array folded = fold_of(w, g);
    CHECK(folded.shape() == g.input);
    CHECK(dot(windows, w) == doctest::Approx(dot(x, folded)).epsilon(1e-4));
  }
}

TEST_CASE("unfold and fold derivatives") {
  mx::random::seed(10);
  for (const Geometry& g : geometries()) {
    CAPTURE(g.input);
    mx::array x = mx::random::normal(g.input);
    mx::array windows = unfold_of(x, g);
    mx::array w = mx::random::normal(windows.shape());

    auto unfold_vjp = mx::vjp(
        [&](const std::vector<mx::array>& a) {
          return std::vector<mx::array>{unfold_of(a[0], g)};
        },
        {x},
        {w});
    CHECK(arrays_close(unfold_vjp.second[0], fold_of(w, g)));

    auto fold_vjp = mx::vjp(
        [&](const std::vector<mx::array>& a) {
          return std::vector<mx::array>{fold_of(a[0], g)};
        },
        {w},
        {x});
    CHECK(arrays_close(fold_vjp.second[0], unfold_of(x, g)));

    auto unfold_jvp = mx::jvp(
        [&](const std::vector<mx::array>& a) {
          return std::vector<mx::array>{unfold_of(a[0], g)};
        },
        {x},
        {x});
    CHECK(arrays_close(unfold_jvp.second[0], windows));

    auto fold_jvp = mx::jvp(
        [&](const std::vector<mx::array>& a) {
          return std::vector<mx::array>{fold_of(a[0], g)};
        },
        {w},
        {w});
    CHECK(arrays_close(fold_jvp.second[0], fold_of(w, g)));
  }
}

TEST_CASE("fold with more window positions than unfold") {
  // Two extra positions along the axis: the first still covers the last
  // input element, the second lies wholly outside.
  mx::random::seed(11);
  Geometry g{{1, 5, 2}, {3}, {2}, {0}, {1}};
  mx::array w = mx::random::normal({1, 4, 3, 2});
  mx::array x = mx::random::normal({1, 5, 2});
  mx::array folded = fold_of(w, g);
  CHECK(folded.shape() == mx::Shape{1, 5, 2});
  // Window position 2 starts at element 4, so its first entry lands there.
  mx::array expected_last = mx::add(
      mx::slice(w, {0, 1, 2, 0}, {1, 2, 3, 2}),
      mx::slice(w, {0, 2, 0, 0}, {1, 3, 1, 2}));
  CHECK(arrays_close(
      mx::reshape(mx::slice(folded, {0, 4, 0}, {1, 5, 2}), {2}),
      mx::reshape(expected_last, {2})));

  auto fold_vjp = mx::vjp(
      [&](const std::vector<mx::array>& a) {
        return std::vector<mx::array>{fold_of(a[0], g)};
      },
      {w},
      {x});
  mx::array dw = fold_vjp.second[0];
  CHECK(dw.shape() == w.shape());
  CHECK(dot(folded, x) == doctest::Approx(dot(w, dw)).epsilon(1e-4));
}

TEST_CASE("unfold and fold keep the floating dtype") {
  mx::random::seed(12);
  Geometry g = geometries()[2];
  mx::array x = mx::random::normal(g.input);
  mx::array expected = unfold_of(x, g);
  for (mx::Dtype dtype : {mx::float16, mx::bfloat16, mx::float64}) {
    CAPTURE(dtype);
    mx::array cast = mx::astype(x, dtype);
    mx::array windows = unfold_of(cast, g);
    CHECK(windows.dtype() == dtype);
    CHECK(arrays_equal(windows, mx::astype(expected, dtype)));
    mx::array folded = fold_of(windows, g);
    CHECK(folded.dtype() == dtype);
    CHECK(arrays_close(
        mx::astype(folded, mx::float32), fold_of(expected, g), 1e-2, 1e-2));
  }
}

TEST_CASE("unfold and fold reject invalid arguments") {
  mx::array x = mx::zeros({1, 4, 4, 2});
  CHECK_THROWS_WITH_AS(
      unfold(mx::zeros({1, 4, 4, 2}, mx::int32), {2, 2}, {1, 1}, {0, 0},
             {1, 1}),
      "[unfold] Expected a floating-point array but got dtype int32.",
      std::invalid_argument);
  CHECK_THROWS_WITH_AS(
      unfold(x, {2}, {1}, {0}, {1}),
      "[unfold] Expected a 3-D input (N, spatial..., C) for 1 spatial "
      "dimensions but got shape (1, 4, 4, 2).",
      std::invalid_argument);
  CHECK_THROWS_WITH_AS(
      unfold(x, {2, 2}, {1}, {0, 0}, {1, 1}),
      "[unfold] 'stride' must have 2 values like kernel_size but got (1,).",
      std::invalid_argument);
  CHECK_THROWS_WITH_AS(
      unfold(x, {2, 2}, {1, 0}, {0, 0}, {1, 1}),
      "[unfold] 'stride' must be positive but got (1, 0).",
      std::invalid_argument);
  CHECK_THROWS_WITH_AS(
      unfold(x, {2, 2}, {1, 1}, {0, -1}, {1, 1}),
      "[unfold] 'padding' must be non-negative but got (0, -1).",
      std::invalid_argument);
  CHECK_THROWS_WITH_AS(
      unfold(x, {5, 2}, {1, 1}, {0, 0}, {1, 1}),
      "[unfold] The window (5, 2) with dilation (1, 1) does not fit the "
      "padded input of shape (1, 4, 4, 2).",
      std::invalid_argument);
  CHECK_THROWS_WITH_AS(
      unfold(x, {1, 1, 1, 1}, {1, 1, 1, 1}, {0, 0, 0, 0}, {1, 1, 1, 1}),
      "[unfold] Expected 1 to 3 spatial dimensions but got 4.",
      std::invalid_argument);
  CHECK_THROWS_WITH_AS(
      fold(mx::zeros({1, 3, 3, 2, 2, 2}), {4, 4}, {3, 3}, {1, 1}, {0, 0},
           {1, 1}),
      "[fold] Expected windows of shape (N, O..., 3, 3, C) and a spatial "
      "shape of 2 positive sizes but got windows of shape (1, 3, 3, 2, 2, 2) "
      "and spatial shape (4, 4).",
      std::invalid_argument);
}
