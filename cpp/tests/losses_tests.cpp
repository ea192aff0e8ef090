#include <doctest/doctest.h>

#include <string>

#include "rmlx/nn/losses.h"
#include "test_utils.h"

using namespace rmlx::nn;
using rmlx::test::arrays_close;
using rmlx::test::arrays_equal;
using rmlx::test::Fixture;
using rmlx::test::gradient_matches;

namespace {

const char* const kReductions[] = {"none", "mean", "sum"};

} // namespace

TEST_CASE("mse and l1 losses match MLX Python and PyTorch") {
  Fixture fixture("losses");
  const mx::array& predictions = fixture["reg_predictions"];
  const mx::array& targets = fixture["reg_targets"];
  for (std::string reduction : kReductions) {
    CAPTURE(reduction);
    mx::array mse = mse_loss(predictions, targets, reduction);
    CHECK(arrays_close(mse, fixture["mse_" + reduction]));
    CHECK(arrays_close(mse, fixture["torch_mse_" + reduction]));
    mx::array l1 = l1_loss(predictions, targets, reduction);
    CHECK(arrays_close(l1, fixture["l1_" + reduction]));
    CHECK(arrays_close(l1, fixture["torch_l1_" + reduction]));
  }
  // The default reduction is the mean.
  CHECK(arrays_equal(mse_loss(predictions, targets), fixture["mse_mean"]));
  CHECK(arrays_equal(l1_loss(predictions, targets), fixture["l1_mean"]));
}

TEST_CASE("mse and l1 losses reject invalid arguments") {
  mx::array a = mx::zeros({2, 3});
  CHECK_THROWS_AS(mse_loss(a, mx::zeros({3, 2})), std::invalid_argument);
  CHECK_THROWS_AS(l1_loss(a, mx::zeros({2, 3, 1})), std::invalid_argument);
  CHECK_THROWS_AS(mse_loss(a, a, "avg"), std::invalid_argument);
  CHECK_THROWS_AS(l1_loss(a, a, "Mean"), std::invalid_argument);
}

TEST_CASE("binary cross entropy matches MLX Python and PyTorch") {
  Fixture fixture("losses");
  const mx::array& logits = fixture["bce_logits"];
  const mx::array& probabilities = fixture["bce_probs"];
  const mx::array& targets = fixture["bce_targets"];
  for (std::string reduction : kReductions) {
    CAPTURE(reduction);
    mx::array with_logits =
        binary_cross_entropy(logits, targets, std::nullopt, true, reduction);
    CHECK(arrays_close(with_logits, fixture["bce_logits_" + reduction]));
    CHECK(arrays_close(
        with_logits, fixture["torch_bce_logits_" + reduction], 1e-5, 1e-6));

    // Probabilities of exactly 0 and 1 take the log clipped at -100.
    mx::array with_probs = binary_cross_entropy(
        probabilities, targets, std::nullopt, false, reduction);
    CHECK(arrays_close(with_probs, fixture["bce_probs_" + reduction]));
    CHECK(arrays_close(
        with_probs, fixture["torch_bce_probs_" + reduction], 1e-5, 1e-6));
  }
  CHECK(arrays_equal(
      binary_cross_entropy(logits, targets), fixture["bce_logits_mean"]));
}

TEST_CASE("binary cross entropy with weights") {
  Fixture fixture("losses");
  const mx::array& weights = fixture["bce_weights"];
  mx::array weighted = binary_cross_entropy(
      fixture["bce_logits"], fixture["bce_targets"], weights, true, "none");
  CHECK(arrays_close(weighted, fixture["bce_logits_weighted"]));
  CHECK(arrays_close(
      weighted, fixture["torch_bce_logits_weighted"], 1e-5, 1e-6));
  mx::array weighted_mean = binary_cross_entropy(
      fixture["bce_probs"], fixture["bce_targets"], weights, false);
  CHECK(arrays_close(weighted_mean, fixture["bce_probs_weighted_mean"]));
}

TEST_CASE("binary cross entropy takes integer targets") {
  Fixture fixture("losses");
  mx::array targets = mx::astype(fixture["bce_targets"], mx::int32);
  CHECK(arrays_close(
      binary_cross_entropy(fixture["bce_logits"], targets, std::nullopt, true,
                           "none"),
      fixture["bce_logits_none"]));
  CHECK(arrays_close(
      binary_cross_entropy(fixture["bce_probs"], targets, std::nullopt, false,
                           "none"),
      fixture["bce_probs_none"]));
}

