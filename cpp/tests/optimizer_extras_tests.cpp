// Schedules, initializers, gradient clipping, checkpointing and the state of
// the optimizers beyond SGD, Adam and AdamW.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "rmlx/nn/activations.h"
#include "rmlx/nn/checkpoint.h"
#include "rmlx/nn/containers.h"
#include "rmlx/nn/dropout.h"
#include "rmlx/nn/init.h"
#include "rmlx/nn/linear.h"
#include "rmlx/nn/training.h"
#include "rmlx/optimizers/adaptive.h"
#include "rmlx/optimizers/clip.h"
#include "rmlx/optimizers/muon.h"
#include "rmlx/optimizers/multi_optimizer.h"
#include "rmlx/optimizers/schedulers.h"
#include "rmlx/random.h"
#include "test_utils.h"

using namespace rmlx::optimizers;
using rmlx::nn::NamedArrays;
namespace init = rmlx::nn::init;

namespace {

const rmlx::test::Fixture& schedule_fixture() {
  static const rmlx::test::Fixture loaded("schedules");
  return loaded;
}

const rmlx::test::Fixture& init_fixture() {
  static const rmlx::test::Fixture loaded("init");
  return loaded;
}

const rmlx::test::Fixture& optimizer_fixture() {
  static const rmlx::test::Fixture loaded("optimizers");
  return loaded;
}

bool close(const mx::array& a, const mx::array& b, double atol = 1e-6) {
  return a.shape() == b.shape() &&
      mx::allclose(a, b, /* rtol */ 1e-5, atol).item<bool>();
}

bool arrays_equal(const mx::array& a, const mx::array& b) {
  return mx::array_equal(a, b).item<bool>();
}

const mx::array& find(const NamedArrays& arrays, const std::string& name) {
  for (const auto& [key, value] : arrays) {
    if (key == name) {
      return value;
    }
  }
  throw std::out_of_range("no array named \"" + name + "\"");
}

NamedArrays fixture_gradients(int step) {
  auto prefix = "inputs/gradient/" + std::to_string(step) + "/";
  return {
      {"weight", optimizer_fixture()[prefix + "weight"]},
      {"bias", optimizer_fixture()[prefix + "bias"]}};
}

NamedArrays fixture_parameters() {
  return {
      {"weight", optimizer_fixture()["inputs/parameter/weight"]},
      {"bias", optimizer_fixture()["inputs/parameter/bias"]}};
}

std::shared_ptr<Optimizer> make_multi() {
  std::vector<std::shared_ptr<Optimizer>> parts = {
      std::make_shared<Lion>(0.01),
      std::make_shared<Adafactor>(),
      std::make_shared<Muon>(0.05)};
  std::vector<ParameterFilter> filters = {
      [](const std::string& name, const mx::array&) { return name == "bias"; },
      [](const std::string&, const mx::array& g) { return g.ndim() == 3; }};
  return std::make_shared<MultiOptimizer>(parts, filters);
}

} // namespace

TEST_CASE("schedules match MLX Python") {
  const auto& steps = schedule_fixture()["steps"];
  auto linear = linear_schedule(0.0, 0.1, 5);
  auto cosine = cosine_decay(0.1, 10, 0.01);
  std::vector<std::pair<std::string, Schedule>> cases = {
      {"exponential_decay(init=0.1,decay_rate=0.9)", exponential_decay(0.1, 0.9)},
      {"step_decay(init=0.1,decay_rate=0.5,step_size=3)", step_decay(0.1, 0.5, 3)},
      {"cosine_decay(init=0.1,decay_steps=10,end=0.0)", cosine_decay(0.1, 10)},
      {"cosine_decay(init=0.1,decay_steps=10,end=0.01)", cosine},
      {"linear_schedule(init=0.0,end=0.1,steps=5)", linear},
      {"linear_schedule(init=0.1,end=0.0,steps=20)", linear_schedule(0.1, 0.0, 20)},
      {"join_schedules(schedules=[linear_schedule(init=0.0,end=0.1,steps=5),"
       "cosine_decay(init=0.1,decay_steps=10,end=0.01)],boundaries=[5])",
       join_schedules({linear, cosine}, {5})},
      {"join_schedules(schedules=[linear_schedule(init=0.0,end=0.1,steps=5),"
       "exponential_decay(init=0.1,decay_rate=0.8),"
       "cosine_decay(init=0.1,decay_steps=10,end=0.01)],boundaries=[5,12])",
       join_schedules({linear, exponential_decay(0.1, 0.8), cosine}, {5, 12})},
  };
  auto names = schedule_fixture().metadata().at("cases");
  for (const auto& [name, schedule] : cases) {
    CAPTURE(name);
    CHECK(names.find(name) != std::string::npos);
    const auto& expected = schedule_fixture()[name + "/values"];
    // All steps at once, then one step at a time as an optimizer calls it.
    auto values = schedule(steps);
    CHECK(values.dtype() == mx::float32);
    CHECK(close(values, expected, 1e-7));
    for (int step : {0, 4, 5, 11, 12, 30}) {
      CAPTURE(step);
      auto one = schedule(mx::array(static_cast<uint64_t>(step), mx::uint64));
      CHECK(close(one, mx::take(expected, step), 1e-7));
    }
  }
}

