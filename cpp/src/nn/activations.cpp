#include "rmlx/nn/activations.h"

#include <cmath>
#include <numbers>
#include <sstream>
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

// MLX 0.32's softmax promotes integer inputs to float32 along the last axis
// only, and returns integer zeros along any other axis.
mx::array softmax(const mx::array& x, int axis, mx::StreamOrDevice s) {
  if (!mx::issubdtype(x.dtype(), mx::floating)) {
    return mx::softmax(mx::astype(x, mx::float32, s), axis, false, s);
  }
  return mx::softmax(x, axis, false, s);
}

namespace {

// Returns axis as a non-negative index into x's shape, or throws naming the
// function and the received axis.
int checked_axis(const char* function, const mx::array& x, int axis) {
  int ndim = static_cast<int>(x.ndim());
  if (axis < -ndim || axis >= ndim) {
    std::ostringstream msg;
    msg << "[" << function << "] Expected axis in [" << -ndim << ", " << ndim
        << ") for an input of shape " << detail::shape_string(x.shape())
        << " but received axis=" << axis << ".";
    throw std::invalid_argument(msg.str());
  }
  return axis < 0 ? axis + ndim : axis;
}

void check_lambd(const char* function, double lambd) {
  if (!(lambd >= 0.0)) {
    std::ostringstream msg;
    msg << "[" << function << "] Expected lambd >= 0 but received "
        << detail::python_float_repr(lambd) << ".";
    throw std::invalid_argument(msg.str());
  }
}

void check_celu_alpha(double alpha) {
  if (alpha == 0.0 || std::isnan(alpha)) {
    throw std::invalid_argument(
        "[celu] Expected a nonzero alpha but received " +
        detail::python_float_repr(alpha) + ".");
  }
}

void check_hard_tanh_range(double min_val, double max_val) {
  if (!(min_val <= max_val)) {
    std::ostringstream msg;
    msg << "[hard_tanh] Expected min_val <= max_val but received min_val="
        << detail::python_float_repr(min_val)
        << " and max_val=" << detail::python_float_repr(max_val) << ".";
    throw std::invalid_argument(msg.str());
  }
}

} // namespace

mx::array relu2(const mx::array& x, mx::StreamOrDevice s /* = {} */) {
  return mx::square(mx::maximum(x, detail::int_scalar(0, x), s), s);
}

mx::array relu6(const mx::array& x, mx::StreamOrDevice s /* = {} */) {
  mx::array positive = mx::maximum(x, detail::int_scalar(0, x), s);
  return mx::minimum(positive, detail::float_scalar(6.0, x), s);
}

mx::array elu(const mx::array& x, double alpha, mx::StreamOrDevice s) {
  // MLX Python computes exp(x) - 1. This computes expm1(min(x, 0)) so that
  // the branch that where() discards stays finite, because its zero
  // cotangent times exp(x) = inf would make the gradient NaN for large x.
  mx::array zero = detail::int_scalar(0, x);
  mx::array negative_part = mx::multiply(
      detail::float_scalar(alpha, x),
      mx::expm1(mx::minimum(x, zero, s), s),
      s);
  return mx::where(mx::greater(x, zero, s), x, negative_part, s);
}

mx::array celu(const mx::array& x, double alpha, mx::StreamOrDevice s) {
  check_celu_alpha(alpha);
  mx::array zero = detail::float_scalar(0.0, x);
  mx::array a = detail::float_scalar(alpha, x);
  mx::array scaled = mx::divide(mx::minimum(x, zero, s), a, s);
  return mx::add(
      mx::maximum(x, zero, s), mx::multiply(a, mx::expm1(scaled, s), s), s);
}

mx::array selu(const mx::array& x, mx::StreamOrDevice s /* = {} */) {
  constexpr double alpha = 1.6732632423543772848170429916717;
  constexpr double scale = 1.0507009873554804934193349852946;
  mx::array y = elu(x, alpha, s);
  return mx::multiply(y, detail::float_scalar(scale, y), s);
}

mx::array log_sigmoid(const mx::array& x, mx::StreamOrDevice s /* = {} */) {
  return mx::negative(softplus(mx::negative(x, s), s), s);
}

mx::array softmin(const mx::array& x, int axis, mx::StreamOrDevice s) {
  checked_axis("softmin", x, axis);
  return softmax(mx::negative(x, s), axis, s);
}

