// Tests of the nll, KL divergence, cosine similarity, hinge, margin ranking,
// triplet, smooth L1, Huber, Gaussian NLL and log cosh losses, and of the
// cross entropies at large magnitudes. The fixture loss_functions comes
// from tools/fixtures/make_loss_fixtures.py.
#include <doctest/doctest.h>

#include <cmath>
#include <string>

#include "rmlx/nn/losses.h"
#include "test_utils.h"

using namespace rmlx::nn;
using rmlx::test::arrays_close;
using rmlx::test::Fixture;
using rmlx::test::gradient_matches;

namespace {

const char* const kReductions[] = {"none", "mean", "sum"};

Fixture& fixture() {
  static Fixture loaded("loss_functions");
  return loaded;
}

const mx::array& fx(const std::string& key) {
  return fixture()[key];
}

mx::array as64(const mx::array& a) {
  return mx::astype(a, mx::float64);
}

} // namespace

TEST_CASE("nll loss matches MLX Python and PyTorch") {
  for (std::string reduction : kReductions) {
    CAPTURE(reduction);
    mx::array loss =
        nll_loss(fx("nll_inputs"), fx("nll_targets"), -1, reduction);
    CHECK(arrays_close(loss, fx("nll_" + reduction)));
    CHECK(arrays_close(loss, fx("torch_nll_" + reduction)));
  }
  CHECK(arrays_close(
      nll_loss(fx("nll_inputs"), fx("nll_targets")), fx("nll_none")));
  CHECK(arrays_close(
      nll_loss(mx::transpose(fx("nll_inputs")), fx("nll_targets"), 0),
      fx("nll_axis0")));
  mx::array loss_3d =
      nll_loss(fx("nll_inputs_3d"), fx("nll_targets_3d"), 1, "mean");
  CHECK(arrays_close(loss_3d, fx("nll_3d_axis1_mean")));
  CHECK(arrays_close(loss_3d, fx("torch_nll_3d_axis1_mean")));
}

TEST_CASE("nll loss rejects invalid arguments") {
  mx::array inputs = mx::zeros({4, 3});
  CHECK_THROWS_AS(nll_loss(inputs, mx::array({0, 1})), std::invalid_argument);
  CHECK_THROWS_AS(nll_loss(inputs, mx::zeros({4})), std::invalid_argument);
  CHECK_THROWS_AS(nll_loss(inputs, mx::array({0, 1, 2, 0}), 2),
                  std::invalid_argument);
  CHECK_THROWS_AS(nll_loss(inputs, mx::array({0, 1, 2, 0}), -3),
                  std::invalid_argument);
  CHECK_THROWS_AS(nll_loss(inputs, mx::array({0, 1, 2, 0}), -1, "avg"),
                  std::invalid_argument);
}

TEST_CASE("kl divergence matches MLX Python and PyTorch") {
  for (std::string reduction : kReductions) {
    CAPTURE(reduction);
    CHECK(arrays_close(
        kl_div_loss(fx("kl_inputs"), fx("kl_targets"), -1, reduction),
        fx("kl_" + reduction)));
  }
  CHECK(arrays_close(
      kl_div_loss(fx("kl_inputs"), fx("kl_targets")), fx("torch_kl_none")));
  CHECK(arrays_close(
      kl_div_loss(fx("kl_inputs"), fx("kl_targets"), 0), fx("kl_axis0")));
}

TEST_CASE("kl divergence with zero target probabilities") {
  // MLX Python returns NaN for these rows; the reference is PyTorch's xlogy.
  mx::array loss = kl_div_loss(fx("kl_inputs"), fx("kl_targets_inf"));
  CHECK(arrays_close(loss, fx("ref_kl_inf")));
  CHECK(mx::any(mx::isnan(fx("kl_inf_mlx"))).item<bool>());

  // A NaN input still propagates in a class of target probability 0.
  mx::array inputs = mx::array({NAN, -1.0f}, {1, 2});
  mx::array targets = mx::array({-INFINITY, 0.0f}, {1, 2});
  CHECK(std::isnan(kl_div_loss(inputs, targets).item<float>()));
}

TEST_CASE("kl divergence rejects invalid arguments") {
  mx::array inputs = mx::zeros({2, 3});
  CHECK_THROWS_AS(kl_div_loss(inputs, mx::zeros({3})), std::invalid_argument);
  CHECK_THROWS_AS(kl_div_loss(inputs, inputs, 2), std::invalid_argument);
}

