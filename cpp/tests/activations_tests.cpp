#include <doctest/doctest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "rmlx/nn/activations.h"
#include "test_utils.h"

using namespace rmlx::nn;
using rmlx::test::arrays_close;
using rmlx::test::arrays_equal;
using rmlx::test::Fixture;
using rmlx::test::gradient_matches;

namespace {

using Activation = std::function<mx::array(const mx::array&)>;

struct ActivationCase {
  std::string name;
  Activation function;
  ModulePtr layer;
  bool has_torch;
};

std::vector<ActivationCase> activation_cases() {
  return {
      {"relu",
       [](const mx::array& x) { return relu(x); },
       std::make_shared<ReLU>(),
       true},
      {"leaky_relu",
       [](const mx::array& x) { return leaky_relu(x); },
       std::make_shared<LeakyReLU>(),
       true},
      {"leaky_relu_0.2",
       [](const mx::array& x) { return leaky_relu(x, 0.2); },
       std::make_shared<LeakyReLU>(0.2),
       true},
      {"sigmoid",
       [](const mx::array& x) { return rmlx::nn::sigmoid(x); },
       std::make_shared<Sigmoid>(),
       true},
      {"tanh",
       [](const mx::array& x) { return mx::tanh(x); },
       std::make_shared<Tanh>(),
       true},
      {"silu",
       [](const mx::array& x) { return silu(x); },
       std::make_shared<SiLU>(),
       true},
      {"gelu",
       [](const mx::array& x) { return gelu(x); },
       std::make_shared<GELU>(),
       true},
      {"gelu_approx",
       [](const mx::array& x) { return gelu_approx(x); },
       std::make_shared<GELU>("precise"),
       true},
      {"gelu_fast_approx",
       [](const mx::array& x) { return gelu_fast_approx(x); },
       std::make_shared<GELU>("fast"),
       false},
  };
}

} // namespace

TEST_CASE("activations match MLX Python") {
  Fixture fixture("activations");
  for (const auto& c : activation_cases()) {
    CAPTURE(c.name);
    CHECK(arrays_close(c.function(fixture["x"]), fixture[c.name]));
    CHECK(arrays_close((*c.layer)(fixture["x"]), fixture[c.name]));
  }
}

TEST_CASE("activations on infinities and NaN match MLX Python") {
  Fixture fixture("activations");
  for (const auto& c : activation_cases()) {
    CAPTURE(c.name);
    mx::array y = c.function(fixture["x_special"]);
    CHECK(arrays_close(y, fixture[c.name + "_special"]));
  }
}

TEST_CASE("activations match PyTorch") {
  Fixture fixture("activations");
  for (const auto& c : activation_cases()) {
    if (!c.has_torch) {
      continue;
    }
    CAPTURE(c.name);
    CHECK(arrays_close(
        c.function(fixture["x"]), fixture["torch_" + c.name], 1e-5, 1e-6));
  }
}

TEST_CASE("activation gradients match finite differences") {
  // Points away from the kinks of relu and leaky_relu at 0.
  mx::array x = mx::array({-4.0, -1.5, -0.3, 0.2, 0.7, 2.5, 5.0});
  for (const auto& c : activation_cases()) {
    CAPTURE(c.name);
    auto f = [&](const mx::array& input) { return mx::sum(c.function(input)); };
    CHECK(gradient_matches(f, x));
  }

  mx::array logits = mx::array({1.0, -2.0, 0.5, 3.0, 0.0, 1.5}, {2, 3});
  mx::array weights = mx::array({0.3, -1.0, 2.0, 0.7, 1.1, -0.4}, {2, 3});
  for (int axis : {0, 1}) {
    CAPTURE(axis);
    auto f = [&](const mx::array& input) {
      mx::array w = mx::astype(weights, input.dtype());
      return mx::sum(mx::multiply(rmlx::nn::softmax(input, axis), w));
    };
    CHECK(gradient_matches(f, logits));
  }
}

TEST_CASE("activations keep half-precision dtypes") {
  mx::array x = mx::array({-2.0f, 0.0f, 3.0f}, mx::float16);
  for (const auto& c : activation_cases()) {
    CAPTURE(c.name);
    CHECK(c.function(x).dtype() == mx::float16);
  }
  CHECK(rmlx::nn::softmax(x).dtype() == mx::float16);
}

TEST_CASE("softmax matches MLX Python and PyTorch") {
  Fixture fixture("activations");
  const mx::array& x = fixture["softmax_x"];
  CHECK(arrays_close(rmlx::nn::softmax(x), fixture["softmax"]));
  CHECK(arrays_close(rmlx::nn::softmax(x, 0), fixture["softmax_axis0"]));
  CHECK(arrays_close(
      rmlx::nn::softmax(x, -1), fixture["torch_softmax"], 1e-5, 1e-7));
  CHECK(arrays_close((*std::make_shared<Softmax>())(x), fixture["softmax"]));
}

TEST_CASE("activation layers have MLX Python names") {
  CHECK(ReLU().to_string() == "ReLU()");
  CHECK(LeakyReLU(0.2).to_string() == "LeakyReLU()");
  CHECK(LeakyReLU(0.2).negative_slope() == 0.2);
  CHECK(Sigmoid().to_string() == "Sigmoid()");
  CHECK(Tanh().to_string() == "Tanh()");
  CHECK(SiLU().to_string() == "SiLU()");
  CHECK(GELU().to_string() == "GELU()");
  CHECK(Softmax().to_string() == "Softmax()");
  CHECK(ReLU().parameters().empty());
}

TEST_CASE("gelu approximation names") {
  Fixture fixture("activations");
  const mx::array& x = fixture["x"];
  CHECK(arrays_equal(GELU("none")(x), gelu(x)));
  CHECK(arrays_equal(GELU("precise")(x), gelu_approx(x)));
  CHECK(arrays_equal(GELU("tanh")(x), gelu_approx(x)));
  CHECK(arrays_equal(GELU("fast")(x), gelu_fast_approx(x)));
  CHECK(GELU("tanh").approx() == "tanh");
  CHECK_THROWS_AS(GELU("erf"), std::invalid_argument);
  CHECK_THROWS_AS(GELU(""), std::invalid_argument);
}

TEST_CASE("activations accept a stream") {
  mx::array x = mx::array({-1.0f, 0.5f});
  mx::StreamOrDevice cpu = mx::Device::cpu;
  CHECK(arrays_equal(relu(x, cpu), relu(x)));
  CHECK(arrays_equal(gelu(x, cpu), gelu(x)));
  CHECK(arrays_equal(rmlx::nn::softmax(x, -1, cpu), rmlx::nn::softmax(x)));
}