mx::array log_softmax(const mx::array& x, int axis, mx::StreamOrDevice s) {
  checked_axis("log_softmax", x, axis);
  // Subtracting the maximum first keeps the result exact for large inputs,
  // where adding logsumexp back to the maximum would round it away.
  mx::array shift = mx::stop_gradient(mx::max(x, axis, true, s), s);
  mx::array shifted = mx::subtract(x, shift, s);
  return mx::subtract(shifted, mx::logsumexp(shifted, axis, true, s), s);
}

mx::array mish(const mx::array& x, mx::StreamOrDevice s /* = {} */) {
  return mx::multiply(x, mx::tanh(softplus(x, s), s), s);
}

mx::array glu(const mx::array& x, int axis, mx::StreamOrDevice s) {
  int index = checked_axis("glu", x, axis);
  if (x.shape(index) % 2 != 0) {
    std::ostringstream msg;
    msg << "[glu] Expected an even size along axis " << axis
        << " but received shape " << detail::shape_string(x.shape()) << ".";
    throw std::invalid_argument(msg.str());
  }
  auto halves = mx::split(x, 2, axis, s);
  return mx::multiply(halves[0], mx::sigmoid(halves[1], s), s);
}

mx::array softplus(const mx::array& x, mx::StreamOrDevice s /* = {} */) {
  return mx::logaddexp(x, detail::int_scalar(0, x), s);
}

mx::array softsign(const mx::array& x, mx::StreamOrDevice s /* = {} */) {
  mx::array denominator =
      mx::add(detail::int_scalar(1, x), mx::abs(x, s), s);
  return mx::divide(x, denominator, s);
}

mx::array softshrink(const mx::array& x, double lambd, mx::StreamOrDevice s) {
  check_lambd("softshrink", lambd);
  // Testing |x| <= lambd, not MLX Python's |x| > lambd, lets NaN reach the
  // shrunk branch and propagate.
  mx::array l = detail::float_scalar(lambd, x);
  mx::array inside = mx::less_equal(mx::abs(x, s), l, s);
  mx::array shrunk = mx::subtract(x, mx::multiply(mx::sign(x, s), l, s), s);
  return mx::where(inside, detail::int_scalar(0, shrunk), shrunk, s);
}

mx::array hard_shrink(const mx::array& x, double lambd, mx::StreamOrDevice s) {
  mx::array inside =
      mx::less_equal(mx::abs(x, s), detail::float_scalar(lambd, x), s);
  return mx::where(inside, detail::int_scalar(0, x), x, s);
}

mx::array hard_tanh(
    const mx::array& x,
    double min_val,
    double max_val,
    mx::StreamOrDevice s) {
  check_hard_tanh_range(min_val, max_val);
  mx::array low = mx::maximum(x, detail::float_scalar(min_val, x), s);
  return mx::minimum(low, detail::float_scalar(max_val, x), s);
}

mx::array hardswish(const mx::array& x, mx::StreamOrDevice s /* = {} */) {
  mx::array shifted = mx::add(x, detail::int_scalar(3, x), s);
  mx::array clipped = mx::minimum(
      mx::maximum(shifted, detail::int_scalar(0, x), s),
      detail::int_scalar(6, x),
      s);
  return mx::divide(
      mx::multiply(x, clipped, s), detail::int_scalar(6, x), s);
}

mx::array prelu(
    const mx::array& x,
    const mx::array& alpha,
    mx::StreamOrDevice s) {
  mx::array zero = detail::int_scalar(0, x);
  return mx::add(
      mx::maximum(zero, x, s),
      mx::multiply(alpha, mx::minimum(zero, x, s), s),
      s);
}

