#include "rmlx/nn/positional_encoding.h"

#include <cmath>
#include <limits>
#include <numbers>
#include <sstream>
#include <stdexcept>

#include "layer_utils.h"

namespace rmlx::nn {

namespace {

// Reads an offset input (any numeric scalar) as an int; evaluates it.
int scalar_offset(const std::optional<mx::array>& offset, const char* layer) {
  if (!offset) {
    return 0;
  }
  if (offset->size() != 1) {
    std::ostringstream msg;
    msg << "[" << layer << "] Expected a scalar offset but received shape "
        << detail::shape_string(offset->shape()) << ".";
    throw std::invalid_argument(msg.str());
  }
  return mx::astype(mx::reshape(*offset, {}), mx::int32).item<int>();
}

} // namespace

RoPE::RoPE(int dims, bool traditional, double base, double scale)
    : dims_(dims), traditional_(traditional), base_(base), scale_(scale) {
  if (dims <= 0 || dims % 2 != 0) {
    std::ostringstream msg;
    msg << "[RoPE] Expected a positive, even dims but received " << dims
        << ".";
    throw std::invalid_argument(msg.str());
  }
}

std::string RoPE::extra_repr() const {
  std::ostringstream os;
  os << dims_ << ", traditional=" << detail::python_bool(traditional_);
  return os.str();
}

std::vector<mx::array> RoPE::forward(const Inputs& inputs) {
  check_inputs(*this, inputs, 1);
  if (inputs.size() > 1 && inputs[1]) {
    return {forward(*inputs[0], *inputs[1])};
  }
  return {forward(*inputs[0], 0)};
}

mx::array RoPE::forward(const mx::array& x, int offset) const {
  return mx::fast::rope(
      x,
      dims_,
      traditional_,
      static_cast<float>(base_),
      static_cast<float>(scale_),
      offset);
}

mx::array RoPE::forward(const mx::array& x, const mx::array& offset) const {
  if (offset.size() != 1) {
    std::ostringstream msg;
    msg << "[RoPE] Expected a scalar offset but received shape "
        << detail::shape_string(offset.shape()) << ".";
    throw std::invalid_argument(msg.str());
  }
  return mx::fast::rope(
      x,
      dims_,
      traditional_,
      static_cast<float>(base_),
      static_cast<float>(scale_),
      mx::astype(mx::reshape(offset, {}), mx::int32));
}

SinusoidalPositionalEncoding::SinusoidalPositionalEncoding(
    int dims,
    double min_freq,
    double max_freq,
    std::optional<double> scale,
    bool cos_first,
    bool full_turns)
    : sigmas_(mx::array(0.0f)), cos_first_(cos_first) {
  if (dims <= 0 || dims % 2 != 0) {
    std::ostringstream msg;
    msg << "[SinusoidalPositionalEncoding] Expected a positive, even dims "
        << "but received " << dims << ".";
    throw std::invalid_argument(msg.str());
  }
  if (!(min_freq > 0) || !(max_freq > 0)) {
    std::ostringstream msg;
    msg << "[SinusoidalPositionalEncoding] Expected positive min_freq and "
        << "max_freq but received min_freq="
        << detail::python_float_repr(min_freq)
        << " and max_freq=" << detail::python_float_repr(max_freq) << ".";
    throw std::invalid_argument(msg.str());
  }

  // The float32 steps of MLX Python: a ramp from 1 down to 0 over the
  // dims / 2 frequencies, mapped to log frequencies between the bounds.
  int half = dims / 2;
  mx::array one_zero = half == 1
      ? mx::array({1.0f})
      : mx::subtract(
            mx::array(1.0f),
            mx::divide(
                mx::arange(0, half, mx::int32),
                mx::array(static_cast<float>(half - 1))));
  double log_min = std::log(min_freq);
  double log_max = std::log(max_freq);
  sigmas_ = mx::exp(mx::add(
      mx::multiply(one_zero, mx::array(static_cast<float>(log_max - log_min))),
      mx::array(static_cast<float>(log_min))));
  if (full_turns) {
    sigmas_ = mx::multiply(
        sigmas_, mx::array(static_cast<float>(2 * std::numbers::pi)));
  }
  sigmas_ = mx::contiguous(sigmas_);
  mx::eval(sigmas_);
  scale_ = scale ? *scale : std::sqrt(2.0 / dims);
}

mx::array SinusoidalPositionalEncoding::forward(const mx::array& x) {
  mx::array angles = mx::multiply(mx::expand_dims(x, -1), sigmas_);
  mx::array cosines = mx::cos(angles);
  mx::array sines = mx::sin(angles);
  mx::array y = cos_first_ ? mx::concatenate({cosines, sines}, -1)
                           : mx::concatenate({sines, cosines}, -1);
  if (scale_ != 1.0) {
    y = mx::multiply(y, mx::array(static_cast<float>(scale_), y.dtype()));
  }
  return y;
}

std::vector<mx::array> ALiBi::forward(const Inputs& inputs) {
  check_inputs(*this, inputs, 1);
  std::optional<mx::array> offset =
      inputs.size() > 1 ? inputs[1] : std::nullopt;
  std::optional<mx::array> mask = inputs.size() > 2 ? inputs[2] : std::nullopt;
  return {forward(*inputs[0], scalar_offset(offset, "ALiBi"), mask)};
}

mx::array ALiBi::forward(
    const mx::array& attention_scores,
    int offset,
    const std::optional<mx::array>& mask) const {
  if (attention_scores.ndim() != 4) {
    std::ostringstream msg;
    msg << "[ALiBi] Expected attention scores of shape (batch, heads, "
        << "queries, keys) but received shape "
        << detail::shape_string(attention_scores.shape()) << ".";
    throw std::invalid_argument(msg.str());
  }
  mx::array bias = create_alibi_matrix(
      attention_scores.shape(-2) + offset,
      attention_scores.shape(-1),
      attention_scores.shape(1),
      offset,
      attention_scores.dtype());
  if (mask) {
    bias = mx::add(bias, *mask);
  }
  return mx::add(attention_scores, bias);
}

mx::array ALiBi::create_alibi_matrix(
    int q_sequence_length,
    int k_sequence_length,
    int num_heads,
    int offset,
    mx::Dtype dtype) {
  if (q_sequence_length < offset || k_sequence_length < 0 || offset < 0) {
    std::ostringstream msg;
    msg << "[ALiBi] Expected 0 <= offset <= q_sequence_length and "
        << "k_sequence_length >= 0 but received q_sequence_length="
        << q_sequence_length << ", k_sequence_length=" << k_sequence_length
        << " and offset=" << offset << ".";
    throw std::invalid_argument(msg.str());
  }
  mx::array queries = mx::arange(offset, q_sequence_length, mx::int32);
  mx::array keys = mx::arange(0, k_sequence_length, mx::int32);
  mx::array distance = mx::negative(mx::abs(mx::subtract(
      mx::expand_dims(queries, 1), mx::expand_dims(keys, 0))));
  distance = mx::expand_dims(distance, {0, 1});
  mx::array slope = create_alibi_slope(num_heads, dtype);
  return mx::astype(mx::multiply(distance, slope), dtype);
}

namespace {

// MLX Python's slopes: for n a power of two, start^1 ... start^n with
// start = 2^(-8 / n); otherwise those of the largest power of two below n,
// then every second slope of twice that power.
std::vector<double> alibi_slopes(int n) {
  double exponent = std::log2(static_cast<double>(n));
  std::vector<double> slopes;
  if (exponent == std::floor(exponent)) {
    double start = std::pow(2.0, -std::pow(2.0, -(exponent - 3)));
    for (int i = 0; i < n; ++i) {
      slopes.push_back(start * std::pow(start, i));
    }
    return slopes;
  }
  int power = 1 << static_cast<int>(std::floor(exponent));
  slopes = alibi_slopes(power);
  std::vector<double> doubled = alibi_slopes(2 * power);
  for (int i = 0; i < n - power; ++i) {
    slopes.push_back(doubled[2 * i]);
  }
  return slopes;
}

} // namespace

mx::array ALiBi::create_alibi_slope(int num_heads, mx::Dtype dtype) {
  if (num_heads < 1) {
    std::ostringstream msg;
    msg << "[ALiBi] Expected num_heads >= 1 but received " << num_heads
        << ".";
    throw std::invalid_argument(msg.str());
  }
  std::vector<double> slopes = alibi_slopes(num_heads);
  std::vector<float> values(slopes.begin(), slopes.end());
  mx::array out(values.begin(), {num_heads}, mx::float32);
  return mx::expand_dims(mx::astype(out, dtype), {-1, -2});
}

} // namespace rmlx::nn