TEST_CASE("schedule argument errors") {
  CHECK_THROWS_AS(step_decay(0.1, 0.5, 0), std::invalid_argument);
  CHECK_THROWS_AS(cosine_decay(0.1, 0), std::invalid_argument);
  CHECK_THROWS_AS(linear_schedule(0.0, 0.1, 0), std::invalid_argument);
  CHECK_THROWS_AS(join_schedules({}, {}), std::invalid_argument);
  auto linear = linear_schedule(0.0, 0.1, 5);
  CHECK_THROWS_AS(join_schedules({linear, linear}, {}), std::invalid_argument);
  CHECK_THROWS_AS(
      join_schedules({linear, linear, linear}, {5, 3}), std::invalid_argument);
  CHECK_THROWS_AS(join_schedules({linear, linear}, {-1}), std::invalid_argument);
  CHECK_THROWS_AS(join_schedules({linear, Schedule{}}, {2}), std::invalid_argument);
}

TEST_CASE("schedule as learning rate") {
  // Lion's update is lr * sign(c), so each step moves w by the rate.
  Lion lion(linear_schedule(0.0, 0.3, 3));
  NamedArrays params = {{"w", mx::zeros({1})}};
  NamedArrays grads = {{"w", mx::ones({1})}};
  std::vector<float> rates;
  for (int t = 0; t < 4; ++t) {
    auto before = mx::array(find(params, "w")).item<float>();
    params = lion.apply_gradients(grads, params);
    rates.push_back(before - mx::array(find(params, "w")).item<float>());
  }
  CHECK(rates[0] == doctest::Approx(0.0));
  CHECK(rates[1] == doctest::Approx(0.1));
  CHECK(rates[2] == doctest::Approx(0.2));
  CHECK(rates[3] == doctest::Approx(0.3));
}

