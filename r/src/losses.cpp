// Bindings for the loss functions. Class indices arrive here 0-based.
#include "rmlx_module.h"

#include <limits>
#include <stdexcept>
#include <string>

#include "rmlx/nn/losses.h"

namespace mx = mlx::core;
namespace nn = rmlx::nn;

namespace {

std::optional<mx::array> optional_array(SEXP x, const char* fn) {
  if (x == R_NilValue) {
    return std::nullopt;
  }
  return rmlx_unwrap_array(x, fn, "weights");
}

} // namespace

[[cpp11::register]]
SEXP nn_mse_loss_(SEXP predictions, SEXP targets, std::string reduction) {
  return rmlx_wrap_array(nn::mse_loss(
      rmlx_unwrap_array(predictions, "mlx_mse_loss", "predictions"),
      rmlx_unwrap_array(targets, "mlx_mse_loss", "targets"),
      reduction));
}

[[cpp11::register]]
SEXP nn_l1_loss_(SEXP predictions, SEXP targets, std::string reduction) {
  return rmlx_wrap_array(nn::l1_loss(
      rmlx_unwrap_array(predictions, "mlx_l1_loss", "predictions"),
      rmlx_unwrap_array(targets, "mlx_l1_loss", "targets"),
      reduction));
}

[[cpp11::register]]
SEXP nn_binary_cross_entropy_(
    SEXP inputs,
    SEXP targets,
    SEXP weights,
    bool with_logits,
    std::string reduction) {
  const char* fn = "mlx_binary_cross_entropy";
  return rmlx_wrap_array(nn::binary_cross_entropy(
      rmlx_unwrap_array(inputs, fn, "inputs"),
      rmlx_unwrap_array(targets, fn, "targets"),
      optional_array(weights, fn),
      with_logits,
      reduction));
}

namespace {

// Class indices that come as MLX arrays cannot be range-checked without
// evaluating them (impossible inside a compiled step), and MLX's gather
// reads outside the inputs for an index out of range. So an index outside
// [0, C) gets a NaN loss instead, which the mean or sum then carries.
// `loss_none` computes the unreduced loss from indices known to be in range.
template <typename LossFn>
mx::array loss_with_index_mask(
    const char* loss,
    const mx::array& x,
    const mx::array& t,
    int axis,
    const std::string& reduction,
    LossFn loss_none) {
  if (reduction != "none" && reduction != "mean" && reduction != "sum") {
    throw std::invalid_argument(
        std::string("[") + loss + "] Expected reduction 'none', 'mean' or " +
        "'sum' but received '" + reduction + "'.");
  }
  int ndim = static_cast<int>(x.ndim());
  int classes = x.shape(axis < 0 ? axis + ndim : axis);
  mx::array valid = mx::logical_and(
      mx::greater_equal(t, mx::array(0, t.dtype())),
      mx::less(t, mx::array(classes, t.dtype())));
  mx::array safe = mx::where(valid, t, mx::array(0, t.dtype()));
  mx::array result = loss_none(safe);
  result = mx::where(
      valid,
      result,
      mx::array(std::numeric_limits<float>::quiet_NaN(), result.dtype()));
  if (reduction == "mean") {
    return mx::mean(result);
  }
  if (reduction == "sum") {
    return mx::sum(result);
  }
  return result;
}

// True when the targets need no index mask: they are probabilities or not
// integers, or the axis is invalid, so the core loss handles or rejects them.
bool skip_index_mask(const mx::array& x, const mx::array& t, int axis) {
  int ndim = static_cast<int>(x.ndim());
  return t.ndim() == x.ndim() || !mx::issubdtype(t.dtype(), mx::integer) ||
      ndim == 0 || axis < -ndim || axis >= ndim;
}

} // namespace

[[cpp11::register]]
SEXP nn_cross_entropy_(
    SEXP logits,
    SEXP targets,
    SEXP weights,
    int axis,
    double label_smoothing,
    std::string reduction) {
  const char* fn = "mlx_cross_entropy";
  const mx::array& x = rmlx_unwrap_array(logits, fn, "logits");
  mx::array t = rmlx_unwrap_array(targets, fn, "targets");
  auto w = optional_array(weights, fn);
  if (skip_index_mask(x, t, axis)) {
    return rmlx_wrap_array(nn::cross_entropy(
        x, t, w, axis, label_smoothing, reduction));
  }
  return rmlx_wrap_array(loss_with_index_mask(
      "cross_entropy", x, t, axis, reduction, [&](const mx::array& safe) {
        return nn::cross_entropy(x, safe, w, axis, label_smoothing, "none");
      }));
}