TEST_CASE("cosine similarity matches MLX Python and PyTorch") {
  for (std::string reduction : kReductions) {
    CAPTURE(reduction);
    CHECK(arrays_close(
        cosine_similarity_loss(fx("cos_x1"), fx("cos_x2"), 1, 1e-8, reduction),
        fx("cos_" + reduction)));
  }
  CHECK(arrays_close(
      cosine_similarity_loss(fx("cos_x1"), fx("cos_x2")),
      fx("torch_cos_none")));
  mx::array axis0 = cosine_similarity_loss(fx("cos_x1"), fx("cos_x2"), 0);
  CHECK(arrays_close(axis0, fx("cos_axis0")));
  CHECK(arrays_close(axis0, fx("torch_cos_axis0")));
  CHECK(arrays_close(
      cosine_similarity_loss(fx("cos_small_x1"), fx("cos_small_x2"), 1, 1e-4),
      fx("cos_eps")));
}

TEST_CASE("cosine similarity of huge vectors") {
  mx::array loss = cosine_similarity_loss(fx("cos_huge_x1"), fx("cos_huge_x2"));
  CHECK(arrays_close(loss, fx("ref_cos_huge")));
  CHECK(mx::all(mx::isnan(fx("cos_huge_mlx"))).item<bool>());
}

TEST_CASE("cosine similarity rejects invalid arguments") {
  mx::array x = mx::ones({2, 3});
  CHECK_THROWS_AS(cosine_similarity_loss(x, mx::ones({3, 2})),
                  std::invalid_argument);
  CHECK_THROWS_AS(cosine_similarity_loss(x, x, 2), std::invalid_argument);
  CHECK_THROWS_AS(cosine_similarity_loss(x, x, 1, 0.0),
                  std::invalid_argument);
  CHECK_THROWS_AS(cosine_similarity_loss(x, x, 1, -1e-8),
                  std::invalid_argument);
  CHECK_THROWS_AS(cosine_similarity_loss(mx::ones({3}), mx::ones({3})),
                  std::invalid_argument);
}

TEST_CASE("hinge loss matches MLX Python") {
  for (std::string reduction : kReductions) {
    CAPTURE(reduction);
    CHECK(arrays_close(
        hinge_loss(fx("hinge_inputs"), fx("hinge_targets"), reduction),
        fx("hinge_" + reduction)));
  }
  CHECK(arrays_close(
      hinge_loss(fx("hinge_inputs"), fx("hinge_targets")),
      fx("ref_hinge_none")));
  CHECK_THROWS_AS(hinge_loss(mx::ones({3}), mx::ones({1})),
                  std::invalid_argument);
}

TEST_CASE("margin ranking loss matches MLX Python and PyTorch") {
  const std::pair<double, std::string> margins[] = {
      {0.0, "m0"}, {0.5, "m05"}, {-0.3, "mneg"}};
  for (const auto& [margin, label] : margins) {
    for (std::string reduction : kReductions) {
      CAPTURE(label);
      CAPTURE(reduction);
      mx::array loss = margin_ranking_loss(
          fx("rank_inputs1"), fx("rank_inputs2"), fx("rank_targets"), margin,
          reduction);
      std::string key = "rank_" + label + "_" + reduction;
      CHECK(arrays_close(loss, fx(key)));
      CHECK(arrays_close(loss, fx("torch_" + key)));
    }
  }
  mx::array x = mx::ones({3});
  CHECK_THROWS_AS(margin_ranking_loss(x, mx::ones({2}), x),
                  std::invalid_argument);
  CHECK_THROWS_AS(margin_ranking_loss(x, x, mx::ones({1})),
                  std::invalid_argument);
  CHECK_THROWS_AS(margin_ranking_loss(x, x, x, NAN), std::invalid_argument);
}

TEST_CASE("triplet loss matches MLX Python and PyTorch") {
  const mx::array& a = fx("triplet_anchors");
  const mx::array& p = fx("triplet_positives");
  const mx::array& n = fx("triplet_negatives");
  for (std::string reduction : kReductions) {
    CAPTURE(reduction);
    CHECK(arrays_close(
        triplet_loss(a, p, n, -1, 2.0, 1.0, 1e-6, reduction),
        fx("triplet_" + reduction)));
  }
  struct Case {
    std::string label;
    double p;
    double margin;
  };
  const Case cases[] = {
      {"p1", 1.0, 1.0}, {"p2", 2.0, 1.0}, {"p3", 3.0, 1.0},
      {"m05", 2.0, 0.5}, {"m3", 2.0, 3.0}};
  for (const Case& c : cases) {
    CAPTURE(c.label);
    mx::array loss = triplet_loss(a, p, n, -1, c.p, c.margin, 0.0);
    std::string key = "triplet_" + c.label + "_eps0";
    CHECK(arrays_close(loss, fx(key)));
    CHECK(arrays_close(loss, fx("torch_" + key)));
  }
  CHECK(arrays_close(
      triplet_loss(a, p, n, -1, 2.0, 1.0, 0.1), fx("triplet_eps_01")));
  CHECK(arrays_close(
      triplet_loss(mx::transpose(a), mx::transpose(p), mx::transpose(n), 0),
      fx("triplet_axis0")));
}

