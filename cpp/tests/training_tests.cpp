#include <doctest/doctest.h>

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "rmlx/nn/training.h"
#include "rmlx/random.h"

using namespace rmlx::nn;
namespace optim = rmlx::optimizers;

namespace {

// tanh(x W^T + b), doubled in training mode when asked, so that tests can
// see which mode a trace used.
class Affine : public UnaryModule {
 public:
  Affine(int inputs, int outputs, uint64_t seed, bool double_in_training = false)
      : double_in_training_(double_in_training) {
    auto key = mx::random::key(seed);
    auto [weight_key, bias_key] = mx::random::split(key);
    register_parameter(
        "weight",
        mx::random::normal({outputs, inputs}, mx::float32, weight_key));
    register_parameter(
        "bias", mx::random::normal({outputs}, mx::float32, bias_key));
  }
  std::string type_name() const override {
    return "Affine";
  }
  mx::array forward(const mx::array& x) override {
    auto y = mx::tanh(
        mx::add(mx::matmul(x, mx::transpose(param("weight"))), param("bias")));
    if (double_in_training_ && training()) {
      y = mx::multiply(y, mx::array(2.0f));
    }
    return y;
  }

 private:
  bool double_in_training_;
};

// A module whose forward pass increments a frozen parameter, as layers with
// running statistics do.
class Counter : public UnaryModule {
 public:
  Counter() {
    register_parameter("scale", mx::ones({3}));
    register_parameter("count", mx::zeros({}));
    no_grad_.insert("count");
  }
  std::string type_name() const override {
    return "Counter";
  }
  mx::array forward(const mx::array& x) override {
    update({{"count", mx::add(param("count"), mx::array(1.0f))}});
    return mx::multiply(x, param("scale"));
  }
};

// Two Affine layers, so that freezing can leave part of the model trainable.
class TwoLayers : public UnaryModule {
 public:
  explicit TwoLayers(bool double_in_training = false) {
    register_module(
        "first", std::make_shared<Affine>(4, 5, 1, double_in_training));
    register_module("second", std::make_shared<Affine>(5, 3, 2));
  }
  std::string type_name() const override {
    return "TwoLayers";
  }
  mx::array forward(const mx::array& x) override {
    auto& first = static_cast<Affine&>(*child("first"));
    auto& second = static_cast<Affine&>(*child("second"));
    return second(first(x));
  }
};

std::vector<mx::array> make_batch(uint64_t seed) {
  auto [x_key, y_key] = mx::random::split(mx::random::key(seed));
  return {
      mx::random::normal({8, 4}, mx::float32, x_key),
      mx::random::normal({8, 3}, mx::float32, y_key)};
}

// Returns the mean squared error of model(batch[0]) against batch[1] as a
// loss function. When `calls` is given, the loss counts its calls there.
LossFn mse_loss(Module& model, int* calls = nullptr) {
  return [&model, calls](const std::vector<mx::array>& batch) {
    if (calls != nullptr) {
      *calls += 1;
    }
    auto difference = mx::subtract(model(batch[0]), batch[1]);
    return std::vector<mx::array>{mx::mean(mx::square(difference))};
  };
}

// The MSE loss times a dropout-style mask drawn from rmlx::random, which
// the loss returns as its second output.
LossFn masked_loss(Module& model) {
  return [&model](const std::vector<mx::array>& batch) {
    auto mask = mx::random::bernoulli(
        mx::array(0.5f), {8, 3}, rmlx::random::next_key());
    auto difference = mx::subtract(model(batch[0]), batch[1]);
    auto loss = mx::mean(mx::multiply(mx::square(difference), mask));
    return std::vector<mx::array>{loss, mask};
  };
}

bool arrays_equal(const mx::array& a, const mx::array& b) {
  return a.shape() == b.shape() && mx::array_equal(a, b).item<bool>();
}

bool close(const mx::array& a, const mx::array& b) {
  return a.shape() == b.shape() &&
      mx::allclose(a, b, /* rtol */ 1e-5, /* atol */ 1e-6).item<bool>();
}

const mx::array& find(const NamedArrays& arrays, const std::string& name) {
  for (const auto& [key, value] : arrays) {
    if (key == name) {
      return value;
    }
  }
  throw std::out_of_range("no array named \"" + name + "\"");
}

float scalar(mx::array a) {
  return a.item<float>();
}

uint64_t step_count(mx::array step) {
  return step.item<uint64_t>();
}

// Central differences of the loss with respect to one parameter.
std::vector<float> finite_differences(
    Module& model,
    const LossFn& loss_fn,
    const std::vector<mx::array>& batch,
    const std::string& name,
    float h) {
  auto original = find(model.parameters(), name);
  mx::eval(original);
  std::vector<float> values(
      original.data<float>(), original.data<float>() + original.size());
  std::vector<float> derivatives;
  for (size_t i = 0; i < values.size(); ++i) {
    auto shifted = values;
    shifted[i] = values[i] + h;
    model.update({{name, mx::array(shifted.begin(), original.shape())}});
    float plus = scalar(loss_fn(batch)[0]);
    shifted[i] = values[i] - h;
    model.update({{name, mx::array(shifted.begin(), original.shape())}});
    float minus = scalar(loss_fn(batch)[0]);
    derivatives.push_back((plus - minus) / (2 * h));
  }
  model.update({{name, original}});
  return derivatives;
}

} // namespace

