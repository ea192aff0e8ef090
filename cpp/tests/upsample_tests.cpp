#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include "rmlx/nn/upsample.h"
#include "test_utils.h"

using namespace rmlx::nn;
using rmlx::test::arrays_close;
using rmlx::test::arrays_equal;
using rmlx::test::Fixture;
using rmlx::test::gradient_matches;

namespace {

struct UpsampleCase {
  std::string name;
  std::string input;
  std::vector<double> scale;  // One value means a single scale.
  std::string mode;
  bool align_corners;
  bool antialias;
  bool in_torch;
};

// The cases of tools/fixtures/make_pooling_fixtures.py.
const std::vector<UpsampleCase>& upsample_cases() {
  static const std::vector<UpsampleCase> cases = {
      {"nearest_2", "x2d", {2}, "nearest", false, false, true},
      {"nearest_2_3", "x2d", {2, 3}, "nearest", false, false, true},
      {"nearest_1_5", "x2d", {1.5}, "nearest", false, false, false},
      {"nearest_0_5", "x2d", {0.5}, "nearest", false, false, false},
      {"nearest_1d_2_5", "x1d", {2.5}, "nearest", false, false, false},
      {"nearest_3d_2", "x3d", {2}, "nearest", false, false, true},
      {"linear_2", "x2d", {2}, "linear", false, false, true},
      {"linear_2_align", "x2d", {2}, "linear", true, false, true},
      {"linear_1_5", "x2d", {1.5, 2.5}, "linear", false, false, false},
      {"linear_1_5_align", "x2d", {1.5, 2.5}, "linear", true, false, false},
      {"linear_0_5", "x2d", {0.5}, "linear", false, false, false},
      {"linear_0_5_even", "x2d_large", {0.5}, "linear", false, false, true},
      {"linear_1d_3", "x1d", {3}, "linear", false, false, true},
      {"linear_1d_3_align", "x1d", {3}, "linear", true, false, true},
      {"linear_3d_2", "x3d", {2}, "linear", false, false, true},
      {"linear_3d_2_align", "x3d", {2, 1, 3}, "linear", true, false, true},
      {"cubic_2", "x2d", {2}, "cubic", false, false, true},
      {"cubic_2_align", "x2d", {2}, "cubic", true, false, true},
      {"cubic_1_5", "x2d", {1.5, 0.75}, "cubic", false, false, false},
      {"cubic_1d_2", "x1d", {2}, "cubic", false, false, false},
      {"cubic_1d_2_align", "x1d", {2}, "cubic", true, false, false},
      {"linear_aa_0_5", "x2d_large", {0.5}, "linear", false, true, true},
      {"linear_aa_0_4", "x2d_large", {0.4}, "linear", false, true, false},
      {"linear_aa_2", "x2d", {2}, "linear", false, true, true},
      {"cubic_aa_0_5", "x2d_large", {0.5}, "cubic", false, true, true},
      {"cubic_aa_1_5", "x2d", {1.5}, "cubic", false, true, false},
  };
  return cases;
}

std::shared_ptr<Upsample> make_upsample(const UpsampleCase& c) {
  if (c.scale.size() == 1) {
    return std::make_shared<Upsample>(
        c.scale[0], c.mode, c.align_corners, c.antialias);
  }
  return std::make_shared<Upsample>(
      c.scale, c.mode, c.align_corners, c.antialias);
}

mx::array weighted_sum(const mx::array& y) {
  mx::array weights = mx::astype(
      mx::reshape(mx::sin(mx::arange(static_cast<int>(y.size()))), y.shape()),
      y.dtype());
  return mx::sum(mx::multiply(y, weights));
}

} // namespace

TEST_CASE("upsample matches MLX Python and PyTorch") {
  Fixture fixture("upsample");
  for (const UpsampleCase& c : upsample_cases()) {
    mx::array y = (*make_upsample(c))(fixture[c.input]);
    CHECK_MESSAGE(arrays_close(y, fixture[c.name]), c.name);
    if (c.in_torch) {
      // PyTorch rounds differently in the last bits, up to about 3e-6.
      CHECK_MESSAGE(
          arrays_close(y, fixture["torch_" + c.name], 1e-5, 1e-5), c.name);
    }
  }
}

