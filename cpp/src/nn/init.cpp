#include "rmlx/nn/init.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>

#include "rmlx/random.h"

namespace rmlx::nn::init {

namespace {

std::string shape_string(const mx::Shape& shape) {
  std::ostringstream out;
  out << "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    out << (i > 0 ? ", " : "") << shape[i];
  }
  out << ")";
  return out.str();
}

void check_matrix(const char* function, const mx::Shape& shape) {
  if (shape.size() != 2) {
    throw std::invalid_argument(
        std::string("[") + function + "] The shape must have 2 dimensions, " +
        "but got " + shape_string(shape) + ".");
  }
}

void check_std(const char* function, double std) {
  if (!(std >= 0.0)) {
    std::ostringstream msg;
    msg << "[" << function << "] std must be >= 0, but got " << std << ".";
    throw std::invalid_argument(msg.str());
  }
}

int64_t select_fan(const mx::Shape& shape, FanMode mode) {
  auto [fan_in, fan_out] = fan_in_fan_out(shape);
  return mode == FanMode::fan_in ? fan_in : fan_out;
}

mx::array draw_normal(
    const mx::Shape& shape,
    double mean,
    double std,
    mx::Dtype dtype) {
  return mx::random::normal(
      shape,
      dtype,
      static_cast<float>(mean),
      static_cast<float>(std),
      random::next_key());
}

mx::array draw_uniform(
    const mx::Shape& shape,
    double low,
    double high,
    mx::Dtype dtype) {
  return mx::random::uniform(
      mx::array(static_cast<float>(low)),
      mx::array(static_cast<float>(high)),
      shape,
      dtype,
      random::next_key());
}

} // namespace

std::pair<int64_t, int64_t> fan_in_fan_out(const mx::Shape& shape) {
  if (shape.size() < 2) {
    throw std::invalid_argument(
        "[fan_in_fan_out] Glorot and He initialization need at least 2 "
        "dimensions, but got shape " + shape_string(shape) + ".");
  }
  int64_t receptive_field = 1;
  for (size_t i = 1; i + 1 < shape.size(); ++i) {
    receptive_field *= shape[i];
  }
  return {shape.back() * receptive_field, shape.front() * receptive_field};
}

mx::array constant(const mx::Shape& shape, double value, mx::Dtype dtype) {
  return mx::full(shape, static_cast<float>(value), dtype);
}

mx::array normal(
    const mx::Shape& shape,
    double mean,
    double std,
    mx::Dtype dtype) {
  check_std("normal", std);
  return draw_normal(shape, mean, std, dtype);
}

mx::array uniform(
    const mx::Shape& shape,
    double low,
    double high,
    mx::Dtype dtype) {
  if (!(low <= high)) {
    std::ostringstream msg;
    msg << "[uniform] high must be >= low, but got low = " << low
        << " and high = " << high << ".";
    throw std::invalid_argument(msg.str());
  }
  return draw_uniform(shape, low, high, dtype);
}

mx::array identity(const mx::Shape& shape, mx::Dtype dtype) {
  if (shape.size() != 2 || shape[0] != shape[1]) {
    throw std::invalid_argument(
        "[identity] The shape must be a square matrix, but got " +
        shape_string(shape) + ".");
  }
  return mx::eye(shape[0], dtype);
}

mx::array glorot_normal(const mx::Shape& shape, double gain, mx::Dtype dtype) {
  auto [fan_in, fan_out] = fan_in_fan_out(shape);
  double std = gain * std::sqrt(2.0 / static_cast<double>(fan_in + fan_out));
  return draw_normal(shape, 0.0, std, dtype);
}

mx::array glorot_uniform(const mx::Shape& shape, double gain, mx::Dtype dtype) {
  auto [fan_in, fan_out] = fan_in_fan_out(shape);
  double limit = gain * std::sqrt(6.0 / static_cast<double>(fan_in + fan_out));
  return draw_uniform(shape, -limit, limit, dtype);
}

mx::array he_normal(
    const mx::Shape& shape,
    FanMode mode,
    double gain,
    mx::Dtype dtype) {
  double std = gain / std::sqrt(static_cast<double>(select_fan(shape, mode)));
  return draw_normal(shape, 0.0, std, dtype);
}

mx::array he_uniform(
    const mx::Shape& shape,
    FanMode mode,
    double gain,
    mx::Dtype dtype) {
  double fan = static_cast<double>(select_fan(shape, mode));
  double limit = gain * std::sqrt(3.0 / fan);
  return draw_uniform(shape, -limit, limit, dtype);
}

mx::array sparse(
    const mx::Shape& shape,
    double sparsity,
    double mean,
    double std,
    mx::Dtype dtype) {
  check_matrix("sparse", shape);
  check_std("sparse", std);
  if (!(sparsity >= 0.0 && sparsity <= 1.0)) {
    std::ostringstream msg;
    msg << "[sparse] sparsity must be in [0, 1], but got " << sparsity << ".";
    throw std::invalid_argument(msg.str());
  }
  auto zeros_per_row =
      static_cast<int>(std::ceil(sparsity * static_cast<double>(shape[1])));
  // As MLX Python: a random permutation of each row's columns from the
  // order of uniform keys, drawn before the values.
  auto order = mx::argsort(
      mx::random::uniform(shape, mx::float32, random::next_key()), 1);
  auto values = draw_normal(shape, mean, std, dtype);
  // The position of each column in its row's permutation; the first
  // zeros_per_row positions are zeroed.
  auto rank = mx::argsort(order, 1);
  auto zeroed = mx::less(rank, mx::array(zeros_per_row, rank.dtype()));
  return mx::where(zeroed, mx::zeros_like(values), values);
}

mx::array orthogonal(const mx::Shape& shape, double gain, mx::Dtype dtype) {
  check_matrix("orthogonal", shape);
  int side = std::max(shape[0], shape[1]);
  auto square = mx::random::normal(
      {side, side}, mx::float32, 0.0f, 1.0f, random::next_key());
  // MLX's QR runs on the CPU only.
  auto [q, r] = mx::linalg::qr(square, mx::Device::cpu);
  q = mx::multiply(q, mx::sign(mx::diagonal(r)));
  q = mx::slice(q, {0, 0}, {shape[0], shape[1]});
  q = mx::multiply(q, mx::array(static_cast<float>(gain)));
  return mx::astype(q, dtype);
}

} // namespace rmlx::nn::init