TEST_CASE("value_and_grad matches finite differences") {
  auto model = std::make_shared<TwoLayers>();
  auto batch = make_batch(10);
  auto loss_fn = mse_loss(*model);
  auto [outputs, grads] = value_and_grad(*model, loss_fn)(batch);

  REQUIRE(outputs.size() == 1);
  CHECK(scalar(outputs[0]) == doctest::Approx(scalar(loss_fn(batch)[0])));
  REQUIRE(grads.size() == 4);
  for (const auto& [name, grad] : grads) {
    CAPTURE(name);
    auto expected = finite_differences(*model, loss_fn, batch, name, 1e-2f);
    auto numeric = mx::array(expected.begin(), grad.shape());
    CHECK(mx::allclose(grad, numeric, 1e-2, 1e-3).item<bool>());
  }
}

TEST_CASE("value_and_grad restores parameters") {
  auto model = std::make_shared<TwoLayers>();
  auto before = model->parameters();
  auto batch = make_batch(10);
  value_and_grad(*model, mse_loss(*model))(batch);
  auto after = model->parameters();
  REQUIRE(after.size() == before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    CAPTURE(after[i].first);
    CHECK(after[i].second.id() == before[i].second.id());
  }

  // Also when the loss throws.
  auto failing = [&model](const std::vector<mx::array>& batch)
      -> std::vector<mx::array> {
    (*model)(batch[0]);
    throw std::runtime_error("loss failed");
  };
  CHECK_THROWS_AS(value_and_grad(*model, failing)(batch), std::runtime_error);
  after = model->parameters();
  for (size_t i = 0; i < after.size(); ++i) {
    CAPTURE(after[i].first);
    CHECK(after[i].second.id() == before[i].second.id());
  }
}

TEST_CASE("value_and_grad skips frozen parameters") {
  auto model = std::make_shared<TwoLayers>();
  model->child("first")->freeze();
  auto [outputs, grads] =
      value_and_grad(*model, mse_loss(*model))(make_batch(10));
  std::vector<std::string> names;
  for (const auto& [name, grad] : grads) {
    names.push_back(name);
  }
  std::vector<std::string> expected = {"second.weight", "second.bias"};
  CHECK(names == expected);

  // With everything frozen the loss still runs and no gradient comes back.
  model->freeze();
  auto [frozen_outputs, no_grads] =
      value_and_grad(*model, mse_loss(*model))(make_batch(10));
  CHECK(frozen_outputs.size() == 1);
  CHECK(no_grads.empty());
}

TEST_CASE("value_and_grad auxiliary outputs") {
  auto model = std::make_shared<TwoLayers>();
  auto loss_fn = [&model](const std::vector<mx::array>& batch) {
    auto prediction = (*model)(batch[0]);
    auto loss = mx::mean(mx::square(mx::subtract(prediction, batch[1])));
    return std::vector<mx::array>{loss, prediction};
  };
  auto batch = make_batch(10);
  auto [outputs, grads] = value_and_grad(*model, loss_fn)(batch);
  REQUIRE(outputs.size() == 2);
  CHECK(close(outputs[1], (*model)(batch[0])));

  // The gradient is that of the first output only.
  auto [plain_outputs, plain_grads] =
      value_and_grad(*model, mse_loss(*model))(batch);
  CHECK(close(find(grads, "first.weight"), find(plain_grads, "first.weight")));
}

