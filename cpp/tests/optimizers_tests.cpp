#include <doctest/doctest.h>

#include <filesystem>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "rmlx/optimizers/adaptive.h"
#include "rmlx/optimizers/muon.h"
#include "rmlx/optimizers/multi_optimizer.h"
#include "rmlx/optimizers/optimizers.h"

using namespace rmlx::optimizers;
using rmlx::nn::NamedArrays;

namespace {

// Reference values written by tools/fixtures/make_optimizer_fixtures.py.
struct Fixture {
  std::unordered_map<std::string, mx::array> arrays;
  std::unordered_map<std::string, std::string> metadata;

  const mx::array& at(const std::string& key) const {
    auto it = arrays.find(key);
    if (it == arrays.end()) {
      throw std::out_of_range("fixture has no array \"" + key + "\"");
    }
    return it->second;
  }
  bool has(const std::string& key) const {
    return arrays.find(key) != arrays.end();
  }
};

const Fixture& fixture() {
  static const Fixture loaded = [] {
    auto path = std::string(RMLX_FIXTURE_DIR) + "/optimizers.safetensors";
    auto [arrays, metadata] = mx::load_safetensors(path);
    return Fixture{std::move(arrays), std::move(metadata)};
  }();
  return loaded;
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::stringstream stream(text);
  std::string part;
  while (std::getline(stream, part, separator)) {
    if (!part.empty()) {
      parts.push_back(part);
    }
  }
  return parts;
}

// A case name such as "optimizer=SGD,learning_rate=0.1,..." as a map.
std::map<std::string, std::string> parse_options(const std::string& name) {
  std::map<std::string, std::string> options;
  for (const auto& item : split(name, ',')) {
    auto eq = item.find('=');
    options[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return options;
}

// learning_rate * decay_rate ** step, as mlx.optimizers.exponential_decay.
Schedule exponential_decay(double init, double decay_rate) {
  return [init, decay_rate](const mx::array& step) {
    auto decay = mx::power(
        mx::array(static_cast<float>(decay_rate)),
        mx::astype(step, mx::float32));
    return mx::multiply(mx::array(static_cast<float>(init)), decay);
  };
}

// The optimizers beyond SGD, Adam and AdamW, or nullptr for those.
std::unique_ptr<Optimizer> make_more_optimizer(
    const std::map<std::string, std::string>& options,
    const LearningRate& learning_rate) {
  auto number = [&](const std::string& key) {
    return std::stod(options.at(key));
  };
  auto flag = [&](const std::string& key) { return options.at(key) == "1"; };
  const auto& kind = options.at("optimizer");
  if (kind == "RMSprop") {
    return std::make_unique<RMSprop>(
        learning_rate, number("alpha"), number("eps"));
  }
  if (kind == "Adagrad") {
    return std::make_unique<Adagrad>(learning_rate, number("eps"));
  }
  if (kind == "AdaDelta") {
    return std::make_unique<AdaDelta>(
        learning_rate, number("rho"), number("eps"));
  }
  if (kind == "Adamax") {
    return std::make_unique<Adamax>(
        learning_rate,
        std::array<double, 2>{number("beta1"), number("beta2")},
        number("eps"));
  }
  if (kind == "Lion") {
    return std::make_unique<Lion>(
        learning_rate,
        std::array<double, 2>{number("beta1"), number("beta2")},
        number("weight_decay"));
  }
  if (kind == "Muon") {
    return std::make_unique<Muon>(
        learning_rate,
        number("momentum"),
        number("weight_decay"),
        flag("nesterov"),
        static_cast<int>(number("ns_steps")));
  }
  if (kind == "Adafactor") {
    AdafactorOptions adafactor;
    adafactor.eps = {number("eps1"), number("eps2")};
    adafactor.clip_threshold = number("clip_threshold");
    adafactor.decay_rate = number("decay_rate");
    if (options.at("beta_1") != "None") {
      adafactor.beta_1 = number("beta_1");
    }
    adafactor.weight_decay = number("weight_decay");
    adafactor.scale_parameter = flag("scale_parameter");
    adafactor.relative_step = flag("relative_step");
    adafactor.warmup_init = flag("warmup_init");
    std::optional<LearningRate> rate;
    if (options.at("learning_rate") != "None") {
      rate = learning_rate;
    }
    return std::make_unique<Adafactor>(rate, adafactor);
  }
  if (kind == "MultiOptimizer") {
    // "weight" goes to SGD with momentum, the rest to Adam.
    std::vector<std::shared_ptr<Optimizer>> parts = {
        std::make_shared<SGD>(learning_rate, 0.9),
        std::make_shared<Adam>(
            learning_rate, std::array<double, 2>{0.9, 0.999}, 1e-8, true)};
    std::vector<ParameterFilter> filters = {
        [](const std::string& name, const mx::array&) {
          return name == "weight";
        }};
    return std::make_unique<MultiOptimizer>(parts, filters);
  }
  return nullptr;
}

std::unique_ptr<Optimizer> make_optimizer(const std::string& name) {
  auto options = parse_options(name);
  auto number = [&](const std::string& key) {
    return std::stod(options.at(key));
  };
  auto flag = [&](const std::string& key) { return options.at(key) == "1"; };

  LearningRate learning_rate(0.0);
  if (options.at("learning_rate") != "None") {
    learning_rate = number("learning_rate");
  }
  if (options.count("schedule") > 0) {
    REQUIRE(options.at("schedule") == "exponential_decay");
    learning_rate = exponential_decay(
        number("learning_rate"), number("schedule_decay_rate"));
  }
  if (auto more = make_more_optimizer(options, learning_rate)) {
    return more;
  }
  const auto& kind = options.at("optimizer");
  if (kind == "SGD") {
    return std::make_unique<SGD>(
        learning_rate,
        number("momentum"),
        number("weight_decay"),
        number("dampening"),
        flag("nesterov"));
  }
  std::array<double, 2> betas = {number("beta1"), number("beta2")};
  if (kind == "Adam") {
    return std::make_unique<Adam>(
        learning_rate, betas, number("eps"), flag("bias_correction"));
  }
  REQUIRE(kind == "AdamW");
  return std::make_unique<AdamW>(
      learning_rate,
      betas,
      number("eps"),
      number("weight_decay"),
      flag("bias_correction"));
}

NamedArrays fixture_parameters() {
  return {
      {"weight", fixture().at("inputs/parameter/weight")},
      {"bias", fixture().at("inputs/parameter/bias")}};
}

NamedArrays fixture_gradients(int step) {
  auto prefix = "inputs/gradient/" + std::to_string(step) + "/";
  return {
      {"weight", fixture().at(prefix + "weight")},
      {"bias", fixture().at(prefix + "bias")}};
}

// Returns the step counter as a number. item() on a const array needs it
// evaluated, so this takes a copy.
uint64_t step_count(mx::array step) {
  return step.item<uint64_t>();
}

float learning_rate_value(mx::array learning_rate) {
  return learning_rate.item<float>();
}

int fixture_steps() {
  return std::stoi(fixture().metadata.at("steps"));
}

bool close(const mx::array& a, const mx::array& b, double atol = 1e-6) {
  return a.shape() == b.shape() &&
      mx::allclose(a, b, /* rtol */ 1e-5, atol).item<bool>();
}

const mx::array& find(const NamedArrays& arrays, const std::string& name) {
  for (const auto& [key, value] : arrays) {
    if (key == name) {
      return value;
    }
  }
  throw std::out_of_range("no array named \"" + name + "\"");
}

// A two-parameter model for Optimizer::update.
class Affine : public rmlx::nn::UnaryModule {
 public:
  Affine() {
    register_parameter("weight", fixture().at("inputs/parameter/weight"));
    register_parameter("bias", fixture().at("inputs/parameter/bias"));
  }
  std::string type_name() const override {
    return "Affine";
  }
  mx::array forward(const mx::array& x) override {
    return mx::add(mx::matmul(x, mx::transpose(param("weight"))), param("bias"));
  }
};

} // namespace

TEST_CASE("optimizer fixtures cover every optimizer") {
  auto cases = split(fixture().metadata.at("cases"), ';');
  CHECK(cases.size() == 79);
  CHECK(fixture_steps() == 3);
  std::map<std::string, int> counts;
  for (const auto& name : cases) {
    counts[parse_options(name).at("optimizer")] += 1;
  }
  CHECK(counts["SGD"] == 11);
  CHECK(counts["Adam"] == 9);
  CHECK(counts["AdamW"] == 9);
  CHECK(counts["RMSprop"] == 5);
  CHECK(counts["Adagrad"] == 2);
  CHECK(counts["AdaDelta"] == 4);
  CHECK(counts["Adamax"] == 4);
  CHECK(counts["Lion"] == 5);
  CHECK(counts["Muon"] == 17);
  CHECK(counts["Adafactor"] == 12);
  CHECK(counts["MultiOptimizer"] == 1);
}

TEST_CASE("optimizers match MLX Python") {
  for (const auto& name : split(fixture().metadata.at("cases"), ';')) {
    CAPTURE(name);
    auto optimizer = make_optimizer(name);
    auto parameters = fixture_parameters();
    for (int t = 1; t <= fixture_steps(); ++t) {
      CAPTURE(t);
      parameters = optimizer->apply_gradients(fixture_gradients(t), parameters);
      for (const auto& [key, value] : parameters) {
        CAPTURE(key);
        auto expected =
            fixture().at(name + "/mlx/" + std::to_string(t) + "/" + key);
        CHECK(close(value, expected));
      }
    }

    // The flattened state has the names and values of MLX's state tree.
    auto state = optimizer->state();
    size_t expected_count = 0;
    for (const auto& [key, value] : fixture().arrays) {
      if (key.rfind(name + "/mlx/state/", 0) == 0) {
        expected_count += 1;
      }
    }
    CHECK(state.size() == expected_count);
    for (const auto& [key, value] : state) {
      CAPTURE(key);
      const auto& expected = fixture().at(name + "/mlx/state/" + key);
      CHECK(value.dtype() == expected.dtype());
      CHECK(close(mx::astype(value, mx::float32), mx::astype(expected, mx::float32)));
    }
  }
}

TEST_CASE("optimizers match PyTorch") {
  auto differs = split(fixture().metadata.at("torch_differs"), ';');
  int compared = 0;
  for (const auto& name : split(fixture().metadata.at("cases"), ';')) {
    if (!fixture().has(name + "/torch/1/weight")) {
      continue;
    }
    CAPTURE(name);
    bool expect_same =
        std::find(differs.begin(), differs.end(), name) == differs.end();
    auto optimizer = make_optimizer(name);
    auto parameters = fixture_parameters();
    for (int t = 1; t <= fixture_steps(); ++t) {
      CAPTURE(t);
      parameters = optimizer->apply_gradients(fixture_gradients(t), parameters);
      const auto& weight = find(parameters, "weight");
      auto expected =
          fixture().at(name + "/torch/" + std::to_string(t) + "/weight");
      // PyTorch computes the bias corrections in float64, hence atol 1e-5.
      CHECK(close(weight, expected, 1e-5) == expect_same);
    }
    compared += 1;
  }
  CHECK(compared == 28);
  CHECK(differs.size() == 2);
}

TEST_CASE("optimizer step and lazy state") {
  SGD sgd(0.1, 0.9);
  CHECK(sgd.step().dtype() == mx::uint64);
  CHECK(step_count(sgd.step()) == 0);
  CHECK(sgd.parameter_states().empty());
  CHECK(sgd.learning_rate().dtype() == mx::float32);
  CHECK(learning_rate_value(sgd.learning_rate()) == doctest::Approx(0.1));

  // The first update creates state for the parameters with gradients.
  NamedArrays params = {{"a", mx::ones({2})}, {"b", mx::zeros({3})}};
  sgd.apply_gradients({{"a", mx::ones({2})}}, params);
  CHECK(step_count(sgd.step()) == 1);
  CHECK(sgd.parameter_states().size() == 1);
  CHECK(sgd.parameter_states().count("a") == 1);

  // A parameter that gains a gradient later gets fresh state then.
  auto updated =
      sgd.apply_gradients({{"b", mx::ones({3})}, {"a", mx::ones({2})}}, params);
  CHECK(step_count(sgd.step()) == 2);
  CHECK(sgd.parameter_states().size() == 2);
  REQUIRE(updated.size() == 2);
  CHECK(updated[0].first == "b");
  CHECK(updated[1].first == "a");
  // b: v = 1, so b = 0 - 0.1 * 1; a: v = 0.9 * 1 + 1, so a = 1 - 0.19.
  CHECK(close(updated[0].second, mx::full({3}, -0.1f)));
  CHECK(close(updated[1].second, mx::full({2}, 0.81f)));
}

TEST_CASE("optimizer init creates state up front") {
  Adam adam(1e-3);
  adam.init({{"w", mx::ones({2, 2})}, {"b", mx::ones({2})}});
  auto state = adam.state();
  std::vector<std::string> names;
  for (const auto& [name, value] : state) {
    names.push_back(name);
  }
  std::vector<std::string> expected = {
      "step", "learning_rate", "w.m", "w.v", "b.m", "b.v"};
  CHECK(names == expected);
  CHECK(step_count(adam.step()) == 0);
  CHECK(mx::array_equal(find(state, "w.m"), mx::zeros({2, 2})).item<bool>());

  // init keeps state that exists already.
  auto m = mx::full({2}, 5.0f);
  adam.unflatten_state({adam.step(), adam.learning_rate(), mx::zeros({2, 2}),
                        mx::zeros({2, 2}), m, m});
  adam.init({{"b", mx::ones({2})}});
  CHECK(mx::array_equal(find(adam.state(), "b.m"), m).item<bool>());
}

TEST_CASE("optimizer update of a module") {
  auto model = std::make_shared<Affine>();
  auto name =
      split(fixture().metadata.at("cases"), ';').front(); // plain SGD
  auto optimizer = make_optimizer(name);
  optimizer->update(*model, {{"bias", fixture().at("inputs/gradient/1/bias")}});

  // Only the bias has a gradient, so only the bias moves.
  CHECK(mx::array_equal(
            model->param("weight"), fixture().at("inputs/parameter/weight"))
            .item<bool>());
  CHECK(close(model->param("bias"), fixture().at(name + "/mlx/1/bias")));
}

TEST_CASE("optimizer gradient without parameter") {
  SGD sgd(0.1);
  NamedArrays params = {{"a", mx::ones({2})}};
  CHECK_THROWS_AS(
      sgd.apply_gradients({{"c", mx::ones({2})}}, params),
      std::invalid_argument);
  // The failed call must not advance the step.
  CHECK(step_count(sgd.step()) == 0);
}

TEST_CASE("optimizer schedule reads step before increment") {
  std::vector<uint64_t> seen;
  Schedule schedule = [&seen](const mx::array& step) {
    seen.push_back(mx::array(step).item<uint64_t>());
    return mx::multiply(mx::array(0.5f), mx::astype(step, mx::float32));
  };
  SGD sgd(schedule);
  // Construction evaluates the schedule at step 0, like MLX.
  REQUIRE(seen.size() == 1);
  CHECK(seen[0] == 0);
  CHECK(sgd.has_schedule());

  NamedArrays params = {{"w", mx::ones({1})}};
  NamedArrays grads = {{"w", mx::ones({1})}};
  for (int i = 0; i < 3; ++i) {
    params = sgd.apply_gradients(grads, params);
  }
  std::vector<uint64_t> expected = {0, 0, 1, 2};
  CHECK(seen == expected);
  CHECK(learning_rate_value(sgd.learning_rate()) == doctest::Approx(1.0));
  // w = 1 - (0 + 0.5 + 1.0) * 1.
  CHECK(close(find(params, "w"), mx::array({-0.5f})));
}

TEST_CASE("optimizer learning rate from lambda") {
  // A plain lambda converts to a schedule without naming Schedule.
  Adam adam([](const mx::array& step) { return mx::array(0.25f); });
  CHECK(adam.has_schedule());
  CHECK(learning_rate_value(adam.learning_rate()) == doctest::Approx(0.25));
  CHECK_THROWS_AS(SGD{Schedule{}}, std::invalid_argument);
}

TEST_CASE("optimizer set_learning_rate") {
  SGD sgd(0.1);
  sgd.set_learning_rate(0.5);
  CHECK(learning_rate_value(sgd.learning_rate()) == doctest::Approx(0.5));
  NamedArrays params = {{"w", mx::ones({1})}};
  params = sgd.apply_gradients({{"w", mx::ones({1})}}, params);
  CHECK(close(find(params, "w"), mx::array({0.5f})));

  // A schedule overrides a learning rate set by hand at the next update.
  SGD scheduled([](const mx::array&) { return mx::array(0.25f); });
  scheduled.set_learning_rate(mx::array(3.0f));
  params = scheduled.apply_gradients({{"w", mx::ones({1})}}, {{"w", mx::ones({1})}});
  CHECK(close(find(params, "w"), mx::array({0.75f})));
}

TEST_CASE("optimizer state save and resume") {
  auto name = std::string(
      "optimizer=AdamW,learning_rate=0.1,beta1=0.9,beta2=0.999,eps=1e-08,"
      "weight_decay=0.01,bias_correction=1");
  auto gradients = [](int t) {
    return fixture_gradients(1 + (t % fixture_steps()));
  };

  // Five uninterrupted steps.
  auto reference = make_optimizer(name);
  auto expected = fixture_parameters();
  for (int t = 0; t < 5; ++t) {
    expected = reference->apply_gradients(gradients(t), expected);
  }

  // Two steps, a round trip through a file, then three more steps.
  auto first = make_optimizer(name);
  auto parameters = fixture_parameters();
  for (int t = 0; t < 2; ++t) {
    parameters = first->apply_gradients(gradients(t), parameters);
  }
  auto path = (std::filesystem::temp_directory_path() /
               "rmlx_optimizer_state.safetensors")
                  .string();
  std::unordered_map<std::string, mx::array> saved;
  for (const auto& [key, value] : first->state()) {
    saved.insert_or_assign(key, value);
  }
  mx::save_safetensors(path, saved);
  auto [loaded, metadata] = mx::load_safetensors(path);
  std::filesystem::remove(path);

  auto resumed = make_optimizer(name);
  NamedArrays state(loaded.begin(), loaded.end());
  resumed->set_state(state);
  CHECK(step_count(resumed->step()) == 2);
  CHECK(resumed->parameter_states().size() == 2);
  for (int t = 2; t < 5; ++t) {
    parameters = resumed->apply_gradients(gradients(t), parameters);
  }
  for (const auto& [key, value] : expected) {
    CAPTURE(key);
    CHECK(mx::array_equal(find(parameters, key), value).item<bool>());
  }
}

TEST_CASE("optimizer scheduled state resume") {
  // After set_state, the schedule continues from the restored step.
  auto make = [] { return std::make_unique<SGD>(exponential_decay(0.1, 0.5)); };
  NamedArrays grads = {{"w", mx::ones({1})}};
  auto reference = make();
  NamedArrays expected = {{"w", mx::zeros({1})}};
  for (int t = 0; t < 4; ++t) {
    expected = reference->apply_gradients(grads, expected);
  }

  auto first = make();
  NamedArrays params = {{"w", mx::zeros({1})}};
  for (int t = 0; t < 2; ++t) {
    params = first->apply_gradients(grads, params);
  }
  auto resumed = make();
  resumed->set_state(first->state());
  for (int t = 0; t < 2; ++t) {
    params = resumed->apply_gradients(grads, params);
  }
  CHECK(mx::array_equal(find(params, "w"), find(expected, "w")).item<bool>());
  CHECK(
      learning_rate_value(resumed->learning_rate()) ==
      learning_rate_value(reference->learning_rate()));
}

TEST_CASE("optimizer set_state errors") {
  Adam adam(0.1);
  CHECK_THROWS_AS(adam.set_state({{"w.m", mx::zeros({1})}}), std::invalid_argument);
  CHECK_THROWS_AS(
      adam.set_state(
          {{"step", mx::array(1, mx::uint64)}, {"w.m", mx::zeros({1})}}),
      std::invalid_argument);
  CHECK_THROWS_AS(
      adam.set_state(
          {{"step", mx::array(1, mx::uint64)},
           {"learning_rate", mx::array(0.1f)},
           {"nodot", mx::zeros({1})}}),
      std::invalid_argument);

  // A step stored as another integer type is cast back to uint64.
  adam.set_state({{"step", mx::array(7)}, {"learning_rate", mx::array(0.1f)}});
  CHECK(adam.step().dtype() == mx::uint64);
  CHECK(step_count(adam.step()) == 7);
}

TEST_CASE("optimizer flatten and unflatten state") {
  SGD sgd(0.1, 0.9);
  sgd.init({{"w", mx::ones({2})}});
  auto flat = sgd.flatten_state();
  REQUIRE(flat.size() == 3);
  flat[2] = mx::full({2}, 3.0f);
  sgd.unflatten_state(flat);
  CHECK(mx::array_equal(find(sgd.state(), "w.v"), flat[2]).item<bool>());
  flat.pop_back();
  CHECK_THROWS_AS(sgd.unflatten_state(flat), std::invalid_argument);
}

TEST_CASE("optimizer option errors") {
  // SGD: Nesterov momentum needs momentum and no dampening.
  CHECK_THROWS_AS(SGD(0.1, 0.0, 0.0, 0.0, true), std::invalid_argument);
  CHECK_THROWS_AS(SGD(0.1, 0.9, 0.0, 0.1, true), std::invalid_argument);
  CHECK_NOTHROW(SGD(0.1, 0.9, 0.0, 0.0, true));

  // Adam and AdamW: betas in [0, 1), eps >= 0.
  CHECK_THROWS_AS(Adam(0.1, {1.0, 0.999}), std::invalid_argument);
  CHECK_THROWS_AS(Adam(0.1, {0.9, -0.1}), std::invalid_argument);
  CHECK_THROWS_AS(Adam(0.1, {0.9, 0.999}, -1e-8), std::invalid_argument);
  CHECK_NOTHROW(Adam(0.1, {0.0, 0.0}, 0.0));
  CHECK_THROWS_AS(AdamW(0.1, {0.9, 1.5}), std::invalid_argument);
  CHECK_THROWS_AS(AdamW(0.1, {0.9, 0.999}, -1.0), std::invalid_argument);
}

TEST_CASE("optimizer error messages name the optimizer") {
  auto message = [](auto&& make) {
    try {
      make();
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(message([] { SGD(0.1, 0.0, 0.0, 0.0, true); }).rfind("[SGD]", 0) == 0);
  CHECK(message([] { Adam(0.1, {1.0, 0.9}); }).rfind("[Adam]", 0) == 0);
  CHECK(message([] { AdamW(0.1, {1.0, 0.9}); }).rfind("[AdamW]", 0) == 0);
}

TEST_CASE("optimizer float16 parameters keep their dtype") {
  for (auto& optimizer : std::vector<std::shared_ptr<Optimizer>>{
           std::make_shared<SGD>(0.1, 0.9, 0.01),
           std::make_shared<Adam>(0.1, std::array<double, 2>{0.9, 0.999}, 1e-8, true),
           std::make_shared<AdamW>(0.1)}) {
    CAPTURE(optimizer->type_name());
    NamedArrays params = {{"w", mx::ones({2}, mx::float16)}};
    NamedArrays grads = {{"w", mx::ones({2}, mx::float16)}};
    params = optimizer->apply_gradients(grads, params);
    CHECK(find(params, "w").dtype() == mx::float16);
    for (const auto& [key, value] : optimizer->parameter_states().at("w")) {
      CHECK(value.dtype() == mx::float16);
    }
  }
}