TEST_CASE("initializers match MLX Python") {
  auto seed = std::stoull(init_fixture().metadata().at("seed"));
  using Make = std::function<mx::array()>;
  std::vector<std::pair<std::string, Make>> cases = {
      {"constant(shape=(2, 3),value=0.5)", [] { return init::constant({2, 3}, 0.5); }},
      {"normal(shape=(3, 4),mean=1.0,std=2.0)", [] { return init::normal({3, 4}, 1.0, 2.0); }},
      {"uniform(shape=(3, 4),low=-1.0,high=2.0)", [] { return init::uniform({3, 4}, -1.0, 2.0); }},
      {"identity(shape=(3, 3))", [] { return init::identity({3, 3}); }},
      {"glorot_normal(shape=(4, 3))", [] { return init::glorot_normal({4, 3}); }},
      {"glorot_normal(shape=(2, 3, 5),gain=2.0)", [] { return init::glorot_normal({2, 3, 5}, 2.0); }},
      {"glorot_uniform(shape=(4, 3))", [] { return init::glorot_uniform({4, 3}); }},
      {"glorot_uniform(shape=(2, 3, 5),gain=2.0)", [] { return init::glorot_uniform({2, 3, 5}, 2.0); }},
      {"he_normal(shape=(4, 3))", [] { return init::he_normal({4, 3}); }},
      {"he_normal(shape=(4, 3),mode='fan_out',gain=2.0)",
       [] { return init::he_normal({4, 3}, init::FanMode::fan_out, 2.0); }},
      {"he_uniform(shape=(4, 3))", [] { return init::he_uniform({4, 3}); }},
      {"he_uniform(shape=(4, 3, 2),mode='fan_out',gain=2.0)",
       [] { return init::he_uniform({4, 3, 2}, init::FanMode::fan_out, 2.0); }},
      {"sparse(shape=(4, 6),sparsity=0.5)", [] { return init::sparse({4, 6}, 0.5); }},
      {"sparse(shape=(5, 4),sparsity=0.3,mean=1.0,std=0.5)",
       [] { return init::sparse({5, 4}, 0.3, 1.0, 0.5); }},
      {"orthogonal(shape=(3, 5))", [] { return init::orthogonal({3, 5}); }},
      {"orthogonal(shape=(5, 3),gain=2.0)", [] { return init::orthogonal({5, 3}, 2.0); }},
  };
  for (const auto& [name, make] : cases) {
    CAPTURE(name);
    rmlx::random::seed(seed);
    auto value = make();
    const auto& expected = init_fixture()[name];
    CHECK(value.dtype() == expected.dtype());
    CHECK(close(value, expected, 1e-5));
  }
}

TEST_CASE("initializer argument errors") {
  CHECK_THROWS_AS(init::identity({2, 3}), std::invalid_argument);
  CHECK_THROWS_AS(init::glorot_normal({3}), std::invalid_argument);
  CHECK_THROWS_AS(init::he_uniform({3}), std::invalid_argument);
  CHECK_THROWS_AS(init::sparse({2, 3, 4}, 0.5), std::invalid_argument);
  CHECK_THROWS_AS(init::sparse({2, 3}, 1.5), std::invalid_argument);
  CHECK_THROWS_AS(init::orthogonal({2}), std::invalid_argument);
  CHECK_THROWS_AS(init::normal({2}, 0.0, -1.0), std::invalid_argument);
  CHECK_THROWS_AS(init::uniform({2}, 1.0, 0.0), std::invalid_argument);
  auto fans = init::fan_in_fan_out({4, 3, 3, 2});
  CHECK(fans.first == 18);
  CHECK(fans.second == 36);
}

TEST_CASE("sparse zeros per row") {
  auto a = init::sparse({6, 10}, 0.25);
  // ceil(0.25 * 10) = 3 zeros in every row.
  auto zeros = mx::sum(mx::equal(a, mx::array(0.0f)), 1);
  CHECK(arrays_equal(zeros, mx::full({6}, 3, zeros.dtype())));
}

TEST_CASE("orthogonal rows are orthonormal") {
  auto q = init::orthogonal({3, 7});
  auto gram = mx::matmul(q, mx::transpose(q));
  CHECK(close(gram, mx::eye(3), 1e-5));
}

TEST_CASE("clip_grad_norm matches MLX Python") {
  auto grads = fixture_gradients(1);
  for (double max_norm : {0.5, 100.0}) {
    CAPTURE(max_norm);
    auto prefix = std::string("clip/") + (max_norm == 0.5 ? "0.5" : "100.0") + "/";
    auto [clipped, total] = clip_grad_norm(grads, max_norm);
    CHECK(close(total, optimizer_fixture()[prefix + "total_norm"]));
    for (const auto& [name, value] : clipped) {
      CAPTURE(name);
      CHECK(close(value, optimizer_fixture()[prefix + name]));
    }
  }
  // Unclipped gradients come back unchanged.
  auto [same, total] = clip_grad_norm(grads, 100.0);
  CHECK(arrays_equal(find(same, "weight"), find(grads, "weight")));
  CHECK_THROWS_AS(clip_grad_norm(grads, -1.0), std::invalid_argument);
  CHECK_THROWS_AS(clip_grad_norm(grads, std::nan("")), std::invalid_argument);
  auto empty = clip_grad_norm({}, 1.0);
  CHECK(empty.gradients.empty());
  CHECK(mx::array(empty.total_norm).item<float>() == 0.0f);
  // float16 keeps its dtype.
  auto half = clip_grad_norm({{"h", mx::full({4}, 300.0f, mx::float16)}}, 1.0);
  CHECK(find(half.gradients, "h").dtype() == mx::float16);
  CHECK(mx::array(half.total_norm).item<float>() == doctest::Approx(600.0));
}