TEST_CASE("upsample nearest is exact and keeps dtype") {
  Fixture fixture("upsample");
  for (const UpsampleCase& c : upsample_cases()) {
    if (c.mode == "nearest") {
      mx::array y = (*make_upsample(c))(fixture[c.input]);
      CHECK_MESSAGE(arrays_equal(y, fixture[c.name]), c.name);
    }
  }
  mx::array x = fixture["x_int"];
  Upsample nearest(2);
  CHECK(arrays_equal(nearest(x), fixture["nearest_int"]));
  CHECK(nearest(x).dtype() == mx::int32);
  // Interpolation weights are float32, so integer inputs give float32.
  Upsample linear(2, "linear");
  CHECK(arrays_close(linear(x), fixture["linear_int"]));
  CHECK(linear(x).dtype() == mx::float32);
}

TEST_CASE("upsample repr") {
  CHECK(Upsample(2).to_string() ==
        "Upsample(scale_factor=2.0, mode='nearest', align_corners=False)");
  CHECK(Upsample({2, 1.5}, "cubic", true).extra_repr() ==
        "scale_factor=(2.0, 1.5), mode='cubic', align_corners=True");
  CHECK(Upsample(std::vector<double>{3}, "linear").extra_repr() ==
        "scale_factor=(3.0,), mode='linear', align_corners=False");
  CHECK(Upsample(0.5, "linear", false, true).extra_repr() ==
        "scale_factor=0.5, mode='linear', align_corners=False, "
        "antialias=True");
  Upsample layer(1.5, "cubic");
  CHECK(layer.scale_factor() == std::vector<double>{1.5});
  CHECK(layer.mode() == "cubic");
  CHECK_FALSE(layer.align_corners());
  CHECK_FALSE(layer.antialias());
  CHECK(layer.parameters().empty());
}

TEST_CASE("upsample errors") {
  CHECK_THROWS_AS(Upsample(2, "bilinear"), std::invalid_argument);
  CHECK_THROWS_AS(Upsample(2, "nearest", false, true), std::invalid_argument);
  CHECK_THROWS_AS(Upsample(2, "linear", true, true), std::invalid_argument);
  CHECK_THROWS_AS(Upsample(0), std::invalid_argument);
  CHECK_THROWS_AS(Upsample(-2), std::invalid_argument);
  CHECK_THROWS_AS(Upsample({2, INFINITY}), std::invalid_argument);
  CHECK_THROWS_AS(Upsample(std::vector<double>{}), std::invalid_argument);

  CHECK_THROWS_AS(Upsample(2)(mx::ones({2, 3})), std::invalid_argument);
  CHECK_THROWS_AS(
      Upsample({2, 2})(mx::ones({1, 3, 3, 3, 1})), std::invalid_argument);
  // int(0.2 * 3) = 0 leaves an empty axis.
  CHECK_THROWS_AS(
      Upsample(0.2, "linear")(mx::ones({1, 3, 1})), std::invalid_argument);
  CHECK_THROWS_WITH_AS(
      Upsample(2, "area"),
      "[Upsample] Unsupported mode 'area'. Expected 'nearest', 'linear' or "
      "'cubic'.",
      std::invalid_argument);
}

TEST_CASE("upsample gradients match finite differences") {
  mx::random::seed(6);
  mx::array x1 = mx::random::normal({1, 4, 2});
  mx::array x2 = mx::random::normal({1, 3, 4, 2});
  std::vector<std::pair<std::shared_ptr<Upsample>, mx::array>> cases = {
      {std::make_shared<Upsample>(2), x2},
      {std::make_shared<Upsample>(1.5), x2},
      {std::make_shared<Upsample>(2, "linear"), x2},
      {std::make_shared<Upsample>(
           std::vector<double>{1.5, 2.5}, "linear", true),
       x2},
      {std::make_shared<Upsample>(2, "cubic"), x2},
      {std::make_shared<Upsample>(1.5, "cubic", true), x1},
      {std::make_shared<Upsample>(0.5, "linear", false, true), x2},
      {std::make_shared<Upsample>(0.75, "cubic", false, true), x1},
  };
  for (auto& [layer, x] : cases) {
    auto f = [&layer](const mx::array& input) {
      return weighted_sum((*layer)(input));
    };
    CHECK_MESSAGE(gradient_matches(f, x), layer->to_string());
  }
}