TEST_CASE("triplet loss rejects invalid arguments") {
  mx::array x = mx::ones({2, 3});
  CHECK_THROWS_AS(triplet_loss(x, mx::ones({3, 2}), x), std::invalid_argument);
  CHECK_THROWS_AS(triplet_loss(x, x, mx::ones({2})), std::invalid_argument);
  CHECK_THROWS_AS(triplet_loss(x, x, x, 2), std::invalid_argument);
  CHECK_THROWS_AS(triplet_loss(x, x, x, -1, 0.0), std::invalid_argument);
  CHECK_THROWS_AS(triplet_loss(x, x, x, -1, 2.0, 0.0), std::invalid_argument);
  CHECK_THROWS_AS(triplet_loss(x, x, x, -1, 2.0, -1.0),
                  std::invalid_argument);
  CHECK_THROWS_AS(triplet_loss(x, x, x, -1, 2.0, 1.0, -1e-6),
                  std::invalid_argument);
}

TEST_CASE("smooth l1 and huber match MLX Python and PyTorch") {
  const mx::array& p = fx("reg_predictions");
  const mx::array& t = fx("reg_targets");
  const std::pair<double, std::string> betas[] = {
      {1.0, "b1"}, {0.5, "b05"}, {2.5, "b25"}, {0.0, "b0"}};
  for (const auto& [beta, label] : betas) {
    for (std::string reduction : kReductions) {
      CAPTURE(label);
      CAPTURE(reduction);
      mx::array loss = smooth_l1_loss(p, t, beta, reduction);
      std::string key = "smooth_l1_" + label + "_" + reduction;
      CHECK(arrays_close(loss, fx(key)));
      CHECK(arrays_close(loss, fx("torch_" + key)));
    }
  }
  const std::pair<double, std::string> deltas[] = {
      {1.0, "d1"}, {0.5, "d05"}, {3.0, "d3"}};
  for (const auto& [delta, label] : deltas) {
    for (std::string reduction : kReductions) {
      CAPTURE(label);
      CAPTURE(reduction);
      mx::array loss = huber_loss(p, t, delta, reduction);
      std::string key = "huber_" + label + "_" + reduction;
      CHECK(arrays_close(loss, fx(key)));
      CHECK(arrays_close(loss, fx("torch_" + key)));
    }
  }
  // The defaults: beta 1 with the mean, delta 1 with no reduction.
  CHECK(arrays_close(smooth_l1_loss(p, t), fx("smooth_l1_b1_mean")));
  CHECK(arrays_close(huber_loss(p, t), fx("huber_d1_none")));
}

TEST_CASE("smooth l1 and huber reject invalid arguments") {
  mx::array x = mx::ones({3});
  CHECK_THROWS_AS(smooth_l1_loss(x, mx::ones({2})), std::invalid_argument);
  CHECK_THROWS_AS(smooth_l1_loss(x, x, -0.5), std::invalid_argument);
  CHECK_THROWS_AS(smooth_l1_loss(x, x, INFINITY), std::invalid_argument);
  CHECK_THROWS_AS(huber_loss(x, mx::ones({3, 1})), std::invalid_argument);
  CHECK_THROWS_AS(huber_loss(x, x, 0.0), std::invalid_argument);
  CHECK_THROWS_AS(huber_loss(x, x, -1.0), std::invalid_argument);
  CHECK_THROWS_AS(huber_loss(x, x, 1.0, "max"), std::invalid_argument);
}

TEST_CASE("gaussian nll matches MLX Python and PyTorch") {
  const mx::array& p = fx("reg_predictions");
  const mx::array& t = fx("reg_targets");
  const mx::array& v = fx("gnll_vars");
  for (bool full : {false, true}) {
    const std::pair<double, std::string> epsilons[] = {
        {1e-6, "e6"}, {0.1, "e01"}};
    for (const auto& [eps, eps_label] : epsilons) {
      for (std::string reduction : kReductions) {
        CAPTURE(full);
        CAPTURE(eps_label);
        CAPTURE(reduction);
        mx::array loss = gaussian_nll_loss(p, t, v, full, eps, reduction);
        std::string key = std::string("gnll_") + (full ? "full" : "part") +
            "_" + eps_label + "_" + reduction;
        CHECK(arrays_close(loss, fx(key)));
        CHECK(arrays_close(loss, fx("torch_" + key)));
      }
    }
  }
  CHECK(arrays_close(gaussian_nll_loss(p, t, v), fx("gnll_part_e6_mean")));
}

