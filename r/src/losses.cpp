// Bindings for the loss functions. Class indices arrive here 0-based.
#include "rmlx_module.h"

#include <limits>

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

// Class indices that come as MLX arrays cannot be range-checked without
// evaluating them (impossible inside a compiled step), and MLX's gather
// reads outside the logits for an index out of range. So an index outside
// [0, C) gets a NaN loss instead, which the mean or sum then carries.
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
  if (t.ndim() == x.ndim() || !mx::issubdtype(t.dtype(), mx::integer) ||
      x.ndim() == 0) {
    return rmlx_wrap_array(nn::cross_entropy(
        x, t, w, axis, label_smoothing, reduction));
  }
  if (reduction != "none" && reduction != "mean" && reduction != "sum") {
    throw std::invalid_argument(
        "[cross_entropy] Invalid reduction '" + reduction +
        "'; use 'none', 'mean' or 'sum'.");
  }
  int classes = x.shape(axis < 0 ? axis + x.ndim() : axis);
  mx::array valid = mx::logical_and(
      mx::greater_equal(t, mx::array(0, t.dtype())),
      mx::less(t, mx::array(classes, t.dtype())));
  mx::array safe = mx::where(valid, t, mx::array(0, t.dtype()));
  mx::array loss =
      nn::cross_entropy(x, safe, w, axis, label_smoothing, "none");
  loss = mx::where(
      valid,
      loss,
      mx::array(std::numeric_limits<float>::quiet_NaN(), loss.dtype()));
  if (reduction == "mean") {
    loss = mx::mean(loss);
  } else if (reduction == "sum") {
    loss = mx::sum(loss);
  }
  return rmlx_wrap_array(loss);
}
