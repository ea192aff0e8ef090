// Tests of the activations beyond relu, sigmoid, tanh, silu and gelu,
// against tools/fixtures/make_activation_fixtures.py.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <limits>
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
};

std::vector<ActivationCase> activation_cases() {
  return {
      {"relu2", [](const mx::array& x) { return relu2(x); },
       std::make_shared<ReLU2>()},
      {"relu6", [](const mx::array& x) { return relu6(x); },
       std::make_shared<ReLU6>()},
      {"elu", [](const mx::array& x) { return elu(x); },
       std::make_shared<ELU>()},
      {"elu_0.5", [](const mx::array& x) { return elu(x, 0.5); },
       std::make_shared<ELU>(0.5)},
      {"celu", [](const mx::array& x) { return celu(x); },
       std::make_shared<CELU>()},
      {"celu_2", [](const mx::array& x) { return celu(x, 2.0); },
       std::make_shared<CELU>(2.0)},
      {"log_sigmoid", [](const mx::array& x) { return log_sigmoid(x); },
       std::make_shared<LogSigmoid>()},
      {"mish", [](const mx::array& x) { return mish(x); },
       std::make_shared<Mish>()},
      {"softplus", [](const mx::array& x) { return softplus(x); },
       std::make_shared<Softplus>()},
      {"softsign", [](const mx::array& x) { return softsign(x); },
       std::make_shared<Softsign>()},
      {"softshrink", [](const mx::array& x) { return softshrink(x); },
       std::make_shared<Softshrink>()},
      {"softshrink_2", [](const mx::array& x) { return softshrink(x, 2.0); },
       std::make_shared<Softshrink>(2.0)},
      {"hard_shrink", [](const mx::array& x) { return hard_shrink(x); },
       std::make_shared<HardShrink>()},
      {"hard_shrink_2",
       [](const mx::array& x) { return hard_shrink(x, 2.0); },
       std::make_shared<HardShrink>(2.0)},
      {"hard_tanh", [](const mx::array& x) { return hard_tanh(x); },
       std::make_shared<HardTanh>()},
      {"hard_tanh_-2_3",
       [](const mx::array& x) { return hard_tanh(x, -2.0, 3.0); },
       std::make_shared<HardTanh>(-2.0, 3.0)},
      {"hardswish", [](const mx::array& x) { return hardswish(x); },
       std::make_shared<Hardswish>()},
      {"step", [](const mx::array& x) { return step(x); },
       std::make_shared<Step>()},
      {"step_1.5", [](const mx::array& x) { return step(x, 1.5); },
       std::make_shared<Step>(1.5)},
  };
}

} // namespace

TEST_CASE("more activations match MLX Python") {
  Fixture fixture("activations_more");
  const mx::array& x = fixture["x"];
  for (const auto& c : activation_cases()) {
    CAPTURE(c.name);
    CHECK(arrays_close(c.function(x), fixture[c.name]));
    CHECK(arrays_close((*c.layer)(x), fixture[c.name]));
    CHECK(c.function(x).dtype() == fixture[c.name].dtype());
  }
}

TEST_CASE("more activations match PyTorch") {
  Fixture fixture("activations_more");
  const mx::array& x = fixture["x"];
  for (const auto& c : activation_cases()) {
    CAPTURE(c.name);
    CHECK(arrays_close(c.function(x), fixture["torch_" + c.name], 1e-6, 1e-6));
  }
}

TEST_CASE("more activations on infinities and NaN") {
  // The shrink functions' references propagate NaN, as PyTorch does.
  Fixture fixture("activations_more");
  for (const auto& c : activation_cases()) {
    CAPTURE(c.name);
    mx::array y = c.function(fixture["x_special"]);
    CHECK(arrays_close(y, fixture[c.name + "_special"]));
  }
}