TEST_CASE("newton_schulz5 orthogonalizes") {
  rmlx::random::seed(3);
  auto x = mx::random::normal({4, 6});
  auto y = newton_schulz5(x, 10);
  auto singular = mx::linalg::svd(y, false, mx::Device::cpu);
  // The quintic iteration brings singular values into about [0.7, 1.2].
  auto s = singular[0];
  CHECK(mx::all(mx::greater(s, mx::array(0.6f))).item<bool>());
  CHECK(mx::all(mx::less(s, mx::array(1.3f))).item<bool>());
  CHECK_THROWS_AS(newton_schulz5(mx::ones({3}), 5), std::invalid_argument);
  // A tall matrix is iterated transposed and keeps its shape.
  CHECK(newton_schulz5(mx::random::normal({6, 4}), 5).shape() == mx::Shape{6, 4});
}

TEST_CASE("new optimizer option errors") {
  CHECK_THROWS_AS(RMSprop(0.1, 1.5), std::invalid_argument);
  CHECK_THROWS_AS(RMSprop(0.1, -0.1), std::invalid_argument);
  CHECK_THROWS_AS(RMSprop(0.1, 0.9, 0.0), std::invalid_argument);
  CHECK_THROWS_AS(Adagrad(0.1, 0.0), std::invalid_argument);
  CHECK_THROWS_AS(AdaDelta(0.1, 1.5), std::invalid_argument);
  CHECK_THROWS_AS(AdaDelta(0.1, 0.9, -1.0), std::invalid_argument);
  CHECK_THROWS_AS(Adamax(0.1, {1.0, 0.9}), std::invalid_argument);
  CHECK_THROWS_AS(Adamax(0.1, {0.9, 0.9}, -1.0), std::invalid_argument);
  CHECK_THROWS_AS(Lion(0.1, {0.9, 1.0}), std::invalid_argument);
  CHECK_THROWS_AS(Lion(0.1, {0.9, 0.99}, -0.1), std::invalid_argument);
  CHECK_THROWS_AS(Muon(0.1, 1.0), std::invalid_argument);
  CHECK_THROWS_AS(Muon(0.1, 0.9, -0.1), std::invalid_argument);
  CHECK_THROWS_AS(Muon(0.1, 0.9, 0.0, true, -1), std::invalid_argument);

  AdafactorOptions no_relative;
  no_relative.relative_step = false;
  CHECK_THROWS_AS(Adafactor(std::nullopt, no_relative), std::invalid_argument);
  CHECK_NOTHROW(Adafactor(LearningRate(0.1), no_relative));
  auto adafactor_with = [](auto change) {
    AdafactorOptions options;
    change(options);
    return Adafactor(std::nullopt, options);
  };
  CHECK_THROWS_AS(
      adafactor_with([](auto& o) { o.clip_threshold = 0.0; }),
      std::invalid_argument);
  CHECK_THROWS_AS(
      adafactor_with([](auto& o) { o.decay_rate = 0.5; }),
      std::invalid_argument);
  CHECK_THROWS_AS(
      adafactor_with([](auto& o) { o.beta_1 = 1.0; }), std::invalid_argument);
  CHECK_THROWS_AS(
      adafactor_with([](auto& o) { o.eps = {-1.0, 1e-3}; }),
      std::invalid_argument);
  CHECK_THROWS_AS(
      adafactor_with([](auto& o) { o.weight_decay = -1.0; }),
      std::invalid_argument);

  std::vector<std::shared_ptr<Optimizer>> two = {
      std::make_shared<SGD>(0.1), std::make_shared<Adam>(0.1)};
  CHECK_THROWS_AS(MultiOptimizer(two, {}), std::invalid_argument);
  CHECK_THROWS_AS(MultiOptimizer({}, {}), std::invalid_argument);
  CHECK_THROWS_AS(
      MultiOptimizer({std::shared_ptr<Optimizer>()}, {}), std::invalid_argument);
}

