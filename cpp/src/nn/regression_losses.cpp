// Regression losses: smooth L1, Huber, log cosh and Gaussian negative log
// likelihood.
#include <cmath>

#include "rmlx/nn/losses.h"

#include "layer_utils.h"
#include "loss_utils.h"

namespace rmlx::nn {

using detail::check_reduction;
using detail::check_same_shape;
using detail::float_scalar;
using detail::reduce;

mx::array smooth_l1_loss(
    const mx::array& predictions,
    const mx::array& targets,
    double beta,
    const std::string& reduction,
    mx::StreamOrDevice s /* = {} */) {
  const char* name = "smooth_l1_loss";
  check_reduction(name, reduction);
  check_same_shape(name, "predictions", predictions, targets);
  detail::check_lower_bound(name, "beta", beta, 0.0, true);

  mx::array diff = mx::abs(mx::subtract(predictions, targets, s), s);
  if (beta == 0.0) {
    // The limit beta -> 0 is the L1 loss, as in PyTorch. MLX Python divides
    // by beta in the branch it discards, so its gradient is NaN.
    return reduce(diff, reduction, s);
  }
  // 0.5 q^2 / beta + (|d| - q) with q = min(|d|, beta) equals MLX's two
  // branches, and neither term overflows when |d| is large.
  mx::array quadratic = mx::minimum(diff, float_scalar(beta, diff), s);
  mx::array loss = mx::add(
      mx::multiply(
          float_scalar(0.5 / beta, quadratic),
          mx::square(quadratic, s),
          s),
      mx::subtract(diff, quadratic, s),
      s);
  return reduce(loss, reduction, s);
}

mx::array huber_loss(
    const mx::array& inputs,
    const mx::array& targets,
    double delta,
    const std::string& reduction,
    mx::StreamOrDevice s /* = {} */) {
  const char* name = "huber_loss";
  check_reduction(name, reduction);
  check_same_shape(name, "inputs", inputs, targets);
  detail::check_lower_bound(name, "delta", delta, 0.0, false);

  mx::array abs_errors = mx::abs(mx::subtract(inputs, targets, s), s);
  mx::array quadratic =
      mx::minimum(abs_errors, float_scalar(delta, abs_errors), s);
  mx::array linear = mx::subtract(abs_errors, quadratic, s);
  mx::array loss = mx::add(
      mx::multiply(
          float_scalar(0.5, quadratic), mx::square(quadratic, s), s),
      mx::multiply(float_scalar(delta, linear), linear, s),
      s);
  return reduce(loss, reduction, s);
}

mx::array log_cosh_loss(
    const mx::array& inputs,
    const mx::array& targets,
    const std::string& reduction,
    mx::StreamOrDevice s /* = {} */) {
  const char* name = "log_cosh_loss";
  check_reduction(name, reduction);
  check_same_shape(name, "inputs", inputs, targets);

  // log(cosh(a)) for a = |inputs - targets| in two forms. For a >= 1 it is
  // a - log(2) + log1p(exp(-2a)), finite for every finite a. For a < 1 it is
  // log1p(2 sinh(a/2)^2), which keeps full relative precision as a -> 0.
  // MLX Python's logaddexp(a, -a) - log(2) cancels there: it returns 0 for
  // a = 1e-4 in float32, where the loss is 5e-9.
  mx::array a = mx::abs(mx::subtract(inputs, targets, s), s);
  mx::array one = float_scalar(1.0, a);
  mx::array large = mx::add(
      mx::subtract(a, float_scalar(std::log(2.0), a), s),
      mx::log1p(mx::exp(mx::multiply(float_scalar(-2.0, a), a, s), s), s),
      s);
  // The small form gets min(a, 1), so that sinh cannot overflow even in the
  // branch that where() discards: its gradient would be 0 * inf = NaN.
  mx::array half_sinh = mx::sinh(
      mx::multiply(float_scalar(0.5, a), mx::minimum(a, one, s), s), s);
  mx::array small = mx::log1p(
      mx::multiply(float_scalar(2.0, a), mx::square(half_sinh, s), s), s);
  mx::array loss = mx::where(mx::less(a, one, s), small, large, s);
  return reduce(loss, reduction, s);
}

mx::array gaussian_nll_loss(
    const mx::array& inputs,
    const mx::array& targets,
    const mx::array& vars,
    bool full,
    double eps,
    const std::string& reduction,
    mx::StreamOrDevice s /* = {} */) {
  const char* name = "gaussian_nll_loss";
  check_reduction(name, reduction);
  check_same_shape(name, "inputs", inputs, targets);
  check_same_shape(name, "inputs", inputs, "vars", vars);
  detail::check_lower_bound(name, "eps", eps, 0.0, false);

  // Variances below eps count as eps, and get no gradient, as in MLX Python.
  mx::array clamped = mx::maximum(vars, float_scalar(eps, vars), s);
  mx::array squared_error =
      mx::square(mx::subtract(targets, inputs, s), s);
  mx::array loss = mx::multiply(
      float_scalar(0.5, clamped),
      mx::add(mx::log(clamped, s), mx::divide(squared_error, clamped, s), s),
      s);
  if (full) {
    double constant = 0.5 * std::log(2.0 * M_PI);
    loss = mx::add(loss, float_scalar(constant, loss), s);
  }
  return reduce(loss, reduction, s);
}

} // namespace rmlx::nn
