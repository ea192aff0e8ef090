// Split batches: value_and_grad and TrainStep over parts traced on the
// streams of parallel::batch_streams() against the same batch run whole.
#include <doctest/doctest.h>

#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <mlx/scheduler.h>

#include "rmlx/nn/containers.h"
#include "rmlx/nn/linear.h"
#include "rmlx/nn/normalization.h"
#include "rmlx/nn/training.h"
#include "rmlx/parallel.h"

using namespace rmlx::nn;
namespace optim = rmlx::optimizers;
namespace parallel = rmlx::parallel;

namespace {

ModulePtr make_model() {
  mx::random::seed(3);
  return std::make_shared<Sequential>(std::vector<ModulePtr>{
      std::make_shared<Linear>(4, 6), std::make_shared<Linear>(6, 3)});
}

// n examples: x of shape (n, 4) and targets y of shape (n, 3).
std::vector<mx::array> make_batch(int n) {
  auto [x_key, y_key] = mx::random::split(mx::random::key(11));
  return {
      mx::random::normal({n, 4}, mx::float32, x_key),
      mx::random::normal({n, 3}, mx::float32, y_key)};
}

// The squared error of each example reduced by mean or sum, then the
// per-example errors (n) and their sum as extra outputs.
LossFn squared_error(Module& model, BatchReduction reduction) {
  return [&model, reduction](const std::vector<mx::array>& batch) {
    auto per_example = mx::sum(
        mx::square(mx::subtract(model(batch[0]), batch[1])), 1);
    auto loss = reduction == BatchReduction::mean ? mx::mean(per_example)
                                                  : mx::sum(per_example);
    return std::vector<mx::array>{loss, per_example, mx::sum(per_example)};
  };
}

// The squared error alone.
LossFn squared_error_only(Module& model) {
  return [&model](const std::vector<mx::array>& batch) {
    auto difference = mx::subtract(model(batch[0]), batch[1]);
    return std::vector<mx::array>{mx::mean(mx::sum(mx::square(difference), 1))};
  };
}

bool close(const mx::array& a, const mx::array& b) {
  return a.shape() == b.shape() &&
      mx::allclose(a, b, /* rtol */ 1e-5, /* atol */ 1e-6).item<bool>();
}

// Checks the loss, the per-example outputs and the gradients.
void check_same(const ValueAndGrad& a, const ValueAndGrad& b) {
  REQUIRE(a.first.size() == b.first.size());
  for (size_t i = 0; i < 2; ++i) {
    CAPTURE(i);
    CHECK(close(a.first[i], b.first[i]));
  }
  REQUIRE(a.second.size() == b.second.size());
  for (size_t i = 0; i < a.second.size(); ++i) {
    CAPTURE(a.second[i].first);
    CHECK(a.second[i].first == b.second[i].first);
    CHECK(close(a.second[i].second, b.second[i].second));
  }
}

// Runs `fn` on the thread of `stream` and returns its result.
int on_stream_thread(mx::Stream stream, int (*fn)()) {
  std::promise<int> result;
  auto value = result.get_future();
  mx::scheduler::enqueue(stream, [&result, fn] { result.set_value(fn()); });
  return value.get();
}

} // namespace

TEST_CASE("batch streams are distinct and share the processors") {
  auto streams = parallel::batch_streams(2);
  REQUIRE(streams.size() == 2);
  CHECK(streams[0] != streams[1]);
  CHECK(streams[0] != mx::default_stream(mx::Device::cpu));
  CHECK(parallel::batch_streams(1)[0] == streams[0]);

  int processors = parallel::available_processors();
  CHECK(processors >= 1);
  CHECK(parallel::kernel_threads() == processors);
  parallel::batch_streams(2);
  CHECK(on_stream_thread(streams[1], parallel::kernel_threads) ==
        std::max(1, processors / 2));
}

TEST_CASE("BLAS thread scope restores the count") {
  int before = parallel::blas_threads();
  if (before == 0) {
    // MLX's own reference BLAS: nothing to set.
    CHECK_FALSE(parallel::set_blas_threads(1));
    return;
  }
  {
    parallel::BlasThreadsScope scope(1);
    CHECK(parallel::blas_threads() == 1);
  }
  CHECK(parallel::blas_threads() == before);
}

TEST_CASE("split value_and_grad equals the whole batch") {
  for (auto reduction : {BatchReduction::mean, BatchReduction::sum}) {
    // 7 examples in 2 and 3 parts give parts of unequal size; 2 examples
    // in 3 parts run as 2 parts.
    for (auto [n, parts] : {std::pair{7, 2}, std::pair{7, 3}, std::pair{2, 3}}) {
      CAPTURE(n);
      CAPTURE(parts);
      CAPTURE(static_cast<int>(reduction));
      auto model = make_model();
      auto batch = make_batch(n);
      auto loss_fn = squared_error(*model, reduction);
      auto whole = value_and_grad(*model, loss_fn)(batch);
      auto split = value_and_grad(
          *model, loss_fn, BatchSplit{parts, reduction})(batch);
      mx::eval(split.first);
      check_same(split, whole);
      CHECK(split.first[1].shape() == mx::Shape{n});
      // The extra scalar output, a sum over the examples, is combined as
      // the loss is: summed, or as the size-weighted mean of the parts'
      // sums.
      auto sizes = std::vector<int>{};
      for (int p = 0; p < std::min(n, parts); ++p) {
        sizes.push_back(n * (p + 1) / std::min(n, parts) - n * p / std::min(n, parts));
      }
      if (reduction == BatchReduction::sum) {
        CHECK(close(split.first[2], whole.first[2]));
      } else {
        float expected = 0;
        int first = 0;
        for (int size : sizes) {
          auto part = mx::slice(whole.first[1], {first}, {first + size});
          expected += mx::sum(part).item<float>() * size / n;
          first += size;
        }
        CHECK(split.first[2].item<float>() == doctest::Approx(expected).epsilon(1e-5));
      }
    }
  }
}