[[cpp11::register]]
SEXP nn_nll_loss_(SEXP inputs, SEXP targets, int axis, std::string reduction) {
  const char* fn = "mlx_nll_loss";
  const mx::array& x = rmlx_unwrap_array(inputs, fn, "inputs");
  mx::array t = rmlx_unwrap_array(targets, fn, "targets");
  if (skip_index_mask(x, t, axis)) {
    return rmlx_wrap_array(nn::nll_loss(x, t, axis, reduction));
  }
  return rmlx_wrap_array(loss_with_index_mask(
      "nll_loss", x, t, axis, reduction, [&](const mx::array& safe) {
        return nn::nll_loss(x, safe, axis, "none");
      }));
}

[[cpp11::register]]
SEXP nn_kl_div_loss_(SEXP inputs, SEXP targets, int axis, std::string reduction) {
  const char* fn = "mlx_kl_div_loss";
  return rmlx_wrap_array(nn::kl_div_loss(
      rmlx_unwrap_array(inputs, fn, "inputs"),
      rmlx_unwrap_array(targets, fn, "targets"),
      axis,
      reduction));
}

[[cpp11::register]]
SEXP nn_cosine_similarity_loss_(
    SEXP x1,
    SEXP x2,
    int axis,
    double eps,
    std::string reduction) {
  const char* fn = "mlx_cosine_similarity_loss";
  return rmlx_wrap_array(nn::cosine_similarity_loss(
      rmlx_unwrap_array(x1, fn, "x1"),
      rmlx_unwrap_array(x2, fn, "x2"),
      axis,
      eps,
      reduction));
}

[[cpp11::register]]
SEXP nn_hinge_loss_(SEXP inputs, SEXP targets, std::string reduction) {
  const char* fn = "mlx_hinge_loss";
  return rmlx_wrap_array(nn::hinge_loss(
      rmlx_unwrap_array(inputs, fn, "inputs"),
      rmlx_unwrap_array(targets, fn, "targets"),
      reduction));
}

[[cpp11::register]]
SEXP nn_margin_ranking_loss_(
    SEXP inputs1,
    SEXP inputs2,
    SEXP targets,
    double margin,
    std::string reduction) {
  const char* fn = "mlx_margin_ranking_loss";
  return rmlx_wrap_array(nn::margin_ranking_loss(
      rmlx_unwrap_array(inputs1, fn, "inputs1"),
      rmlx_unwrap_array(inputs2, fn, "inputs2"),
      rmlx_unwrap_array(targets, fn, "targets"),
      margin,
      reduction));
}

[[cpp11::register]]
SEXP nn_triplet_loss_(
    SEXP anchors,
    SEXP positives,
    SEXP negatives,
    int axis,
    double p,
    double margin,
    double eps,
    std::string reduction) {
  const char* fn = "mlx_triplet_loss";
  return rmlx_wrap_array(nn::triplet_loss(
      rmlx_unwrap_array(anchors, fn, "anchors"),
      rmlx_unwrap_array(positives, fn, "positives"),
      rmlx_unwrap_array(negatives, fn, "negatives"),
      axis,
      p,
      margin,
      eps,
      reduction));
}

[[cpp11::register]]
SEXP nn_smooth_l1_loss_(
    SEXP predictions,
    SEXP targets,
    double beta,
    std::string reduction) {
  const char* fn = "mlx_smooth_l1_loss";
  return rmlx_wrap_array(nn::smooth_l1_loss(
      rmlx_unwrap_array(predictions, fn, "predictions"),
      rmlx_unwrap_array(targets, fn, "targets"),
      beta,
      reduction));
}

[[cpp11::register]]
SEXP nn_huber_loss_(
    SEXP inputs,
    SEXP targets,
    double delta,
    std::string reduction) {
  const char* fn = "mlx_huber_loss";
  return rmlx_wrap_array(nn::huber_loss(
      rmlx_unwrap_array(inputs, fn, "inputs"),
      rmlx_unwrap_array(targets, fn, "targets"),
      delta,
      reduction));
}

[[cpp11::register]]
SEXP nn_log_cosh_loss_(SEXP inputs, SEXP targets, std::string reduction) {
  const char* fn = "mlx_log_cosh_loss";
  return rmlx_wrap_array(nn::log_cosh_loss(
      rmlx_unwrap_array(inputs, fn, "inputs"),
      rmlx_unwrap_array(targets, fn, "targets"),
      reduction));
}

[[cpp11::register]]
SEXP nn_gaussian_nll_loss_(
    SEXP inputs,
    SEXP targets,
    SEXP vars,
    bool full,
    double eps,
    std::string reduction) {
  const char* fn = "mlx_gaussian_nll_loss";
  return rmlx_wrap_array(nn::gaussian_nll_loss(
      rmlx_unwrap_array(inputs, fn, "inputs"),
      rmlx_unwrap_array(targets, fn, "targets"),
      rmlx_unwrap_array(vars, fn, "vars"),
      full,
      eps,
      reduction));
}
