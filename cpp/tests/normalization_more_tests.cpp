// Tests of GroupNorm, InstanceNorm and RMSNorm against
// tools/fixtures/make_norm_fixtures.py.
#include <doctest/doctest.h>

#include <string>

#include "rmlx/nn/normalization.h"
#include "test_utils.h"

using namespace rmlx::nn;
using rmlx::test::arrays_close;
using rmlx::test::arrays_equal;
using rmlx::test::Fixture;
using rmlx::test::gradient_matches;

namespace {

void set_affine(Module& layer, const Fixture& fixture) {
  layer.update({{"weight", fixture["weight"]}, {"bias", fixture["bias"]}});
}

} // namespace

TEST_CASE("group norm matches MLX Python") {
  Fixture fixture("normalization_more");
  const mx::array& x = fixture["x"];
  for (bool compatible : {false, true}) {
    CAPTURE(compatible);
    std::string suffix = compatible ? "_pt" : "";
    GroupNorm layer(2, 4, 1e-5, true, compatible);
    set_affine(layer, fixture);
    CHECK(arrays_close(layer(x), fixture["gn" + suffix]));
    GroupNorm plain(2, 4, 1e-5, false, compatible);
    CHECK(arrays_close(plain(x), fixture["gn_no_affine" + suffix]));
    GroupNorm eps(2, 4, 0.5, true, compatible);
    CHECK(arrays_close(eps(x), fixture["gn_eps" + suffix]));
    GroupNorm one_group(1, 4, 1e-5, true, compatible);
    CHECK(arrays_close(one_group(x), fixture["gn_one_group" + suffix]));
  }
}

TEST_CASE("group norm pytorch_compatible matches PyTorch") {
  Fixture fixture("normalization_more");
  GroupNorm layer(2, 4, 1e-5, true, true);
  set_affine(layer, fixture);
  CHECK(arrays_close(layer(fixture["x"]), fixture["torch_gn_pt"], 1e-5, 1e-5));
}

TEST_CASE("group norm float16 statistics do not overflow") {
  // MLX Python 0.32.4 returns zeros here, as its float16 variance is inf.
  Fixture fixture("normalization_more");
  GroupNorm layer(2, 4, 1e-5, false);
  mx::array y = layer(fixture["gn_x_big"]);
  CHECK(y.dtype() == mx::float16);
  CHECK(arrays_close(y, fixture["gn_big_f16"], 1e-2, 1e-2));
  CHECK(mx::any(mx::not_equal(fixture["gn_big_f16_mlx_python"],
                              fixture["gn_big_f16"]))
            .item<bool>());
}

TEST_CASE("instance norm matches MLX Python and PyTorch") {
  Fixture fixture("normalization_more");
  const mx::array& x = fixture["x"];
  CHECK(arrays_close(InstanceNorm(4)(x), fixture["in"]));
  CHECK(arrays_close(InstanceNorm(4, 0.5)(x), fixture["in_eps"]));
  InstanceNorm affine(4, 1e-5, true);
  set_affine(affine, fixture);
  CHECK(arrays_close(affine(x), fixture["in_affine"]));
  CHECK(arrays_close(affine(x), fixture["torch_in_affine"], 1e-5, 1e-5));
}

TEST_CASE("rms norm matches MLX Python and PyTorch") {
  Fixture fixture("normalization_more");
  const mx::array& x = fixture["x"];
  RMSNorm layer(4);
  layer.update({{"weight", fixture["weight"]}});
  CHECK(arrays_close(layer(x), fixture["rms"]));
  CHECK(arrays_close(layer(x), fixture["torch_rms"], 1e-5, 1e-5));
  CHECK(arrays_close(RMSNorm(4, 0.5)(x), fixture["rms_eps"]));
}

TEST_CASE("new norms have MLX Python parameters and reprs") {
  GroupNorm group(2, 4);
  CHECK(group.to_string() ==
        "GroupNorm(2, 4, eps=1e-05, affine=True, pytorch_compatible=False)");
  CHECK(group.parameters().size() == 2);
  CHECK(GroupNorm(2, 4, 1e-5, false).parameters().empty());
  CHECK(InstanceNorm(4).to_string() ==
        "InstanceNorm(4, eps=1e-05, affine=False)");
  CHECK(InstanceNorm(4).parameters().empty());
  CHECK(InstanceNorm(4, 1e-5, true).parameters().size() == 2);
  RMSNorm rms(4, 0.5);
  CHECK(rms.to_string() == "RMSNorm(4, eps=0.5)");
  REQUIRE(rms.parameters().size() == 1);
  CHECK(arrays_equal(rms.parameters()[0].second, mx::ones({4})));
}

TEST_CASE("new norms reject invalid options and inputs") {
  CHECK_THROWS_AS(GroupNorm(3, 4), std::invalid_argument);
  CHECK_THROWS_AS(GroupNorm(0, 4), std::invalid_argument);
  CHECK_THROWS_AS(GroupNorm(2, 4, 0.0), std::invalid_argument);
  CHECK_THROWS_AS(InstanceNorm(4, -1.0), std::invalid_argument);
  CHECK_THROWS_AS(InstanceNorm(0), std::invalid_argument);
  CHECK_THROWS_AS(RMSNorm(4, 0.0), std::invalid_argument);
  CHECK_THROWS_AS(RMSNorm(0), std::invalid_argument);

  GroupNorm group(2, 4);
  CHECK_THROWS_AS(group(mx::zeros({4})), std::invalid_argument);
  CHECK_THROWS_AS(group(mx::zeros({2, 3, 6})), std::invalid_argument);
  InstanceNorm instance(4);
  CHECK_THROWS_AS(instance(mx::zeros({2, 4})), std::invalid_argument);
  CHECK_THROWS_AS(RMSNorm(4)(mx::zeros({2, 3})), std::invalid_argument);
}

TEST_CASE("new norm gradients match finite differences") {
  mx::array x = mx::reshape(
      mx::sin(mx::multiply(mx::arange(24.0), mx::array(1.7))), {2, 3, 4});
  mx::array weights = mx::cos(mx::arange(24.0));
  weights = mx::reshape(weights, {2, 3, 4});
  auto check = [&](Module& layer) {
    auto f = [&](const mx::array& input) {
      return mx::sum(mx::multiply(layer(input), weights));
    };
    return gradient_matches(f, x);
  };
  GroupNorm group(2, 4, 1e-5, false);
  GroupNorm group_pt(2, 4, 1e-5, false, true);
  InstanceNorm instance(4);
  RMSNorm rms(4);
  rms.set_dtype(mx::float64);
  CHECK(check(group));
  CHECK(check(group_pt));
  CHECK(check(instance));
  CHECK(check(rms));
}