TEST_CASE("selu uses the exact constants") {
  Fixture fixture("activations_more");
  const mx::array& x = fixture["x"];
  CHECK(arrays_close(selu(x), fixture["selu_exact"], 1e-6, 1e-7));
  CHECK(arrays_close(SELU()(x), fixture["selu_exact"], 1e-6, 1e-7));
  CHECK(arrays_close(selu(x), fixture["selu_mlx_python"], 1e-5, 1e-6));
  CHECK(arrays_close(
      selu(fixture["x_special"]), fixture["selu_special"]));
}

TEST_CASE("log-space activations stay finite for large inputs") {
  mx::array x = mx::array({-1e4f, -100.0f, 100.0f, 1e4f});
  mx::array softplus_expected = mx::array({0.0f, 0.0f, 100.0f, 1e4f});
  mx::array log_sigmoid_expected = mx::array({-1e4f, -100.0f, 0.0f, 0.0f});
  CHECK(arrays_close(softplus(x), softplus_expected, 1e-7, 1e-30));
  CHECK(arrays_close(log_sigmoid(x), log_sigmoid_expected, 1e-7, 1e-30));

  // log_softmax keeps the exact gaps between large logits.
  mx::array logits = mx::array({1e4f, 1e4f - 1.0f, -1e4f});
  mx::array y = log_softmax(logits);
  CHECK(std::isfinite(mx::sum(y).item<float>()));
  CHECK(arrays_close(
      y, mx::array({-0.3132617f, -1.3132617f, -20000.3132617f}), 1e-6, 1e-6));
}

TEST_CASE("log_softmax and softmin match MLX Python and PyTorch") {
  Fixture fixture("activations_more");
  const mx::array& logits = fixture["logits"];
  CHECK(arrays_close(log_softmax(logits), fixture["log_softmax"]));
  CHECK(arrays_close(log_softmax(logits, 0), fixture["log_softmax_axis0"]));
  CHECK(arrays_close(LogSoftmax()(logits), fixture["log_softmax"]));
  CHECK(arrays_close(
      log_softmax(logits), fixture["torch_log_softmax"], 1e-6, 1e-6));
  CHECK(arrays_close(softmin(logits), fixture["softmin"]));
  CHECK(arrays_close(softmin(logits, 0), fixture["softmin_axis0"]));
  CHECK(arrays_close(Softmin()(logits), fixture["softmin"]));
  CHECK(arrays_close(softmin(logits), fixture["torch_softmin"], 1e-6, 1e-7));
}

TEST_CASE("glu splits along its axis") {
  Fixture fixture("activations_more");
  const mx::array& x = fixture["glu_x"];
  CHECK(arrays_close(glu(x), fixture["glu"]));
  CHECK(arrays_close(glu(x, 0), fixture["glu_axis0"]));
  CHECK(arrays_close(GLU()(x), fixture["glu"]));
  CHECK(arrays_close(GLU(0)(x), fixture["glu_axis0"]));
  CHECK(arrays_close(glu(x, -3), fixture["torch_glu_axis0"], 1e-6, 1e-7));
  CHECK(GLU(0).axis() == 0);
}

TEST_CASE("prelu matches MLX Python and PyTorch") {
  Fixture fixture("activations_more");
  const mx::array& x = fixture["prelu_x"];
  const mx::array& alpha = fixture["prelu_alpha"];
  CHECK(arrays_close(prelu(x, alpha), fixture["prelu"]));
  CHECK(arrays_close(prelu(x, alpha), fixture["torch_prelu"], 1e-6, 1e-6));
  CHECK(arrays_close(PReLU()(x), fixture["prelu_scalar"]));

  PReLU per_channel(3, 0.1);
  per_channel.update({{"weight", alpha}});
  CHECK(arrays_close(per_channel(x), fixture["prelu"]));
}

TEST_CASE("prelu layer has a learnable slope") {
  PReLU layer(4, 0.5);
  auto params = layer.parameters();
  REQUIRE(params.size() == 1);
  CHECK(params[0].first == "weight");
  CHECK(arrays_equal(params[0].second, mx::full({4}, 0.5f)));
  CHECK(layer.to_string() == "PReLU()");
  CHECK_THROWS_AS(PReLU(0), std::invalid_argument);
  CHECK_THROWS_AS(layer(mx::zeros({2, 3})), std::invalid_argument);
  CHECK_NOTHROW(PReLU()(mx::zeros({2, 3})));
}

