// Tests of Bilinear against tools/fixtures/make_norm_bilinear_fixtures.py.
#include <doctest/doctest.h>

#include "rmlx/nn/linear.h"
#include "rmlx/random.h"
#include "test_utils.h"

using namespace rmlx::nn;
using rmlx::test::arrays_close;
using rmlx::test::arrays_equal;
using rmlx::test::Fixture;
using rmlx::test::gradient_matches;

TEST_CASE("bilinear matches MLX Python and PyTorch") {
  Fixture fixture("bilinear");
  mx::random::seed(5);
  Bilinear layer(2, 3, 4);
  mx::random::seed(5);
  Bilinear no_bias(2, 3, 4, false);
  CHECK(arrays_equal(layer.param("weight"), fixture["weight"]));
  CHECK(arrays_equal(layer.param("bias"), fixture["bias"]));
  CHECK(arrays_equal(no_bias.param("weight"), fixture["no_bias_weight"]));
  CHECK_FALSE(no_bias.has("bias"));

  mx::array y = layer.forward(fixture["x1"], fixture["x2"]);
  CHECK(arrays_close(y, fixture["y"]));
  CHECK(arrays_close(y, fixture["torch_y"], 1e-5, 1e-5));
  auto outputs = layer.forward(Inputs{fixture["x1"], fixture["x2"]});
  REQUIRE(outputs.size() == 1);
  CHECK(arrays_close(outputs[0], fixture["y"]));
  CHECK(arrays_close(
      no_bias.forward(fixture["x1"], fixture["x2"]), fixture["y_no_bias"]));
}

TEST_CASE("bilinear repr and input names") {
  Bilinear layer(2, 3, 4);
  CHECK(layer.to_string() ==
        "Bilinear(input1_dims=2, input2_dims=3, output_dims=4, bias=True)");
  CHECK(layer.input_names() == std::vector<std::string>{"x1", "x2"});
  CHECK(layer.param("weight").shape() == mx::Shape{4, 3, 2});
}

TEST_CASE("bilinear rejects invalid sizes and inputs") {
  CHECK_THROWS_AS(Bilinear(0, 3, 4), std::invalid_argument);
  CHECK_THROWS_AS(Bilinear(2, 3, 0), std::invalid_argument);
  Bilinear layer(2, 3, 4);
  CHECK_THROWS_AS(
      layer.forward(mx::zeros({5, 3}), mx::zeros({5, 3})),
      std::invalid_argument);
  CHECK_THROWS_AS(
      layer.forward(mx::zeros({5, 2}), mx::zeros({4, 3})),
      std::invalid_argument);
  CHECK_THROWS_AS(
      layer.forward(mx::zeros({5, 2}), mx::zeros({1, 5, 3})),
      std::invalid_argument);
  CHECK_THROWS_AS(
      layer.forward(Inputs{mx::zeros({5, 2})}), std::invalid_argument);
}

TEST_CASE("bilinear gradients match finite differences") {
  Bilinear layer(2, 3, 4);
  layer.set_dtype(mx::float64);
  mx::array x1 = mx::array({0.3, -1.2, 0.8, 2.0, -0.5, 0.1}, {3, 2});
  mx::array x2 = mx::array(
      {1.0, -0.4, 0.6, -2.0, 0.9, 0.2, 0.0, 1.5, -0.7}, {3, 3});
  mx::array weights = mx::reshape(mx::sin(mx::arange(12.0)), {3, 4});
  auto wrt_x1 = [&](const mx::array& input) {
    return mx::sum(mx::multiply(layer.forward(input, x2), weights));
  };
  auto wrt_x2 = [&](const mx::array& input) {
    return mx::sum(mx::multiply(layer.forward(x1, input), weights));
  };
  CHECK(gradient_matches(wrt_x1, x1));
  CHECK(gradient_matches(wrt_x2, x2));
}
