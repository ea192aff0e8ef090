// Bindings for the loss functions. Class indices arrive here 0-based.
#include "rmlx_module.h"

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

[[cpp11::register]]
SEXP nn_cross_entropy_(
    SEXP logits,
    SEXP targets,
    SEXP weights,
    int axis,
    double label_smoothing,
    std::string reduction) {
  const char* fn = "mlx_cross_entropy";
  return rmlx_wrap_array(nn::cross_entropy(
      rmlx_unwrap_array(logits, fn, "logits"),
      rmlx_unwrap_array(targets, fn, "targets"),
      optional_array(weights, fn),
      axis,
      label_smoothing,
      reduction));
}