TEST_CASE("binary cross entropy rejects invalid arguments") {
  mx::array x = mx::zeros({4});
  CHECK_THROWS_AS(binary_cross_entropy(x, mx::zeros({2, 2})),
                  std::invalid_argument);
  CHECK_THROWS_AS(binary_cross_entropy(x, x, mx::ones({3})),
                  std::invalid_argument);
  // Weights must match the elementwise loss even when it is reduced.
  CHECK_THROWS_AS(binary_cross_entropy(x, x, mx::ones({1})),
                  std::invalid_argument);
  CHECK_THROWS_AS(binary_cross_entropy(x, x, std::nullopt, true, "max"),
                  std::invalid_argument);
}

TEST_CASE("cross entropy with class indices matches MLX Python") {
  Fixture fixture("losses");
  const mx::array& logits = fixture["ce_logits"];
  const mx::array& indices = fixture["ce_target_indices"];
  for (std::string reduction : kReductions) {
    CAPTURE(reduction);
    CHECK(arrays_close(
        cross_entropy(logits, indices, std::nullopt, -1, 0.0, reduction),
        fixture["ce_indices_" + reduction]));
  }
  // The default reduction is "none".
  CHECK(arrays_equal(
      cross_entropy(logits, indices), fixture["ce_indices_none"]));
  CHECK(arrays_close(
      cross_entropy(logits, indices), fixture["torch_ce_indices_none"], 1e-5,
      1e-6));
  CHECK(arrays_close(
      cross_entropy(logits, mx::astype(indices, mx::int64)),
      fixture["ce_indices_none"]));
  CHECK(arrays_close(
      cross_entropy(logits, indices, fixture["ce_weights"]),
      fixture["ce_indices_weighted"]));
}

TEST_CASE("cross entropy with probabilities matches MLX Python") {
  Fixture fixture("losses");
  const mx::array& logits = fixture["ce_logits"];
  const mx::array& probabilities = fixture["ce_target_probs"];
  CHECK(arrays_close(
      cross_entropy(logits, probabilities), fixture["ce_probs_none"]));
  CHECK(arrays_close(
      cross_entropy(logits, probabilities), fixture["torch_ce_probs_none"],
      1e-5, 1e-6));
}

TEST_CASE("cross entropy label smoothing matches PyTorch") {
  Fixture fixture("losses");
  const mx::array& logits = fixture["ce_logits"];
  mx::array indices_smoothed = cross_entropy(
      logits, fixture["ce_target_indices"], std::nullopt, -1, 0.1);
  CHECK(arrays_close(indices_smoothed, fixture["ce_indices_smoothed"]));
  CHECK(arrays_close(
      indices_smoothed, fixture["torch_ce_indices_smoothed"], 1e-5, 1e-5));

  mx::array probs_smoothed = cross_entropy(
      logits, fixture["ce_target_probs"], std::nullopt, -1, 0.3);
  CHECK(arrays_close(probs_smoothed, fixture["ce_probs_smoothed"]));
  CHECK(arrays_close(
      probs_smoothed, fixture["torch_ce_probs_smoothed"], 1e-5, 1e-5));
}

TEST_CASE("cross entropy along another axis") {
  Fixture fixture("losses");
  mx::array logits = mx::transpose(fixture["ce_logits"]);
  CHECK(arrays_close(
      cross_entropy(logits, fixture["ce_target_indices"], std::nullopt, 0),
      fixture["ce_axis0"]));
  CHECK(arrays_close(
      cross_entropy(
          logits, mx::transpose(fixture["ce_target_probs"]), std::nullopt, 0),
      fixture["ce_axis0_probs"]));

  CHECK(arrays_close(
      cross_entropy(
          fixture["ce_logits_3d"], fixture["ce_target_indices_3d"],
          std::nullopt, -1, 0.0, "mean"),
      fixture["ce_3d_mean"]));
}

TEST_CASE("cross entropy on infinite logits matches MLX Python") {
  Fixture fixture("losses");
  mx::array targets = mx::array({0, 1});
  CHECK(arrays_close(
      cross_entropy(fixture["ce_logits_inf"], targets), fixture["ce_inf"]));
}

TEST_CASE("cross entropy fused kernel agrees with the general path") {
  // The GPU takes mx::fast::cross_entropy; MLX also runs it on the CPU.
  Fixture fixture("losses");
  mx::array fused = mx::fast::cross_entropy(
      fixture["ce_logits"], fixture["ce_target_indices"]);
  CHECK(arrays_close(fused, fixture["ce_indices_none"], 1e-5, 1e-5));
}