TEST_CASE("value_and_grad rejects a non-scalar loss") {
  auto model = std::make_shared<TwoLayers>();
  auto vector_loss = [&model](const std::vector<mx::array>& batch) {
    return std::vector<mx::array>{mx::sum((*model)(batch[0]), 0)};
  };
  auto no_output = [](const std::vector<mx::array>&) {
    return std::vector<mx::array>{};
  };
  CHECK_THROWS_AS(
      value_and_grad(*model, vector_loss)(make_batch(10)),
      std::invalid_argument);
  CHECK_THROWS_AS(
      value_and_grad(*model, no_output)(make_batch(10)), std::invalid_argument);
  CHECK_THROWS_AS(value_and_grad(*model, LossFn()), std::invalid_argument);
}

TEST_CASE("train step traces the loss once") {
  for (bool compile : {true, false}) {
    CAPTURE(compile);
    auto model = std::make_shared<TwoLayers>();
    auto optimizer = std::make_shared<optim::Adam>(0.01);
    int calls = 0;
    TrainStep step(model, optimizer, mse_loss(*model, &calls), compile);
    CHECK(step.compiled() == compile);
    auto batch = make_batch(10);
    for (int i = 0; i < 5; ++i) {
      auto outputs = step(batch);
      REQUIRE(outputs.size() == 1);
      step.eval();
      mx::eval(outputs);
    }
    CHECK(calls == (compile ? 1 : 5));
    CHECK(step_count(optimizer->step()) == 5);

    // A batch of another shape traces again.
    auto [x, y] = std::pair(batch[0], batch[1]);
    step({mx::concatenate({x, x}, 0), mx::concatenate({y, y}, 0)});
    CHECK(calls == (compile ? 2 : 6));
  }
}

TEST_CASE("train step compiled matches eager") {
  auto batches = std::vector{make_batch(10), make_batch(11), make_batch(12)};
  auto run = [&](bool compile) {
    auto model = std::make_shared<TwoLayers>();
    auto optimizer = std::make_shared<optim::AdamW>(
        0.05, std::array<double, 2>{0.9, 0.999}, 1e-8, 0.01, true);
    TrainStep step(model, optimizer, mse_loss(*model), compile);
    std::vector<mx::array> losses;
    for (int i = 0; i < 6; ++i) {
      losses.push_back(step(batches[i % batches.size()])[0]);
      step.eval();
    }
    return std::pair(losses, model->parameters());
  };
  auto [compiled_losses, compiled_params] = run(true);
  auto [eager_losses, eager_params] = run(false);
  for (size_t i = 0; i < compiled_losses.size(); ++i) {
    CAPTURE(i);
    CHECK(close(compiled_losses[i], eager_losses[i]));
  }
  CHECK(scalar(compiled_losses.back()) < scalar(compiled_losses.front()));
  for (size_t i = 0; i < compiled_params.size(); ++i) {
    CAPTURE(compiled_params[i].first);
    CHECK(close(compiled_params[i].second, eager_params[i].second));
  }
}

TEST_CASE("train step matches value_and_grad and update") {
  auto batch = make_batch(10);
  auto model = std::make_shared<TwoLayers>();
  auto optimizer = std::make_shared<optim::SGD>(0.1, 0.9);
  TrainStep step(model, optimizer, mse_loss(*model), false);

  auto manual_model = std::make_shared<TwoLayers>();
  optim::SGD manual_optimizer(0.1, 0.9);
  auto grad_fn = value_and_grad(*manual_model, mse_loss(*manual_model));

  for (int i = 0; i < 3; ++i) {
    auto loss = step(batch)[0];
    auto [outputs, grads] = grad_fn(batch);
    manual_optimizer.update(*manual_model, grads);
    CHECK(arrays_equal(loss, outputs[0]));
  }
  auto params = model->parameters();
  auto manual = manual_model->parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    CAPTURE(params[i].first);
    CHECK(arrays_equal(params[i].second, manual[i].second));
  }
}

TEST_CASE("train step draws new keys each step") {
  auto run = [](uint64_t seed, bool compile) {
    rmlx::random::seed(seed);
    auto model = std::make_shared<TwoLayers>();
    auto optimizer = std::make_shared<optim::SGD>(0.1);
    TrainStep step(model, optimizer, masked_loss(*model), compile);
    std::vector<mx::array> masks;
    for (int i = 0; i < 3; ++i) {
      auto outputs = step(make_batch(10));
      REQUIRE(outputs.size() == 2);
      masks.push_back(outputs[1]);
      step.eval();
    }
    return masks;
  };

  auto masks = run(7, true);
  CHECK_FALSE(arrays_equal(masks[0], masks[1]));
  CHECK_FALSE(arrays_equal(masks[1], masks[2]));

  // The same seed gives the same masks, compiled or not.
  auto again = run(7, true);
  auto eager = run(7, false);
  for (size_t i = 0; i < masks.size(); ++i) {
    CAPTURE(i);
    CHECK(arrays_equal(masks[i], again[i]));
    CHECK(arrays_equal(masks[i], eager[i]));
  }
  auto other = run(8, true);
  CHECK_FALSE(arrays_equal(masks[0], other[0]));
}