TEST_CASE("gaussian nll rejects invalid arguments") {
  mx::array x = mx::ones({3});
  CHECK_THROWS_AS(gaussian_nll_loss(x, mx::ones({2}), x),
                  std::invalid_argument);
  CHECK_THROWS_AS(gaussian_nll_loss(x, x, mx::ones({3, 1})),
                  std::invalid_argument);
  CHECK_THROWS_AS(gaussian_nll_loss(x, x, x, false, 0.0),
                  std::invalid_argument);
  CHECK_THROWS_AS(gaussian_nll_loss(x, x, x, false, -1e-6),
                  std::invalid_argument);
}

TEST_CASE("log cosh matches MLX Python and float64") {
  const mx::array& p = fx("reg_predictions");
  const mx::array& t = fx("reg_targets");
  for (std::string reduction : kReductions) {
    CAPTURE(reduction);
    CHECK(arrays_close(
        log_cosh_loss(p, t, reduction), fx("log_cosh_" + reduction)));
  }
  CHECK(arrays_close(log_cosh_loss(p, t), fx("ref_log_cosh_none")));
}

TEST_CASE("log cosh is accurate from 1e-6 to 3e38") {
  const mx::array& errors = fx("log_cosh_errors");
  mx::array loss = log_cosh_loss(errors, mx::zeros_like(errors));
  // Relative accuracy for the tiny values too, where MLX Python returns 0.
  CHECK(arrays_close(loss, fx("ref_log_cosh_errors"), 1e-6, 0.0));
  CHECK_FALSE(arrays_close(fx("log_cosh_errors_mlx"),
                           fx("ref_log_cosh_errors"), 1e-6, 0.0));
}

TEST_CASE("log cosh rejects invalid arguments") {
  mx::array x = mx::ones({3});
  CHECK_THROWS_AS(log_cosh_loss(x, mx::ones({1})), std::invalid_argument);
  CHECK_THROWS_AS(log_cosh_loss(x, x, "avg"), std::invalid_argument);
}

TEST_CASE("binary cross entropy stays accurate for large logits") {
  mx::array loss = binary_cross_entropy(
      fx("bce_big_logits"), fx("bce_big_targets"), std::nullopt, true,
      "none");
  CHECK(arrays_close(loss, fx("ref_bce_big"), 1e-5, 1e-30));

  // inf where the target is the other class, as PyTorch gives for
  // x = inf and MLX Python for x = -inf; NaN for an infinite logit on its
  // own class, as both give.
  mx::array inf_loss = binary_cross_entropy(
      fx("bce_inf_logits"), fx("bce_inf_targets"), std::nullopt, true,
      "none");
  mx::array expected = mx::where(
      mx::array({true, false, false, false}),
      fx("torch_bce_inf"),
      fx("bce_inf_mlx"));
  CHECK(arrays_close(inf_loss, expected));

  mx::array probs_loss = binary_cross_entropy(
      fx("bce_small_probs"), fx("bce_small_targets"), std::nullopt, false,
      "none");
  CHECK(arrays_close(probs_loss, fx("ref_bce_small_probs")));
}

TEST_CASE("cross entropy stays accurate for large logits") {
  const mx::array& logits = fx("ce_big_logits");
  const std::pair<double, std::string> smoothings[] = {
      {0.0, "s0"}, {0.1, "s01"}};
  for (const auto& [smoothing, label] : smoothings) {
    CAPTURE(label);
    CHECK(arrays_close(
        cross_entropy(logits, fx("ce_big_indices"), std::nullopt, -1,
                      smoothing),
        fx("ref_ce_big_indices_" + label)));
    CHECK(arrays_close(
        cross_entropy(logits, fx("ce_big_probs"), std::nullopt, -1,
                      smoothing),
        fx("ref_ce_big_probs_" + label)));
  }
  // The GPU takes the fused kernel for class indices; MLX also runs it on
  // the CPU. It does not subtract the max first, so its error is about
  // the float32 spacing at 1e4 (1e-3), not relative to the loss.
  mx::array fused = mx::fast::cross_entropy(logits, fx("ce_big_indices"));
  CHECK(arrays_close(fused, fx("ref_ce_big_indices_s0"), 0.0, 1e-3));
}

