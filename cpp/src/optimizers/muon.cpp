#include "rmlx/optimizers/muon.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "optimizer_utils.h"

namespace rmlx::optimizers {

using detail::weak_scalar;

mx::array newton_schulz5(const mx::array& x, int steps) {
  if (x.ndim() != 2) {
    throw std::invalid_argument(
        "[newton_schulz5] The input must be a matrix, but it has " +
        std::to_string(x.ndim()) + " dimensions.");
  }
  const float a = 3.4445f;
  const float b = -4.7750f;
  const float c = 2.0315f;
  bool transposed = x.shape(0) > x.shape(1);
  auto y = transposed ? mx::transpose(x) : x;
  auto norm = mx::linalg::norm(y, std::nullopt, /* keepdims */ true);
  y = mx::divide(y, mx::add(norm, weak_scalar(1e-7, norm)));
  for (int i = 0; i < steps; ++i) {
    auto gram = mx::matmul(y, mx::transpose(y));
    auto polynomial = mx::addmm(
        mx::multiply(weak_scalar(b, gram), gram), gram, gram, c, 1.0f);
    y = mx::addmm(mx::multiply(weak_scalar(a, y), y), polynomial, y, 1.0f, 1.0f);
  }
  return transposed ? mx::transpose(y) : y;
}

Muon::Muon(
    const LearningRate& learning_rate,
    double momentum,
    double weight_decay,
    bool nesterov,
    int ns_steps)
    : Optimizer(learning_rate),
      momentum_(momentum),
      weight_decay_(weight_decay),
      nesterov_(nesterov),
      ns_steps_(ns_steps) {
  detail::check_unit_interval("Muon", "momentum", momentum);
  detail::check_non_negative("Muon", "weight_decay", weight_decay);
  detail::check_non_negative("Muon", "ns_steps", ns_steps);
}

void Muon::init_single(const mx::array& parameter, ParameterState& state)
    const {
  state.insert_or_assign("v", mx::zeros_like(parameter));
}

mx::array Muon::apply_single(
    const mx::array& gradient,
    const mx::array& parameter,
    ParameterState& state) {
  auto g = gradient;
  if (weight_decay_ != 0) {
    g = mx::add(g, mx::multiply(weak_scalar(weight_decay_, parameter), parameter));
  }
  const auto& v_old = state.at("v");
  auto v = mx::add(
      mx::multiply(weak_scalar(momentum_, v_old), v_old),
      mx::multiply(weak_scalar(1.0 - momentum_, g), g));
  state.insert_or_assign("v", v);
  auto update = v;
  if (nesterov_) {
    update = mx::add(
        mx::multiply(g, weak_scalar(1.0 - momentum_, g)),
        mx::multiply(v, weak_scalar(momentum_, v)));
  }

  auto lr = mx::astype(learning_rate(), g.dtype());
  if (update.ndim() >= 2) {
    auto shape = update.shape();
    auto matrix = mx::reshape(update, {shape[0], -1});
    update = mx::reshape(newton_schulz5(matrix, ns_steps_), shape);
    // NOTE: like MLX Python, a parameter with more than two dimensions is
    // scaled by its last two dimensions, not by the flattened matrix's.
    double ratio = static_cast<double>(shape[shape.size() - 2]) /
        static_cast<double>(shape.back());
    lr = mx::multiply(lr, weak_scalar(std::sqrt(std::max(1.0, ratio)), lr));
  }
  return mx::subtract(parameter, mx::multiply(lr, update));
}

} // namespace rmlx::optimizers