TEST_CASE("train step retraces on training mode") {
  auto model = std::make_shared<TwoLayers>(/* double_in_training */ true);
  auto optimizer = std::make_shared<optim::SGD>(0.1);
  int calls = 0;
  auto loss_fn = mse_loss(*model, &calls);
  TrainStep step(model, optimizer, loss_fn);
  auto batch = make_batch(10);

  for (bool training : {true, false, false, true}) {
    CAPTURE(training);
    model->train(training);
    int calls_before = calls;
    auto expected = scalar(loss_fn(batch)[0]);
    calls = calls_before;
    auto loss = step(batch)[0];
    CHECK(scalar(loss) == doctest::Approx(expected).epsilon(1e-5));
  }
  // Traces: training, evaluation, then the two cached functions again.
  CHECK(calls == 2);
}

TEST_CASE("train step follows freezing") {
  auto model = std::make_shared<TwoLayers>();
  auto optimizer = std::make_shared<optim::Adam>(0.01);
  int calls = 0;
  TrainStep step(model, optimizer, mse_loss(*model, &calls));
  auto batch = make_batch(10);
  step(batch);
  step.eval();

  model->child("first")->freeze();
  auto frozen_weight = model->child("first")->param("weight");
  auto second_weight = model->child("second")->param("weight");
  step(batch);
  step.eval();
  CHECK(calls == 2);
  CHECK(arrays_equal(model->child("first")->param("weight"), frozen_weight));
  CHECK_FALSE(arrays_equal(model->child("second")->param("weight"), second_weight));

  // A frozen parameter set from outside is an input, not a traced constant.
  model->child("first")->update({{"weight", mx::zeros({5, 4})}});
  auto expected = scalar(mse_loss(*model)(batch)[0]);
  CHECK(scalar(step(batch)[0]) == doctest::Approx(expected).epsilon(1e-5));
  CHECK(calls == 2);

  // Unfreezing returns to the first layout, whose function is cached.
  model->unfreeze();
  step(batch);
  step.eval();
  CHECK(calls == 2);
  CHECK_FALSE(arrays_equal(model->child("first")->param("weight"), mx::zeros({5, 4})));
}

TEST_CASE("train step keeps forward updates") {
  for (bool compile : {true, false}) {
    CAPTURE(compile);
    auto model = std::make_shared<Counter>();
    auto loss_fn = [&model](const std::vector<mx::array>& batch) {
      return std::vector<mx::array>{mx::sum((*model)(batch[0]))};
    };
    TrainStep step(model, std::make_shared<optim::SGD>(0.1), loss_fn, compile);
    auto batch = std::vector<mx::array>{mx::ones({2, 3})};
    for (int i = 0; i < 3; ++i) {
      step(batch);
      step.eval();
    }
    CHECK(scalar(model->param("count")) == 3.0f);
    // scale = 1 - 3 * 0.1 * 2, because each column of x sums to 2.
    CHECK(close(model->param("scale"), mx::full({3}, 0.4f)));
    CHECK(model->trainable_parameters().size() == 1);
  }
}

TEST_CASE("train step schedule matches eager") {
  auto schedule = [](const mx::array& step) {
    return mx::divide(
        mx::array(0.1f), mx::add(mx::array(1.0f), mx::astype(step, mx::float32)));
  };
  auto run = [&](bool compile) {
    auto model = std::make_shared<TwoLayers>();
    auto optimizer = std::make_shared<optim::SGD>(schedule, 0.9);
    TrainStep step(model, optimizer, mse_loss(*model), compile);
    for (int i = 0; i < 3; ++i) {
      step(make_batch(10 + i));
      step.eval();
    }
    // The third update used the schedule at step 2.
    CHECK(scalar(optimizer->learning_rate()) == doctest::Approx(0.1 / 3));
    return model->parameters();
  };
  auto compiled = run(true);
  auto eager = run(false);
  for (size_t i = 0; i < compiled.size(); ++i) {
    CAPTURE(compiled[i].first);
    CHECK(close(compiled[i].second, eager[i].second));
  }
}