TEST_CASE("split integer and 16-bit scalar outputs") {
  auto model = make_model();
  auto batch = make_batch(9);
  // The loss, the part's example count (int32) and the loss in bfloat16.
  LossFn loss_fn = [&model](const std::vector<mx::array>& batch) {
    auto difference = mx::subtract((*model)(batch[0]), batch[1]);
    auto loss = mx::mean(mx::sum(mx::square(difference), 1));
    auto count = mx::array(static_cast<int>(batch[0].shape(0)));
    return std::vector<mx::array>{loss, count, mx::astype(loss, mx::bfloat16)};
  };
  auto whole = value_and_grad(*model, loss_fn)(batch);

  // Three parts of 3 examples: the size-weighted mean of the counts is 3.
  auto mean = value_and_grad(*model, loss_fn, BatchSplit{3})(batch);
  CHECK(mean.first[1].dtype() == mx::float32);
  CHECK(mean.first[1].item<float>() == doctest::Approx(3.0));
  CHECK(mean.first[2].dtype() == mx::bfloat16);
  CHECK(
      mx::astype(mean.first[2], mx::float32).item<float>() ==
      doctest::Approx(mx::astype(whole.first[2], mx::float32).item<float>())
          .epsilon(1e-2));

  auto sum = value_and_grad(
      *model, loss_fn, BatchSplit{3, BatchReduction::sum})(batch);
  CHECK(sum.first[1].dtype() == mx::int32);
  CHECK(sum.first[1].item<int>() == 9);
}

TEST_CASE("split train step equals the whole batch") {
  auto run = [](int parts, bool compile) {
    auto model = make_model();
    auto optimizer = std::make_shared<optim::SGD>(0.1, 0.9);
    TrainStep step(
        model,
        optimizer,
        squared_error_only(*model),
        compile,
        std::nullopt,
        int64_t{32} * 1024 * 1024,
        BatchSplit{parts, BatchReduction::mean});
    std::vector<mx::array> losses;
    for (int i = 0; i < 3; ++i) {
      auto outputs = step(make_batch(9));
      step.eval(outputs);
      losses.push_back(outputs[0]);
    }
    return std::pair(losses, model->parameters());
  };
  for (bool compile : {false, true}) {
    CAPTURE(compile);
    auto [whole_losses, whole_params] = run(1, compile);
    auto [split_losses, split_params] = run(2, compile);
    for (size_t i = 0; i < whole_losses.size(); ++i) {
      CHECK(close(split_losses[i], whole_losses[i]));
    }
    CHECK(whole_losses.back().item<float>() < whole_losses.front().item<float>());
    for (size_t i = 0; i < whole_params.size(); ++i) {
      CAPTURE(whole_params[i].first);
      CHECK(close(split_params[i].second, whole_params[i].second));
    }
  }
}

TEST_CASE("split batch errors") {
  auto model = make_model();
  auto loss_fn = squared_error(*model, BatchReduction::mean);
  auto split = value_and_grad(*model, loss_fn, BatchSplit{2});

  auto batch = make_batch(6);
  auto short_targets = std::vector{batch[0], mx::slice(batch[1], {0, 0}, {5, 3})};
  CHECK_THROWS_WITH_AS(
      split(short_targets),
      doctest::Contains("input 2 has shape (5,3)"),
      std::invalid_argument);
  CHECK_THROWS_WITH_AS(
      split({mx::array(1.0f)}),
      doctest::Contains("share its first axis"),
      std::invalid_argument);
  CHECK_THROWS_WITH_AS(
      value_and_grad(*model, loss_fn, BatchSplit{0}),
      doctest::Contains("from 1 to 256, but is 0"),
      std::invalid_argument);
  CHECK_THROWS_WITH_AS(
      value_and_grad(*model, loss_fn, BatchSplit{BatchSplit::kMaxParts + 1}),
      doctest::Contains("from 1 to 256, but is 257"),
      std::invalid_argument);

  auto normalized = std::make_shared<Sequential>(std::vector<ModulePtr>{
      std::make_shared<Linear>(4, 3), std::make_shared<BatchNorm>(3)});
  auto bn_split = value_and_grad(
      *normalized, squared_error(*normalized, BatchReduction::mean),
      BatchSplit{2});
  CHECK_THROWS_WITH_AS(
      bn_split(batch),
      doctest::Contains("BatchNorm in training mode (layers.1)"),
      std::invalid_argument);
  normalized->train(false);
  CHECK_NOTHROW(bn_split(batch));
}