TEST_CASE("adafactor without learning rate state") {
  Adafactor adafactor;
  CHECK_FALSE(adafactor.has_learning_rate());
  adafactor.init({{"w", mx::ones({2, 3})}, {"b", mx::ones({3})}});
  std::vector<std::string> names;
  for (const auto& [name, value] : adafactor.state()) {
    names.push_back(name);
  }
  std::vector<std::string> expected = {
      "step", "w.exp_avg_sq_col", "w.exp_avg_sq_row", "b.exp_avg_sq"};
  CHECK(names == expected);
  CHECK(find(adafactor.state(), "w.exp_avg_sq_row").shape() == mx::Shape{2});
  CHECK(find(adafactor.state(), "w.exp_avg_sq_col").shape() == mx::Shape{3});
  CHECK(adafactor.flatten_state().size() == 4);
}

TEST_CASE("multi optimizer routes by filter") {
  auto multi = std::dynamic_pointer_cast<MultiOptimizer>(make_multi());
  CHECK(multi->select("bias", mx::ones({3})) == 0);
  CHECK(multi->select("conv", mx::ones({2, 2, 2})) == 1);
  CHECK(multi->select("weight", mx::ones({2, 2})) == 2);
  NamedArrays params = {
      {"weight", mx::ones({3, 4})},
      {"bias", mx::ones({3})},
      {"conv", mx::ones({2, 3, 4})}};
  auto grads = params;
  auto updated = multi->apply_gradients(grads, params);
  CHECK(updated.size() == 3);
  auto state = multi->state();
  std::vector<std::string> names;
  for (const auto& [name, value] : state) {
    names.push_back(name);
  }
  std::vector<std::string> expected = {
      "states.0.step", "states.0.learning_rate", "states.0.bias.m",
      "states.1.step", "states.1.conv.exp_avg_sq_col",
      "states.1.conv.exp_avg_sq_row", "states.2.step",
      "states.2.learning_rate", "states.2.weight.v"};
  CHECK(names == expected);
  CHECK(mx::array(multi->step()).item<uint64_t>() == 1);
  // As in MLX Python, setting the rate also gives Adafactor one.
  multi->set_learning_rate(0.5);
  CHECK(mx::array(find(multi->state(), "states.2.learning_rate")).item<float>() == 0.5f);
  CHECK(multi->state().size() == expected.size() + 1);

  CHECK_THROWS_AS(
      multi->set_state({{"states.7.step", mx::array(1)}}), std::invalid_argument);
  CHECK_THROWS_AS(
      multi->set_state({{"step", mx::array(1)}}), std::invalid_argument);
  // A failed set_state leaves the state as it was.
  CHECK(multi->state().size() == expected.size() + 1);
}

