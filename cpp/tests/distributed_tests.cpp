// Single-process checks of the distributed helpers. Runs with 2 and 3
// processes over the ring backend are in the R suite
// (r/tests/testthat/test-distributed.R), which calls the same C++ code.
#include <doctest/doctest.h>

#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <vector>

#include "rmlx/distributed.h"
#include "rmlx/nn/linear.h"
#include "rmlx/nn/losses.h"
#include "rmlx/nn/training.h"
#include "rmlx/optimizers/optimizers.h"
#include "test_utils.h"

namespace mx = mlx::core;
namespace dist = rmlx::distributed;
namespace nn = rmlx::nn;

using rmlx::test::arrays_close;

namespace {

// The ring backend reads these; a test run that inherits them from a
// distributed job would try to join that job.
bool launched_by_a_distributed_job() {
  return std::getenv("MLX_RANK") != nullptr ||
      std::getenv("MLX_HOSTFILE") != nullptr;
}

nn::NamedArrays example_gradients() {
  return {
      {"a.weight", mx::reshape(mx::arange(6.0f), {2, 3})},
      {"a.bias", mx::array({1.0f, -2.0f})},
      {"b.weight", mx::ones({4, 2})},
  };
}

} // namespace

TEST_CASE("reduction_chunks closes at the byte limit") {
  using Chunks = std::vector<std::vector<size_t>>;
  CHECK(dist::reduction_chunks({}, 8) == Chunks{});
  CHECK(dist::reduction_chunks({4, 4, 4}, 8) == Chunks{{0, 1}, {2}});
  CHECK(dist::reduction_chunks({4, 4, 4}, 4) == Chunks{{0}, {1}, {2}});
  CHECK(dist::reduction_chunks({4, 4, 4}, 1000) == Chunks{{0, 1, 2}});
  CHECK(dist::reduction_chunks({10, 1, 1}, 8) == Chunks{{0}, {1, 2}});
}

TEST_CASE("init rejects an unknown backend") {
  CHECK_THROWS_AS(dist::init("gloo"), std::invalid_argument);
  CHECK_THROWS_AS(dist::init("tcp", false, 1.0), std::invalid_argument);
}

TEST_CASE("init alone gives a group of size 1") {
  if (launched_by_a_distributed_job()) {
    MESSAGE("skipped: MLX_RANK or MLX_HOSTFILE is set");
    return;
  }
  auto group = dist::init("any", false);
  CHECK(group.rank() == 0);
  CHECK(group.size() == 1);

  auto timed = dist::init("any", false, 5.0);
  CHECK(timed.size() == 1);

  CHECK_THROWS_AS(dist::init("ring", true, 5.0), std::runtime_error);
}

TEST_CASE("collectives in a group of size 1") {
  if (launched_by_a_distributed_job()) {
    MESSAGE("skipped: MLX_RANK or MLX_HOSTFILE is set");
    return;
  }
  auto group = dist::init();
  auto x = mx::array({1.0f, 2.0f, 3.0f});
  CHECK(arrays_close(mx::distributed::all_sum(x, group), x));
  CHECK(arrays_close(mx::distributed::all_gather(x, group), x));
}

TEST_CASE("average_gradients in a group of size 1") {
  if (launched_by_a_distributed_job()) {
    MESSAGE("skipped: MLX_RANK or MLX_HOSTFILE is set");
    return;
  }
  auto gradients = example_gradients();
  for (int64_t all_reduce_size : {int64_t{0}, int64_t{8}, dist::default_all_reduce_size}) {
    auto averaged = dist::average_gradients(gradients, dist::init(), all_reduce_size);
    REQUIRE(averaged.size() == gradients.size());
    for (size_t i = 0; i < gradients.size(); ++i) {
      CHECK(averaged[i].first == gradients[i].first);
      CHECK(arrays_close(averaged[i].second, gradients[i].second));
    }
  }
  CHECK(dist::average_gradients({}).empty());
}

TEST_CASE("TrainStep with a group of size 1") {
  if (launched_by_a_distributed_job()) {
    MESSAGE("skipped: MLX_RANK or MLX_HOSTFILE is set");
    return;
  }
  auto x = mx::random::normal({8, 3}, mx::float32, mx::random::key(1));
  auto y = mx::random::normal({8, 2}, mx::float32, mx::random::key(2));
  auto make_model = [] {
    auto model = std::make_shared<nn::Linear>(3, 2);
    model->update({{"weight", mx::reshape(mx::arange(6.0f), {2, 3})},
                   {"bias", mx::zeros({2})}});
    return model;
  };

  std::vector<std::shared_ptr<nn::Linear>> models;
  for (bool with_group : {false, true}) {
    auto model = make_model();
    auto loss = [model, y](const std::vector<mx::array>& batch) {
      return std::vector<mx::array>{
          nn::mse_loss((*model)(batch[0]), y, "mean")};
    };
    auto optimizer = std::make_shared<rmlx::optimizers::SGD>(0.1);
    std::optional<mx::distributed::Group> group;
    if (with_group) {
      group = dist::init();
    }
    nn::TrainStep step(model, optimizer, loss, true, group);
    for (int i = 0; i < 3; ++i) {
      step({x});
    }
    step.eval();
    models.push_back(model);
  }
  CHECK(arrays_close(
      models[0]->parameters()[0].second, models[1]->parameters()[0].second));
}
