#include "rmlx/nn/losses.h"

#include <sstream>
#include <stdexcept>

#include "layer_utils.h"

namespace rmlx::nn {

namespace {

void check_reduction(const char* loss, const std::string& reduction) {
  if (reduction != "none" && reduction != "mean" && reduction != "sum") {
    std::ostringstream msg;
    msg << "[" << loss << "] Expected reduction 'none', 'mean' or 'sum' but "
        << "received '" << reduction << "'.";
    throw std::invalid_argument(msg.str());
  }
}

mx::array reduce(
    const mx::array& loss,
    const std::string& reduction,
    mx::StreamOrDevice s) {
  if (reduction == "mean") {
    return mx::mean(loss, false, s);
  }
  if (reduction == "sum") {
    return mx::sum(loss, false, s);
  }
  return loss;
}

void check_same_shape(
    const char* loss,
    const char* first_name,
    const mx::array& first,
    const mx::array& targets) {
  if (first.shape() != targets.shape()) {
    std::ostringstream msg;
    msg << "[" << loss << "] Expected " << first_name << " and targets of "
        << "the same shape but received " << first_name << " shape "
        << detail::shape_string(first.shape()) << " and targets shape "
        << detail::shape_string(targets.shape()) << ".";
    throw std::invalid_argument(msg.str());
  }
}

mx::array apply_weights(
    const char* loss_name,
    const mx::array& loss,
    const std::optional<mx::array>& weights,
    mx::StreamOrDevice s) {
  if (!weights) {
    return loss;
  }
  if (weights->shape() != loss.shape()) {
    std::ostringstream msg;
    msg << "[" << loss_name << "] Expected weights of the loss shape "
        << detail::shape_string(loss.shape()) << " but received shape "
        << detail::shape_string(weights->shape()) << ".";
    throw std::invalid_argument(msg.str());
  }
  return mx::multiply(loss, *weights, s);
}

} // namespace

mx::array mse_loss(
    const mx::array& predictions,
    const mx::array& targets,
    const std::string& reduction,
    mx::StreamOrDevice s /* = {} */) {
  check_reduction("mse_loss", reduction);
  check_same_shape("mse_loss", "predictions", predictions, targets);

  mx::array loss = mx::square(mx::subtract(predictions, targets, s), s);
  return reduce(loss, reduction, s);
}

mx::array l1_loss(
    const mx::array& predictions,
    const mx::array& targets,
    const std::string& reduction,
    mx::StreamOrDevice s /* = {} */) {
  check_reduction("l1_loss", reduction);
  check_same_shape("l1_loss", "predictions", predictions, targets);

  mx::array loss = mx::abs(mx::subtract(predictions, targets, s), s);
  return reduce(loss, reduction, s);
}

mx::array binary_cross_entropy(
    const mx::array& inputs,
    const mx::array& targets,
    const std::optional<mx::array>& weights,
    bool with_logits,
    const std::string& reduction,
    mx::StreamOrDevice s /* = {} */) {
  const char* name = "binary_cross_entropy";
  check_reduction(name, reduction);
  check_same_shape(name, "inputs", inputs, targets);

  mx::array loss = inputs;
  if (with_logits) {
    // log(1 + exp(x)) - x * t, with logaddexp keeping large |x| finite.
    mx::array zero = detail::float_scalar(0.0, inputs);
    loss = mx::subtract(
        mx::logaddexp(zero, inputs, s), mx::multiply(inputs, targets, s), s);
  } else {
    mx::array log_inputs = mx::log(inputs, s);
    mx::array log_complement =
        mx::log(mx::subtract(detail::int_scalar(1, inputs), inputs, s), s);
    mx::array floor = detail::int_scalar(-100, log_inputs);
    log_inputs = mx::clip(log_inputs, floor, std::nullopt, s);
    log_complement = mx::clip(log_complement, floor, std::nullopt, s);
    mx::array target_complement =
        mx::subtract(detail::int_scalar(1, targets), targets, s);
    loss = mx::negative(
        mx::add(
            mx::multiply(targets, log_inputs, s),
            mx::multiply(target_complement, log_complement, s),
            s),
        s);
  }

  loss = apply_weights(name, loss, weights, s);
  return reduce(loss, reduction, s);
}

namespace {

// Checks the cross entropy arguments and returns axis in [0, ndim).
int check_cross_entropy_args(
    const mx::array& logits,
    const mx::array& targets,
    int axis,
    double label_smoothing,
    const std::string& reduction) {
  const char* name = "cross_entropy";
  check_reduction(name, reduction);
  if (!(label_smoothing >= 0.0 && label_smoothing < 1.0)) {
    std::ostringstream msg;
    msg << "[cross_entropy] Expected label_smoothing in [0, 1) but received "
        << detail::python_float_repr(label_smoothing) << ".";
    throw std::invalid_argument(msg.str());
  }
  int ndim = static_cast<int>(logits.ndim());
  if (axis < -ndim || axis >= ndim) {
    std::ostringstream msg;
    msg << "[cross_entropy] Expected axis in [" << -ndim << ", " << ndim
        << ") for logits of shape " << detail::shape_string(logits.shape())
        << " but received " << axis << ".";
    throw std::invalid_argument(msg.str());
  }
  axis = axis < 0 ? axis + ndim : axis;

  bool targets_as_probs = targets.ndim() == logits.ndim();
  mx::Shape expected = logits.shape();
  if (!targets_as_probs) {
    expected.erase(expected.begin() + axis);
  }
  if (targets.shape() != expected) {
    std::ostringstream msg;
    msg << "[cross_entropy] Expected targets of shape "
        << detail::shape_string(expected) << " (class indices) or "
        << detail::shape_string(logits.shape())
        << " (probabilities) for logits of shape "
        << detail::shape_string(logits.shape()) << " but received shape "
        << detail::shape_string(targets.shape()) << ".";
    throw std::invalid_argument(msg.str());
  }
  if (!targets_as_probs && !mx::issubdtype(targets.dtype(), mx::integer)) {
    std::ostringstream msg;
    msg << "[cross_entropy] Expected integer class indices but received "
        << "targets of dtype " << targets.dtype() << ".";
    throw std::invalid_argument(msg.str());
  }
  return axis;
}

} // namespace

mx::array cross_entropy(
    const mx::array& logits,
    const mx::array& targets,
    const std::optional<mx::array>& weights,
    int axis,
    double label_smoothing,
    const std::string& reduction,
    mx::StreamOrDevice s /* = {} */) {
  axis = check_cross_entropy_args(
      logits, targets, axis, label_smoothing, reduction);
  bool targets_as_probs = targets.ndim() == logits.ndim();

  // MLX Python takes the fused kernel under the same conditions, but checks
  // the default device where this checks the stream the loss runs on.
  bool use_fast = mx::to_stream(s).device == mx::Device::gpu &&
      !targets_as_probs && label_smoothing == 0.0 &&
      axis == static_cast<int>(logits.ndim()) - 1 &&
      mx::issubdtype(logits.dtype(), mx::floating);

  mx::array loss = logits;
  if (use_fast) {
    loss = mx::astype(mx::fast::cross_entropy(logits, targets, s),
                      logits.dtype(), s);
  } else {
    mx::array shifted = mx::subtract(
        logits,
        mx::stop_gradient(mx::max(logits, axis, true, s), s),
        s);
    mx::array score = targets_as_probs
        ? mx::sum(mx::multiply(shifted, targets, s), axis, false, s)
        : mx::squeeze(
              mx::take_along_axis(
                  shifted, mx::expand_dims(targets, axis, s), axis, s),
              axis,
              s);
    mx::array logsumexp = mx::logsumexp(shifted, axis, false, s);
    if (label_smoothing > 0.0) {
      mx::array adjusted_score = mx::multiply(
          detail::float_scalar(1.0 - label_smoothing, score), score, s);
      mx::array mean_logits = mx::mean(shifted, axis, false, s);
      mx::array smoothed_loss = mx::multiply(
          mx::negative(mean_logits, s),
          detail::float_scalar(label_smoothing, mean_logits),
          s);
      loss = mx::add(
          mx::subtract(logsumexp, adjusted_score, s), smoothed_loss, s);
    } else {
      loss = mx::subtract(logsumexp, score, s);
    }
  }

  loss = apply_weights("cross_entropy", loss, weights, s);
  return reduce(loss, reduction, s);
}

void check_class_indices(const mx::array& targets, int num_classes) {
  if (!mx::issubdtype(targets.dtype(), mx::integer)) {
    std::ostringstream msg;
    msg << "[check_class_indices] Expected integer class indices but "
        << "received dtype " << targets.dtype() << ".";
    throw std::invalid_argument(msg.str());
  }
  if (targets.size() == 0) {
    return;
  }
  int64_t low = mx::astype(mx::min(targets), mx::int64).item<int64_t>();
  int64_t high = mx::astype(mx::max(targets), mx::int64).item<int64_t>();
  if (low < 0 || high >= num_classes) {
    std::ostringstream msg;
    msg << "[check_class_indices] Expected class indices in [0, "
        << num_classes << ") but received values from " << low << " to "
        << high << ".";
    throw std::invalid_argument(msg.str());
  }
}

} // namespace rmlx::nn