mx::array step(const mx::array& x, double threshold, mx::StreamOrDevice s) {
  mx::array above =
      mx::greater_equal(x, detail::float_scalar(threshold, x), s);
  return mx::where(above, mx::array(1, mx::int32), mx::array(0, mx::int32), s);
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

mx::array ReLU2::forward(const mx::array& x) {
  return relu2(x);
}

mx::array ReLU6::forward(const mx::array& x) {
  return relu6(x);
}

mx::array SELU::forward(const mx::array& x) {
  return selu(x);
}

mx::array LogSigmoid::forward(const mx::array& x) {
  return log_sigmoid(x);
}

mx::array Softmin::forward(const mx::array& x) {
  return softmin(x);
}

mx::array LogSoftmax::forward(const mx::array& x) {
  return log_softmax(x);
}

mx::array Mish::forward(const mx::array& x) {
  return mish(x);
}

mx::array Softplus::forward(const mx::array& x) {
  return softplus(x);
}

mx::array Softsign::forward(const mx::array& x) {
  return softsign(x);
}

mx::array Hardswish::forward(const mx::array& x) {
  return hardswish(x);
}

ELU::ELU(double alpha) : alpha_(alpha) {}

mx::array ELU::forward(const mx::array& x) {
  return elu(x, alpha_);
}

CELU::CELU(double alpha) : alpha_(alpha) {
  check_celu_alpha(alpha);
}

mx::array CELU::forward(const mx::array& x) {
  return celu(x, alpha_);
}

GLU::GLU(int axis) : axis_(axis) {}

mx::array GLU::forward(const mx::array& x) {
  return glu(x, axis_);
}

Softshrink::Softshrink(double lambd) : lambd_(lambd) {
  check_lambd("Softshrink", lambd);
}

mx::array Softshrink::forward(const mx::array& x) {
  return softshrink(x, lambd_);
}

HardShrink::HardShrink(double lambd) : lambd_(lambd) {}

mx::array HardShrink::forward(const mx::array& x) {
  return hard_shrink(x, lambd_);
}

HardTanh::HardTanh(double min_val, double max_val)
    : min_val_(min_val), max_val_(max_val) {
  check_hard_tanh_range(min_val, max_val);
}

mx::array HardTanh::forward(const mx::array& x) {
  return hard_tanh(x, min_val_, max_val_);
}

Step::Step(double threshold) : threshold_(threshold) {}

mx::array Step::forward(const mx::array& x) {
  return step(x, threshold_);
}

PReLU::PReLU(int num_parameters, double init) {
  if (num_parameters < 1) {
    throw std::invalid_argument(
        "[PReLU] Expected num_parameters >= 1 but received " +
        std::to_string(num_parameters) + ".");
  }
  register_parameter(
      "weight", mx::full({num_parameters}, static_cast<float>(init)));
}

mx::array PReLU::forward(const mx::array& x) {
  const mx::array& weight = param("weight");
  int num_parameters = weight.shape(0);
  if (num_parameters > 1 && (x.ndim() == 0 || x.shape(-1) != num_parameters)) {
    std::ostringstream msg;
    msg << "[PReLU] Expected input with last dimension " << num_parameters
        << " but received shape " << detail::shape_string(x.shape()) << ".";
    throw std::invalid_argument(msg.str());
  }
  return prelu(x, weight);
}

const std::map<std::string, ActivationFunction>& named_activations() {
  using A = const mx::array&;
  static const std::map<std::string, ActivationFunction> table = {
      {"celu", [](A x) { return celu(x); }},
      {"elu", [](A x) { return elu(x); }},
      {"gelu", [](A x) { return gelu(x); }},
      {"gelu_approx", [](A x) { return gelu_approx(x); }},
      {"gelu_fast_approx", [](A x) { return gelu_fast_approx(x); }},
      {"hard_tanh", [](A x) { return hard_tanh(x); }},
      {"hardswish", [](A x) { return hardswish(x); }},
      {"leaky_relu", [](A x) { return leaky_relu(x); }},
      {"log_sigmoid", [](A x) { return log_sigmoid(x); }},
      {"mish", [](A x) { return mish(x); }},
      {"relu", [](A x) { return relu(x); }},
      {"relu2", [](A x) { return relu2(x); }},
      {"relu6", [](A x) { return relu6(x); }},
      {"selu", [](A x) { return selu(x); }},
      {"sigmoid", [](A x) { return nn::sigmoid(x); }},
      {"silu", [](A x) { return silu(x); }},
      {"softmax", [](A x) { return nn::softmax(x); }},
      {"softplus", [](A x) { return softplus(x); }},
      {"softsign", [](A x) { return softsign(x); }},
      {"tanh", [](A x) { return mx::tanh(x); }},
  };
  return table;
}

} // namespace rmlx::nn