TEST_CASE("more activation gradients match finite differences") {
  // Points away from the kinks at 0, at +/-3 (hardswish), at +/-0.5 and 2
  // (the shrink functions and hard_tanh) and at 6 (relu6).
  mx::array x = mx::array({-4.0, -1.5, -0.3, 0.2, 0.7, 1.2, 2.5, 5.0});
  for (const auto& c : activation_cases()) {
    CAPTURE(c.name);
    auto f = [&](const mx::array& input) {
      return mx::sum(mx::astype(c.function(input), mx::float64));
    };
    CHECK(gradient_matches(f, x));
  }
  auto selu_sum = [](const mx::array& input) { return mx::sum(selu(input)); };
  CHECK(gradient_matches(selu_sum, x));

  mx::array logits = mx::array({1.0, -2.0, 0.5, 3.0, 0.0, 1.5}, {2, 3});
  mx::array weights = mx::array({0.3, -1.0, 2.0, 0.7, 1.1, -0.4}, {2, 3});
  for (int axis : {0, 1}) {
    CAPTURE(axis);
    auto weighted = [&](const Activation& f) {
      return [&, f](const mx::array& input) {
        return mx::sum(mx::multiply(f(input), weights));
      };
    };
    CHECK(gradient_matches(weighted([axis](const mx::array& v) {
      return log_softmax(v, axis);
    }), logits));
    CHECK(gradient_matches(weighted([axis](const mx::array& v) {
      return softmin(v, axis);
    }), logits));
  }

  mx::array glu_x =
      mx::array({0.3, -1.0, 2.0, 0.7, 1.1, -0.4, 0.2, 0.9}, {2, 4});
  auto glu_sum = [](const mx::array& input) {
    return mx::sum(mx::square(glu(input)));
  };
  CHECK(gradient_matches(glu_sum, glu_x));

  mx::array alpha = mx::array({0.25, -0.5, 2.0});
  mx::array prelu_x = mx::array({-1.0, 0.5, -2.0, 3.0, -0.7, 0.4}, {2, 3});
  auto prelu_alpha = [&](const mx::array& a) {
    return mx::sum(mx::square(prelu(prelu_x, a)));
  };
  CHECK(gradient_matches(prelu_alpha, alpha));
}

TEST_CASE("elu gradient is finite for large inputs") {
  // MLX Python 0.32.4 returns NaN here, because exp(100) overflows in the
  // branch that where() discards.
  mx::array x = mx::array({-1e4f, 89.0f, 100.0f, 1e4f});
  auto elu_sum = [](const mx::array& v) { return mx::sum(elu(v)); };
  auto selu_sum = [](const mx::array& v) { return mx::sum(selu(v)); };
  mx::array elu_grad = mx::grad(elu_sum)(x);
  CHECK(arrays_close(elu_grad, mx::array({0.0f, 1.0f, 1.0f, 1.0f})));
  mx::array selu_grad = mx::grad(selu_sum)(x);
  CHECK(mx::all(mx::isfinite(selu_grad)).item<bool>());
}

TEST_CASE("elu and celu keep precision near zero") {
  // expm1 gives -1e-7 where exp(x) - 1 in float32 gives -1.19e-7.
  mx::array x = mx::array({-1e-7f});
  CHECK(arrays_close(elu(x), x, 1e-6, 0.0));
  CHECK(arrays_close(celu(x), x, 1e-6, 0.0));
}

