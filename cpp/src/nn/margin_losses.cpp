// Margin and similarity losses: hinge, margin ranking, triplet and cosine
// similarity.
#include <sstream>

#include "rmlx/nn/losses.h"

#include "layer_utils.h"
#include "loss_utils.h"

namespace rmlx::nn {

using detail::check_reduction;
using detail::check_same_shape;
using detail::float_scalar;
using detail::reduce;

mx::array hinge_loss(
    const mx::array& inputs,
    const mx::array& targets,
    const std::string& reduction,
    mx::StreamOrDevice s /* = {} */) {
  const char* name = "hinge_loss";
  check_reduction(name, reduction);
  check_same_shape(name, "inputs", inputs, targets);

  mx::array margin = mx::subtract(
      detail::int_scalar(1, inputs), mx::multiply(inputs, targets, s), s);
  mx::array loss =
      mx::maximum(margin, detail::int_scalar(0, margin), s);
  return reduce(loss, reduction, s);
}

mx::array margin_ranking_loss(
    const mx::array& inputs1,
    const mx::array& inputs2,
    const mx::array& targets,
    double margin,
    const std::string& reduction,
    mx::StreamOrDevice s /* = {} */) {
  const char* name = "margin_ranking_loss";
  check_reduction(name, reduction);
  check_same_shape(name, "inputs1", inputs1, "inputs2", inputs2);
  check_same_shape(name, "inputs1", inputs1, targets);
  detail::check_finite(name, "margin", margin);

  mx::array differences = mx::subtract(inputs1, inputs2, s);
  mx::array violation = mx::add(
      mx::negative(mx::multiply(targets, differences, s), s),
      float_scalar(margin, differences),
      s);
  mx::array loss =
      mx::maximum(violation, detail::int_scalar(0, violation), s);
  return reduce(loss, reduction, s);
}

namespace {

// (sum(|x|^p, axis) + eps)^(1/p), the distance of MLX Python's triplet loss.
mx::array triplet_distance(
    const mx::array& difference,
    int axis,
    double p,
    double eps,
    mx::StreamOrDevice s) {
  mx::array magnitude = mx::abs(difference, s);
  mx::array powered = p == 2.0
      ? mx::square(magnitude, s)
      : mx::power(magnitude, float_scalar(p, magnitude), s);
  mx::array total = mx::add(
      mx::sum(powered, axis, false, s), float_scalar(eps, powered), s);
  return p == 2.0 ? mx::sqrt(total, s)
                  : mx::power(total, float_scalar(1.0 / p, total), s);
}

} // namespace

mx::array triplet_loss(
    const mx::array& anchors,
    const mx::array& positives,
    const mx::array& negatives,
    int axis,
    double p,
    double margin,
    double eps,
    const std::string& reduction,
    mx::StreamOrDevice s /* = {} */) {
  const char* name = "triplet_loss";
  check_reduction(name, reduction);
  check_same_shape(name, "anchors", anchors, "positives", positives);
  check_same_shape(name, "anchors", anchors, "negatives", negatives);
  axis = detail::check_axis(name, "anchors", anchors, axis);
  detail::check_lower_bound(name, "p", p, 0.0, false);
  detail::check_lower_bound(name, "margin", margin, 0.0, false);
  detail::check_lower_bound(name, "eps", eps, 0.0, true);

  // NOTE: |x|^p overflows for |x| near the dtype's max^(1/p) (1.8e19 for
  // p = 2 in float32), as in MLX Python; the distances are then inf.
  mx::array positive_distance =
      triplet_distance(mx::subtract(anchors, positives, s), axis, p, eps, s);
  mx::array negative_distance =
      triplet_distance(mx::subtract(anchors, negatives, s), axis, p, eps, s);
  mx::array violation = mx::add(
      mx::subtract(positive_distance, negative_distance, s),
      float_scalar(margin, positive_distance),
      s);
  mx::array loss =
      mx::maximum(violation, float_scalar(0.0, violation), s);
  return reduce(loss, reduction, s);
}

mx::array cosine_similarity_loss(
    const mx::array& x1,
    const mx::array& x2,
    int axis,
    double eps,
    const std::string& reduction,
    mx::StreamOrDevice s /* = {} */) {
  const char* name = "cosine_similarity_loss";
  check_reduction(name, reduction);
  check_same_shape(name, "x1", x1, "x2", x2);
  axis = detail::check_axis(name, "x1", x1, axis);
  detail::check_lower_bound(name, "eps", eps, 0.0, false);

  // x1 . x2 / max(|x1| |x2|, eps), computed on u = x / m with m = max|x|
  // along axis: u1 . u2 / max(|u1| |u2|, eps / (m1 m2)). The quotient is
  // unchanged, but no product overflows, so vectors with elements of 1e20
  // in float32 get their similarity where MLX Python returns NaN. The
  // scales carry no gradient, which is exact because both forms of the
  // quotient are the same function of x1 and x2.
  auto scale_of = [&](const mx::array& x) {
    mx::array m = mx::stop_gradient(
        mx::max(mx::abs(x, s), axis, true, s), s);
    mx::array zero = mx::zeros_like(m, s);
    return mx::where(mx::equal(m, zero, s), mx::ones_like(m, s), m, s);
  };
  mx::array scale1 = scale_of(x1);
  mx::array scale2 = scale_of(x2);
  mx::array u1 = mx::divide(x1, scale1, s);
  mx::array u2 = mx::divide(x2, scale2, s);

  mx::array dot = mx::sum(mx::multiply(u1, u2, s), axis, false, s);
  mx::array norms = mx::multiply(
      mx::sqrt(mx::sum(mx::square(u1, s), axis, false, s), s),
      mx::sqrt(mx::sum(mx::square(u2, s), axis, false, s), s),
      s);
  mx::array scaled_eps = mx::divide(
      mx::divide(float_scalar(eps, norms), mx::squeeze(scale1, axis, s), s),
      mx::squeeze(scale2, axis, s),
      s);
  mx::array loss = mx::divide(dot, mx::maximum(norms, scaled_eps, s), s);
  return reduce(loss, reduction, s);
}

} // namespace rmlx::nn