TEST_CASE("optimizer resume equals uninterrupted run") {
  using Make = std::function<std::shared_ptr<Optimizer>()>;
  std::vector<std::pair<std::string, Make>> makers = {
      {"RMSprop", [] { return std::make_shared<RMSprop>(0.1); }},
      {"Adagrad", [] { return std::make_shared<Adagrad>(0.1); }},
      {"AdaDelta", [] { return std::make_shared<AdaDelta>(1.0); }},
      {"Adamax", [] { return std::make_shared<Adamax>(0.1); }},
      {"Lion", [] { return std::make_shared<Lion>(cosine_decay(0.1, 4), std::array<double, 2>{0.9, 0.99}, 0.1); }},
      {"Muon", [] { return std::make_shared<Muon>(0.1); }},
      {"Adafactor", [] {
         AdafactorOptions options;
         options.beta_1 = 0.9;
         return std::make_shared<Adafactor>(std::nullopt, options);
       }},
      {"MultiOptimizer", make_multi},
  };
  auto gradients = [](int t) { return fixture_gradients(1 + (t % 3)); };
  for (const auto& [name, make] : makers) {
    CAPTURE(name);
    auto reference = make();
    auto expected = fixture_parameters();
    for (int t = 0; t < 5; ++t) {
      expected = reference->apply_gradients(gradients(t), expected);
    }

    auto first = make();
    auto parameters = fixture_parameters();
    for (int t = 0; t < 2; ++t) {
      parameters = first->apply_gradients(gradients(t), parameters);
    }
    auto path = (std::filesystem::temp_directory_path() /
                 ("rmlx_resume_" + name + ".safetensors"))
                    .string();
    std::unordered_map<std::string, mx::array> saved;
    for (const auto& [key, value] : first->state()) {
      saved.insert_or_assign(key, value);
    }
    mx::save_safetensors(path, saved);
    auto [loaded, metadata] = mx::load_safetensors(path);
    std::filesystem::remove(path);

    auto resumed = make();
    resumed->set_state(NamedArrays(loaded.begin(), loaded.end()));
    for (int t = 2; t < 5; ++t) {
      parameters = resumed->apply_gradients(gradients(t), parameters);
    }
    for (const auto& [key, value] : expected) {
      CAPTURE(key);
      CHECK(arrays_equal(find(parameters, key), value));
    }
  }
}

namespace {

std::shared_ptr<rmlx::nn::Module> make_mlp(bool checkpointed, double dropout) {
  rmlx::random::seed(11);
  auto first = std::make_shared<rmlx::nn::Linear>(4, 8);
  auto second = std::make_shared<rmlx::nn::Linear>(8, 2);
  std::vector<rmlx::nn::ModulePtr> inner = {
      first, std::make_shared<rmlx::nn::ReLU>(),
      std::make_shared<rmlx::nn::Dropout>(dropout)};
  rmlx::nn::ModulePtr block = std::make_shared<rmlx::nn::Sequential>(inner);
  if (checkpointed) {
    block = std::make_shared<rmlx::nn::Checkpoint>(block);
  }
  std::vector<rmlx::nn::ModulePtr> layers = {block, second};
  return std::make_shared<rmlx::nn::Sequential>(layers);
}

// The gradients with the "module." of Checkpoint removed from the names.
// Checkpoint runs its module under a KeyScope of one key from the default
// stream. With `scoped`, the whole model runs under a KeyScope of that same
// key, so a plain model draws the dropout masks the checkpointed one draws.
NamedArrays gradients_of(
    rmlx::nn::Module& model,
    const mx::array& x,
    bool scoped) {
  auto vg = rmlx::nn::value_and_grad(model, [&](const std::vector<mx::array>&) {
    auto y = model(x);
    return std::vector<mx::array>{mx::sum(mx::square(y))};
  });
  rmlx::random::seed(5);
  std::optional<rmlx::random::KeyScope> scope;
  if (scoped) {
    scope.emplace(rmlx::random::next_key());
  }
  auto [loss, grads] = vg({});
  NamedArrays out;
  for (auto [name, value] : grads) {
    auto at = name.find("module.");
    if (at != std::string::npos) {
      name.erase(at, 7);
    }
    out.emplace_back(name, value);
  }
  return out;
}

} // namespace

TEST_CASE("checkpoint gives the same gradients") {
  auto x = mx::reshape(mx::linspace(-1.0, 1.0, 12), {3, 4});
  for (double dropout : {0.0, 0.5}) {
    CAPTURE(dropout);
    auto plain = make_mlp(false, dropout);
    auto checkpointed = make_mlp(true, dropout);
    auto expected = gradients_of(*plain, x, true);
    auto actual = gradients_of(*checkpointed, x, false);
    REQUIRE(actual.size() == expected.size());
    for (const auto& [name, value] : expected) {
      CAPTURE(name);
      CHECK(close(find(actual, name), value));
    }
    // The wrapped module keeps its own parameters after the call.
    auto names = checkpointed->parameters();
    CHECK(find(names, "layers.0.module.layers.0.weight").shape() == mx::Shape{8, 4});
  }
  CHECK_THROWS_AS(rmlx::nn::Checkpoint(nullptr), std::invalid_argument);
}
