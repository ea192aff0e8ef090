#include "rmlx/optimizers/adaptive.h"

#include <stdexcept>

#include "optimizer_utils.h"

namespace rmlx::optimizers {

namespace {

using detail::check_non_negative;
using detail::check_positive;
using detail::check_unit_interval;
using detail::weak_scalar;

// a * x + (1 - a) * y, with both coefficients rounded to x's dtype as MLX
// Python rounds its float scalars.
mx::array running_average(double a, const mx::array& x, const mx::array& y) {
  return mx::add(
      mx::multiply(weak_scalar(a, x), x),
      mx::multiply(weak_scalar(1.0 - a, y), y));
}

mx::array root_mean_square(const mx::array& x) {
  return mx::sqrt(mx::mean(mx::square(x)));
}

void check_betas(
    const std::string& type_name,
    const std::array<double, 2>& betas) {
  check_unit_interval(type_name, "beta1", betas[0]);
  check_unit_interval(type_name, "beta2", betas[1]);
}

} // namespace

// RMSprop

RMSprop::RMSprop(const LearningRate& learning_rate, double alpha, double eps)
    : Optimizer(learning_rate), alpha_(alpha), eps_(eps) {
  if (!(alpha >= 0.0 && alpha <= 1.0)) {
    detail::throw_option("RMSprop", "alpha", "in [0, 1]", alpha);
  }
  check_positive("RMSprop", "eps", eps);
}

void RMSprop::init_single(const mx::array& parameter, ParameterState& state)
    const {
  state.insert_or_assign("v", mx::zeros_like(parameter));
}

mx::array RMSprop::apply_single(
    const mx::array& gradient,
    const mx::array& parameter,
    ParameterState& state) {
  auto lr = mx::astype(learning_rate(), gradient.dtype());
  auto v = running_average(alpha_, state.at("v"), mx::square(gradient));
  state.insert_or_assign("v", v);
  auto denominator = mx::add(mx::sqrt(v), weak_scalar(eps_, v));
  return mx::subtract(
      parameter, mx::divide(mx::multiply(lr, gradient), denominator));
}

// Adagrad

Adagrad::Adagrad(const LearningRate& learning_rate, double eps)
    : Optimizer(learning_rate), eps_(eps) {
  check_positive("Adagrad", "eps", eps);
}

void Adagrad::init_single(const mx::array& parameter, ParameterState& state)
    const {
  state.insert_or_assign("v", mx::zeros_like(parameter));
}

mx::array Adagrad::apply_single(
    const mx::array& gradient,
    const mx::array& parameter,
    ParameterState& state) {
  auto lr = mx::astype(learning_rate(), gradient.dtype());
  auto v = mx::add(state.at("v"), mx::square(gradient));
  state.insert_or_assign("v", v);
  auto denominator = mx::add(mx::sqrt(v), weak_scalar(eps_, v));
  return mx::subtract(
      parameter, mx::divide(mx::multiply(lr, gradient), denominator));
}

// AdaDelta

AdaDelta::AdaDelta(const LearningRate& learning_rate, double rho, double eps)
    : Optimizer(learning_rate), rho_(rho), eps_(eps) {
  if (!(rho >= 0.0 && rho <= 1.0)) {
    detail::throw_option("AdaDelta", "rho", "in [0, 1]", rho);
  }
  check_positive("AdaDelta", "eps", eps);
}

void AdaDelta::init_single(const mx::array& parameter, ParameterState& state)
    const {
  state.insert_or_assign("v", mx::zeros_like(parameter));
  state.insert_or_assign("u", mx::zeros_like(parameter));
}

mx::array AdaDelta::apply_single(
    const mx::array& gradient,
    const mx::array& parameter,
    ParameterState& state) {
  auto lr = mx::astype(learning_rate(), gradient.dtype());
  const auto& u_old = state.at("u");
  auto v = running_average(rho_, state.at("v"), mx::square(gradient));
  auto eps = weak_scalar(eps_, v);
  auto delta = mx::multiply(
      mx::divide(mx::sqrt(mx::add(u_old, eps)), mx::sqrt(mx::add(v, eps))),
      gradient);
  auto u = running_average(rho_, u_old, mx::square(delta));
  state.insert_or_assign("v", v);
  state.insert_or_assign("u", u);
  return mx::subtract(parameter, mx::multiply(lr, delta));
}

// Adamax

Adamax::Adamax(
    const LearningRate& learning_rate,
    std::array<double, 2> betas,
    double eps)
    : Optimizer(learning_rate), betas_(betas), eps_(eps) {
  check_betas("Adamax", betas);
  check_non_negative("Adamax", "eps", eps);
}

void Adamax::init_single(const mx::array& parameter, ParameterState& state)
    const {
  state.insert_or_assign("m", mx::zeros_like(parameter));
  state.insert_or_assign("v", mx::zeros_like(parameter));
}

mx::array Adamax::apply_single(
    const mx::array& gradient,
    const mx::array& parameter,
    ParameterState& state) {
  auto lr = mx::astype(learning_rate(), gradient.dtype());
  auto [b1, b2] = betas_;
  auto m = running_average(b1, state.at("m"), gradient);
  const auto& v_old = state.at("v");
  auto v = mx::maximum(
      mx::multiply(weak_scalar(b2, v_old), v_old), mx::abs(gradient));
  state.insert_or_assign("m", m);
  state.insert_or_assign("v", v);
  return mx::subtract(
      parameter,
      mx::divide(mx::multiply(lr, m), mx::add(v, weak_scalar(eps_, v))));
}

// Lion

Lion::Lion(
    const LearningRate& learning_rate,
    std::array<double, 2> betas,
    double weight_decay)
    : Optimizer(learning_rate), betas_(betas), weight_decay_(weight_decay) {
  check_betas("Lion", betas);
  check_non_negative("Lion", "weight_decay", weight_decay);
}

void Lion::init_single(const mx::array& parameter, ParameterState& state)
    const {
  state.insert_or_assign("m", mx::zeros_like(parameter));
}

mx::array Lion::apply_single(
    const mx::array& gradient,
    const mx::array& parameter,
    ParameterState& state) {
  auto lr = mx::astype(learning_rate(), gradient.dtype());
  auto [b1, b2] = betas_;
  const auto& m = state.at("m");
  auto direction = running_average(b1, m, gradient);
  state.insert_or_assign("m", running_average(b2, m, gradient));
  auto decayed = parameter;
  if (weight_decay_ > 0) {
    auto decay = mx::multiply(lr, weak_scalar(weight_decay_, lr));
    decayed = mx::multiply(
        mx::subtract(weak_scalar(1.0, decay), decay), parameter);
  }
  return mx::subtract(decayed, mx::multiply(lr, mx::sign(direction)));
}

// Adafactor

Adafactor::Adafactor(
    const std::optional<LearningRate>& learning_rate,
    AdafactorOptions options)
    : Optimizer(learning_rate), options_(options) {
  if (!learning_rate && !options.relative_step) {
    throw std::invalid_argument(
        "[Adafactor] Without relative_step a learning rate is required, but "
        "none was given.");
  }
  check_non_negative("Adafactor", "eps[0]", options.eps[0]);
  check_non_negative("Adafactor", "eps[1]", options.eps[1]);
  check_positive("Adafactor", "clip_threshold", options.clip_threshold);
  if (!(options.decay_rate <= 0.0)) {
    detail::throw_option("Adafactor", "decay_rate", "<= 0", options.decay_rate);
  }
  if (options.beta_1) {
    check_unit_interval("Adafactor", "beta_1", *options.beta_1);
  }
  check_non_negative("Adafactor", "weight_decay", options.weight_decay);
}

void Adafactor::init_single(const mx::array& parameter, ParameterState& state)
    const {
  if (parameter.ndim() >= 2) {
    auto shape = parameter.shape();
    auto rows = mx::Shape(shape.begin(), shape.end() - 1);
    auto columns = mx::Shape(shape.begin(), shape.end() - 2);
    columns.push_back(shape.back());
    state.insert_or_assign("exp_avg_sq_row", mx::zeros(rows, parameter.dtype()));
    state.insert_or_assign(
        "exp_avg_sq_col", mx::zeros(columns, parameter.dtype()));
  } else {
    state.insert_or_assign("exp_avg_sq", mx::zeros_like(parameter));
  }
  if (options_.beta_1) {
    state.insert_or_assign("exp_avg", mx::zeros_like(parameter));
  }
}

mx::array Adafactor::step_size(const mx::array& parameter_rms) const {
  mx::array relative = learning_rate();
  if (options_.relative_step) {
    auto step = mx::astype(this->step(), mx::float32);
    auto minimum = options_.warmup_init
        ? mx::multiply(mx::array(1e-6f), step)
        : mx::array(1e-2f);
    relative = mx::minimum(minimum, mx::rsqrt(step));
  }
  relative = mx::astype(relative, parameter_rms.dtype());
  if (!options_.scale_parameter) {
    return relative;
  }
  auto scale = mx::maximum(
      weak_scalar(options_.eps[1], parameter_rms), parameter_rms);
  return mx::multiply(scale, relative);
}

mx::array Adafactor::apply_single(
    const mx::array& gradient,
    const mx::array& parameter,
    ParameterState& state) {
  auto parameter_rms = root_mean_square(parameter);
  auto lr = step_size(parameter_rms);
  auto step = mx::astype(this->step(), mx::float32);
  auto decay = mx::astype(
      mx::power(step, mx::array(static_cast<float>(options_.decay_rate))),
      parameter_rms.dtype());
  auto beta_2 = mx::subtract(weak_scalar(1.0, decay), decay);
  auto one_minus_beta_2 = mx::subtract(weak_scalar(1.0, beta_2), beta_2);
  auto update = mx::add(
      mx::square(gradient), weak_scalar(options_.eps[0], gradient));

  auto average = [&](const mx::array& old, const mx::array& value) {
    return mx::add(
        mx::multiply(beta_2, old), mx::multiply(one_minus_beta_2, value));
  };
  if (gradient.ndim() >= 2) {
    auto row = average(state.at("exp_avg_sq_row"), mx::mean(update, -1));
    auto column = average(state.at("exp_avg_sq_col"), mx::mean(update, -2));
    state.insert_or_assign("exp_avg_sq_row", row);
    state.insert_or_assign("exp_avg_sq_col", column);
    // The rank-one estimate of 1 / sqrt(E[g^2]) from the row and column
    // averages.
    auto row_factor =
        mx::rsqrt(mx::divide(row, mx::mean(row, -1, /* keepdims */ true)));
    auto column_factor = mx::rsqrt(column);
    update = mx::multiply(
        mx::multiply(
            mx::expand_dims(row_factor, -1),
            mx::expand_dims(column_factor, -2)),
        gradient);
  } else {
    auto average_square = average(state.at("exp_avg_sq"), update);
    state.insert_or_assign("exp_avg_sq", average_square);
    update = mx::multiply(mx::rsqrt(average_square), gradient);
  }

  auto update_rms = root_mean_square(update);
  auto clip = mx::maximum(
      weak_scalar(1.0, update_rms),
      mx::divide(update_rms, weak_scalar(options_.clip_threshold, update_rms)));
  update = mx::multiply(lr, mx::divide(update, clip));

  if (options_.beta_1) {
    update = running_average(*options_.beta_1, state.at("exp_avg"), update);
    state.insert_or_assign("exp_avg", update);
  }
  auto decayed = parameter;
  if (options_.weight_decay != 0) {
    auto factor = mx::multiply(weak_scalar(-options_.weight_decay, lr), lr);
    decayed = mx::add(parameter, mx::multiply(parameter, factor));
  }
  return mx::subtract(decayed, update);
}

} // namespace rmlx::optimizers