TEST_CASE("activation options are checked") {
  mx::array x = mx::zeros({2, 3});
  CHECK_THROWS_AS(celu(x, 0.0), std::invalid_argument);
  CHECK_THROWS_AS(CELU(0.0), std::invalid_argument);
  CHECK_THROWS_AS(softshrink(x, -0.1), std::invalid_argument);
  CHECK_THROWS_AS(Softshrink(-0.1), std::invalid_argument);
  CHECK_THROWS_AS(hard_tanh(x, 1.0, -1.0), std::invalid_argument);
  CHECK_THROWS_AS(HardTanh(1.0, -1.0), std::invalid_argument);
  CHECK_THROWS_AS(log_softmax(x, 2), std::invalid_argument);
  CHECK_THROWS_AS(log_softmax(x, -3), std::invalid_argument);
  CHECK_THROWS_AS(softmin(x, 2), std::invalid_argument);
  CHECK_THROWS_AS(glu(x, 2), std::invalid_argument);
  CHECK_THROWS_AS(glu(x, -1), std::invalid_argument);
  CHECK_THROWS_AS(GLU(5)(x), std::invalid_argument);
  CHECK_NOTHROW(glu(x, 0));
  CHECK_NOTHROW(hard_shrink(x, -1.0));
}

TEST_CASE("axis error names the function and axis") {
  mx::array x = mx::zeros({2, 3});
  try {
    log_softmax(x, 2);
    FAIL("log_softmax accepted axis 2");
  } catch (const std::invalid_argument& e) {
    CHECK(std::string(e.what()) ==
          "[log_softmax] Expected axis in [-2, 2) for an input of shape "
          "(2, 3) but received axis=2.");
  }
}

TEST_CASE("more activations keep half-precision dtypes") {
  mx::array x = mx::array({-2.0f, 0.0f, 3.0f}, mx::float16);
  for (const auto& c : activation_cases()) {
    CAPTURE(c.name);
    mx::Dtype expected = c.name.rfind("step", 0) == 0 ? mx::int32 : mx::float16;
    CHECK(c.function(x).dtype() == expected);
  }
  CHECK(selu(x).dtype() == mx::float16);
  CHECK(log_softmax(x).dtype() == mx::float16);
  CHECK(softmin(x).dtype() == mx::float16);
}

TEST_CASE("more activation layers have MLX Python names") {
  CHECK(ReLU2().to_string() == "ReLU2()");
  CHECK(ReLU6().to_string() == "ReLU6()");
  CHECK(ELU().to_string() == "ELU()");
  CHECK(CELU().to_string() == "CELU()");
  CHECK(SELU().to_string() == "SELU()");
  CHECK(LogSigmoid().to_string() == "LogSigmoid()");
  CHECK(Softmin().to_string() == "Softmin()");
  CHECK(LogSoftmax().to_string() == "LogSoftmax()");
  CHECK(Mish().to_string() == "Mish()");
  CHECK(GLU().to_string() == "GLU()");
  CHECK(Softplus().to_string() == "Softplus()");
  CHECK(Softsign().to_string() == "Softsign()");
  CHECK(Softshrink().to_string() == "Softshrink()");
  CHECK(HardShrink().to_string() == "HardShrink()");
  CHECK(HardTanh().to_string() == "HardTanh()");
  CHECK(Hardswish().to_string() == "Hardswish()");
  CHECK(Step().to_string() == "Step()");
  CHECK(ELU(0.5).alpha() == 0.5);
  CHECK(HardTanh(-2.0, 3.0).max_val() == 3.0);
  CHECK(Step(1.5).threshold() == 1.5);
}

TEST_CASE("softmax and softmin promote integers on any axis") {
  mx::array counts = mx::array({1, 3, 5, 2, 4, 6}, {2, 3});
  mx::array as_float = mx::astype(counts, mx::float32);
  for (int axis : {0, 1}) {
    mx::array probabilities = rmlx::nn::softmax(counts, axis);
    CHECK(probabilities.dtype() == mx::float32);
    CHECK(arrays_close(probabilities, rmlx::nn::softmax(as_float, axis)));
    CHECK(arrays_close(softmin(counts, axis), softmin(as_float, axis)));
  }
}