TEST_CASE("train step resume equals uninterrupted run") {
  auto batch_for = [](int i) { return make_batch(20 + i); };
  auto make_optimizer = [] {
    return std::make_shared<optim::Adam>(
        0.01, std::array<double, 2>{0.9, 0.999}, 1e-8, true);
  };

  rmlx::random::seed(3);
  auto reference = std::make_shared<TwoLayers>();
  TrainStep reference_step(
      reference, make_optimizer(), masked_loss(*reference));
  for (int i = 0; i < 5; ++i) {
    reference_step(batch_for(i));
    reference_step.eval();
  }

  rmlx::random::seed(3);
  auto first = std::make_shared<TwoLayers>();
  auto first_optimizer = make_optimizer();
  TrainStep first_step(first, first_optimizer, masked_loss(*first));
  for (int i = 0; i < 2; ++i) {
    first_step(batch_for(i));
    first_step.eval();
  }

  // Save weights, optimizer state and key to files, as bindings would.
  auto directory = std::filesystem::temp_directory_path();
  auto weights_path = (directory / "rmlx_resume_weights.safetensors").string();
  auto state_path = (directory / "rmlx_resume_state.safetensors").string();
  first->save_weights(weights_path);
  std::unordered_map<std::string, mx::array> saved;
  for (const auto& [name, value] : first_optimizer->state()) {
    saved.insert_or_assign(name, value);
  }
  saved.insert_or_assign("key", first_step.key());
  mx::save_safetensors(state_path, saved);

  rmlx::random::seed(99);
  auto resumed = std::make_shared<TwoLayers>();
  resumed->load_weights(weights_path);
  auto [loaded, metadata] = mx::load_safetensors(state_path);
  std::filesystem::remove(weights_path);
  std::filesystem::remove(state_path);
  auto key = loaded.at("key");
  loaded.erase("key");
  auto resumed_optimizer = make_optimizer();
  resumed_optimizer->set_state(NamedArrays(loaded.begin(), loaded.end()));
  TrainStep resumed_step(resumed, resumed_optimizer, masked_loss(*resumed));
  resumed_step.set_key(key);
  for (int i = 2; i < 5; ++i) {
    resumed_step(batch_for(i));
    resumed_step.eval();
  }

  auto expected = reference->parameters();
  auto actual = resumed->parameters();
  for (size_t i = 0; i < expected.size(); ++i) {
    CAPTURE(expected[i].first);
    CHECK(arrays_equal(actual[i].second, expected[i].second));
  }
  CHECK(arrays_equal(resumed_step.key(), reference_step.key()));
}

TEST_CASE("train step restores state when the loss throws") {
  auto model = std::make_shared<TwoLayers>();
  auto optimizer = std::make_shared<optim::Adam>(0.01);
  bool fail = true;
  auto loss_fn = [&model, &fail](const std::vector<mx::array>& batch) {
    auto loss = mse_loss(*model)(batch);
    if (fail) {
      throw std::runtime_error("loss failed");
    }
    return loss;
  };
  TrainStep step(model, optimizer, loss_fn);
  auto before = model->parameters();
  CHECK_THROWS_AS(step(make_batch(10)), std::runtime_error);
  auto after = model->parameters();
  for (size_t i = 0; i < after.size(); ++i) {
    CAPTURE(after[i].first);
    CHECK(after[i].second.id() == before[i].second.id());
  }
  CHECK(step_count(optimizer->step()) == 0);

  // A failed trace leaves nothing behind, so the next call traces again.
  fail = false;
  auto loss = step(make_batch(10))[0];
  step.eval();
  CHECK(scalar(loss) > 0);
  CHECK(step_count(optimizer->step()) == 1);
}

TEST_CASE("train step errors") {
  auto model = std::make_shared<TwoLayers>();
  auto optimizer = std::make_shared<optim::SGD>(0.1);
  auto loss_fn = mse_loss(*model);
  CHECK_THROWS_AS(TrainStep(nullptr, optimizer, loss_fn), std::invalid_argument);
  CHECK_THROWS_AS(TrainStep(model, nullptr, loss_fn), std::invalid_argument);
  CHECK_THROWS_AS(TrainStep(model, optimizer, LossFn()), std::invalid_argument);

  TrainStep step(model, optimizer, loss_fn);
  CHECK_THROWS_AS(step.set_key(mx::zeros({2})), std::invalid_argument);
  CHECK_THROWS_AS(
      step.set_key(mx::zeros({3}, mx::uint32)), std::invalid_argument);
  CHECK_NOTHROW(step.set_key(mx::random::key(1)));
}