TEST_CASE("cross entropy with masked classes") {
  mx::array loss =
      cross_entropy(fx("ce_masked_logits"), fx("ce_masked_probs"));
  CHECK(arrays_close(loss, fx("ref_ce_masked")));
  CHECK(mx::all(mx::isnan(fx("ce_masked_mlx"))).item<bool>());
}

TEST_CASE("loss gradients beyond the cross entropies") {
  mx::random::seed(11);
  mx::array x = mx::random::normal({3, 4});
  mx::array y = as64(mx::random::normal({3, 4}));
  mx::array z = as64(mx::random::normal({3, 4}));
  mx::array signs = as64(mx::array(
      {1.0, -1.0, 1.0, 1.0, -1.0, -1.0, 1.0, -1.0, 1.0, 1.0, -1.0, 1.0},
      {3, 4}));
  mx::array log_probs = as64(mx::log(mx::softmax(x, -1)));
  mx::array target_log_probs =
      as64(mx::log(mx::softmax(mx::random::normal({3, 4}), -1)));

  CHECK(gradient_matches(
      [&](const mx::array& v) {
        return nll_loss(v, mx::array({3, 0, 2}), -1, "mean");
      },
      x));
  CHECK(gradient_matches(
      [&](const mx::array& v) {
        return kl_div_loss(v, target_log_probs, -1, "sum");
      },
      log_probs));
  CHECK(gradient_matches(
      [&](const mx::array& v) {
        return cosine_similarity_loss(v, y, 1, 1e-8, "sum");
      },
      x));
  // A huge eps puts every row on the eps branch.
  CHECK(gradient_matches(
      [&](const mx::array& v) {
        return cosine_similarity_loss(v, y, 1, 100.0, "sum");
      },
      x));
  CHECK(gradient_matches(
      [&](const mx::array& v) { return hinge_loss(v, signs, "sum"); },
      mx::array({0.3, 0.5, -2.0, 2.0, -0.4, 1.5, 0.2, 0.1, -1.7, 3.0, 0.6,
                 -0.2},
                {3, 4})));
  CHECK(gradient_matches(
      [&](const mx::array& v) {
        return margin_ranking_loss(v, y, signs, 0.3, "sum");
      },
      x));
  for (double p : {1.0, 2.0, 3.0}) {
    CAPTURE(p);
    CHECK(gradient_matches(
        [&](const mx::array& v) {
          return triplet_loss(v, y, z, -1, p, 5.0, 1e-6, "sum");
        },
        x));
  }
  for (double beta : {0.0, 0.5, 1.0}) {
    CAPTURE(beta);
    CHECK(gradient_matches(
        [&](const mx::array& v) {
          return smooth_l1_loss(v, y, beta, "sum");
        },
        x));
  }
  CHECK(gradient_matches(
      [&](const mx::array& v) { return huber_loss(v, y, 0.7, "sum"); }, x));
  CHECK(gradient_matches(
      [&](const mx::array& v) { return log_cosh_loss(v, y, "sum"); },
      mx::multiply(x, mx::array(3.0f))));
  CHECK(gradient_matches(
      [&](const mx::array& v) {
        return gaussian_nll_loss(v, y, mx::exp(z), true, 1e-6, "sum");
      },
      x));
  CHECK(gradient_matches(
      [&](const mx::array& v) {
        return gaussian_nll_loss(y, z, v, false, 1e-6, "sum");
      },
      mx::add(mx::abs(x), mx::array(1.0f))));
}

TEST_CASE("stable loss gradients at large magnitudes") {
  // tanh(e) for log cosh, sigmoid(x) - t for binary cross entropy.
  mx::array errors = mx::array({-1e4, -50.0, -1e-4, 0.0, 1e-3, 0.9, 1.1, 1e4});
  mx::array log_cosh_grad = mx::grad([](const mx::array& e) {
    return log_cosh_loss(e, mx::zeros_like(e), "sum");
  })(errors);
  CHECK(arrays_close(log_cosh_grad, mx::tanh(errors), 1e-6, 1e-12));

  mx::array logits = mx::array({-1e4, -30.0, 0.0, 20.0, 1e4});
  mx::array targets = mx::array({1.0f, 0.0f, 0.3f, 1.0f, 0.0f});
  mx::array bce_grad = mx::grad([&](const mx::array& v) {
    return binary_cross_entropy(v, targets, std::nullopt, true, "sum");
  })(logits);
  CHECK(arrays_close(
      bce_grad, mx::subtract(mx::sigmoid(logits), targets), 1e-6, 1e-12));
}