TEST_CASE("cross entropy rejects invalid arguments") {
  mx::array logits = mx::zeros({4, 3});
  mx::array indices = mx::array({0, 1, 2, 0});
  CHECK_THROWS_AS(cross_entropy(logits, mx::array({0, 1})),
                  std::invalid_argument);
  CHECK_THROWS_AS(cross_entropy(logits, mx::zeros({4, 2})),
                  std::invalid_argument);
  CHECK_THROWS_AS(cross_entropy(logits, mx::zeros({4})),
                  std::invalid_argument);
  CHECK_THROWS_AS(cross_entropy(logits, indices, mx::ones({3})),
                  std::invalid_argument);
  CHECK_THROWS_AS(cross_entropy(logits, indices, std::nullopt, -1, 1.0),
                  std::invalid_argument);
  CHECK_THROWS_AS(cross_entropy(logits, indices, std::nullopt, -1, -0.1),
                  std::invalid_argument);
  CHECK_THROWS_AS(cross_entropy(logits, indices, std::nullopt, 2),
                  std::invalid_argument);
  CHECK_THROWS_AS(cross_entropy(logits, indices, std::nullopt, -3),
                  std::invalid_argument);
  CHECK_THROWS_AS(
      cross_entropy(logits, indices, std::nullopt, -1, 0.0, "average"),
      std::invalid_argument);
}

TEST_CASE("cross entropy shape error names both target shapes") {
  // Targets with as many axes as the logits read as probabilities, so the
  // message must still give the class-index shape without the class axis.
  CHECK_THROWS_WITH(
      cross_entropy(mx::zeros({3}), mx::array({0})),
      "[cross_entropy] Expected targets of shape () (class indices) or (3,) "
      "(probabilities) for logits of shape (3,) but received shape (1,).");
}

TEST_CASE("class index range check") {
  CHECK_NOTHROW(check_class_indices(mx::array({0, 2, 1}), 3));
  CHECK_NOTHROW(check_class_indices(mx::zeros({0}, mx::int32), 3));
  CHECK_THROWS_AS(check_class_indices(mx::array({0, 3}), 3),
                  std::invalid_argument);
  CHECK_THROWS_AS(check_class_indices(mx::array({-1, 0}), 3),
                  std::invalid_argument);
  CHECK_THROWS_AS(check_class_indices(mx::array({0.0f, 1.0f}), 3),
                  std::invalid_argument);
}

TEST_CASE("loss gradients match finite differences") {
  mx::random::seed(5);
  mx::array predictions = mx::random::normal({3, 4});
  mx::array targets = mx::random::normal({3, 4});
  mx::array binary = mx::array({0.0, 1.0, 1.0, 0.0, 1.0, 0.0}, {2, 3});
  mx::array probabilities = mx::array({0.3, 0.7, 0.4, 0.6, 0.5, 0.45}, {2, 3});
  mx::array indices = mx::array({2, 0, 3});
  mx::array class_probs = mx::softmax(mx::random::normal({3, 4}), -1);

  auto as64 = [](const mx::array& a) { return mx::astype(a, mx::float64); };
  CHECK(gradient_matches(
      [&](const mx::array& p) { return mse_loss(p, as64(targets)); },
      predictions));
  CHECK(gradient_matches(
      [&](const mx::array& p) { return l1_loss(p, as64(targets), "sum"); },
      predictions));
  CHECK(gradient_matches(
      [&](const mx::array& x) { return binary_cross_entropy(x, binary); },
      mx::array({-2.0, 0.5, 1.0, 3.0, -0.1, 0.0}, {2, 3})));
  CHECK(gradient_matches(
      [&](const mx::array& p) {
        return binary_cross_entropy(p, binary, std::nullopt, false, "sum");
      },
      probabilities));
  for (double smoothing : {0.0, 0.2}) {
    CAPTURE(smoothing);
    CHECK(gradient_matches(
        [&](const mx::array& z) {
          return cross_entropy(
              z, indices, std::nullopt, -1, smoothing, "mean");
        },
        predictions));
    CHECK(gradient_matches(
        [&](const mx::array& z) {
          return cross_entropy(
              z, as64(class_probs), std::nullopt, -1, smoothing, "sum");
        },
        predictions));
  }
}

TEST_CASE("losses accept a stream") {
  mx::array a = mx::array({1.0f, 2.0f});
  mx::array b = mx::array({0.0f, 4.0f});
  mx::StreamOrDevice cpu = mx::Device::cpu;
  CHECK(arrays_equal(mse_loss(a, b, "mean", cpu), mse_loss(a, b)));
  CHECK(arrays_equal(
      cross_entropy(mx::reshape(a, {1, 2}), mx::array({1}), std::nullopt, -1,
                    0.0, "none", cpu),
      cross_entropy(mx::reshape(a, {1, 2}), mx::array({1}))));
}
