#include "rmlx/nn/activations.h"

#include <cmath>
#include <numbers>
#include <stdexcept>

#include "layer_utils.h"

namespace rmlx::nn {

// Each formula follows MLX Python's operation order, so that the rounding,
// and the results for infinite and NaN inputs, are the same.

mx::array relu(const mx::array& x, mx::StreamOrDevice s /* = {} */) {
  return mx::maximum(x, detail::int_scalar(0, x), s);
}

mx::array leaky_relu(
    const mx::array& x,
    double negative_slope,
    mx::StreamOrDevice s /* = {} */) {
  mx::array slope = detail::float_scalar(negative_slope, x);
  return mx::maximum(mx::multiply(slope, x, s), x, s);
}

mx::array sigmoid(const mx::array& x, mx::StreamOrDevice s /* = {} */) {
  return mx::sigmoid(x, s);
}

mx::array silu(const mx::array& x, mx::StreamOrDevice s /* = {} */) {
  return mx::multiply(x, mx::sigmoid(x, s), s);
}

mx::array gelu(const mx::array& x, mx::StreamOrDevice s /* = {} */) {
  mx::array sqrt2 = detail::float_scalar(std::sqrt(2.0), x);
  mx::array one = detail::float_scalar(1.0, x);
  mx::array two = detail::float_scalar(2.0, x);
  mx::array cdf = mx::add(one, mx::erf(mx::divide(x, sqrt2, s), s), s);
  return mx::divide(mx::multiply(x, cdf, s), two, s);
}

mx::array gelu_approx(const mx::array& x, mx::StreamOrDevice s /* = {} */) {
  mx::array c = detail::float_scalar(std::sqrt(2.0 / std::numbers::pi), x);
  mx::array cubic = mx::multiply(
      detail::float_scalar(0.044715, x),
      mx::power(x, detail::int_scalar(3, x), s),
      s);
  mx::array inner = mx::multiply(c, mx::add(x, cubic, s), s);
  mx::array half_x = mx::multiply(detail::float_scalar(0.5, x), x, s);
  return mx::multiply(
      half_x,
      mx::add(detail::float_scalar(1.0, x), mx::tanh(inner, s), s),
      s);
}

mx::array gelu_fast_approx(
    const mx::array& x,
    mx::StreamOrDevice s /* = {} */) {
  mx::array scaled = mx::multiply(detail::float_scalar(1.702, x), x, s);
  return mx::multiply(x, mx::sigmoid(scaled, s), s);
}

mx::array softmax(const mx::array& x, int axis, mx::StreamOrDevice s) {
  return mx::softmax(x, axis, false, s);
}

mx::array ReLU::forward(const mx::array& x) {
  return nn::relu(x);
}

mx::array LeakyReLU::forward(const mx::array& x) {
  return leaky_relu(x, negative_slope_);
}

mx::array Sigmoid::forward(const mx::array& x) {
  return nn::sigmoid(x);
}

mx::array Tanh::forward(const mx::array& x) {
  return mx::tanh(x);
}

mx::array SiLU::forward(const mx::array& x) {
  return nn::silu(x);
}

GELU::GELU(std::string approx) : approx_(std::move(approx)) {
  if (approx_ != "none" && approx_ != "precise" && approx_ != "tanh" &&
      approx_ != "fast") {
    throw std::invalid_argument(
        "[GELU] Expected approx to be 'none', 'precise', 'tanh' or 'fast' "
        "but received '" +
        approx_ + "'.");
  }
}

mx::array GELU::forward(const mx::array& x) {
  if (approx_ == "none") {
    return gelu(x);
  }
  if (approx_ == "precise" || approx_ == "tanh") {
    return gelu_approx(x);
  }
  return gelu_fast_approx(x);
}

mx::array Softmax::forward(const mx::array& x) {
  return nn::softmax(x);
}

} // namespace rmlx::nn
