#include "rmlx/optimizers/optimizers.h"
#include "rmlx/optimizers/fused.h"
#include "optimizer_utils.h"

#include <optional>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

namespace rmlx::optimizers {

namespace {

using detail::weak_scalar;

mx::array initial_learning_rate(
    const std::optional<LearningRate>& learning_rate,
    const mx::array& step) {
  if (!learning_rate) {
    return mx::array(0.0f);
  }
  if (learning_rate->is_schedule()) {
    return learning_rate->schedule()(step);
  }
  return mx::array(static_cast<float>(learning_rate->value()));
}

} // namespace

LearningRate::LearningRate(Schedule schedule) : schedule_(std::move(schedule)) {
  if (!schedule_) {
    throw std::invalid_argument(
        "[LearningRate] The learning-rate schedule is an empty function. "
        "Pass a callable or a number.");
  }
}

// Optimizer

Optimizer::Optimizer(const std::optional<LearningRate>& learning_rate)
    : step_(mx::array(0, mx::uint64)),
      learning_rate_(initial_learning_rate(learning_rate, step_)),
      has_learning_rate_(learning_rate.has_value()),
      schedule_(learning_rate ? learning_rate->schedule() : Schedule{}) {}

ParameterState& Optimizer::state_of(
    const std::string& name,
    const mx::array& like) {
  auto it = states_.find(name);
  if (it != states_.end()) {
    return it->second;
  }
  ParameterState state;
  init_single(like, state);
  order_.push_back(name);
  return states_.emplace(name, std::move(state)).first->second;
}

void Optimizer::init(const NamedArrays& parameters) {
  for (const auto& [name, parameter] : parameters) {
    state_of(name, parameter);
  }
}

NamedArrays Optimizer::apply_gradients(
    const NamedArrays& gradients,
    const NamedArrays& parameters) {
  std::unordered_map<std::string, const mx::array*> by_name;
  for (const auto& [name, parameter] : parameters) {
    by_name.emplace(name, &parameter);
  }
  for (const auto& [name, gradient] : gradients) {
    if (by_name.find(name) == by_name.end()) {
      std::ostringstream msg;
      msg << "[" << type_name() << "] Every gradient needs a parameter of the "
          << "same name, but no parameter \"" << name << "\" was found among "
          << "the " << parameters.size() << " parameters.";
      throw std::invalid_argument(msg.str());
    }
  }

  // MLX creates missing state from the gradients, before the schedule and
  // the step counter change.
  init(gradients);
  if (schedule_) {
    learning_rate_ = schedule_(step_);
  }
  step_ = mx::add(step_, mx::array(1, mx::uint64));

  NamedArrays updated;
  updated.reserve(gradients.size());
  for (const auto& [name, gradient] : gradients) {
    const mx::array& parameter = *by_name.at(name);
    updated.emplace_back(
        name, apply_single(gradient, parameter, states_.at(name)));
  }
  return updated;
}

void Optimizer::update(nn::Module& model, const NamedArrays& gradients) {
  model.update(apply_gradients(gradients, model.parameters()));
}

void Optimizer::set_learning_rate(double learning_rate) {
  set_learning_rate(mx::array(static_cast<float>(learning_rate)));
}

void Optimizer::set_learning_rate(mx::array learning_rate) {
  learning_rate_ = std::move(learning_rate);
  has_learning_rate_ = true;
}

NamedArrays Optimizer::state() const {
  NamedArrays out;
  out.emplace_back("step", step_);
  if (has_learning_rate_) {
    out.emplace_back("learning_rate", learning_rate_);
  }
  for (const auto& name : order_) {
    for (const auto& [key, value] : states_.at(name)) {
      out.emplace_back(name + "." + key, value);
    }
  }
  return out;
}

void Optimizer::set_state(const NamedArrays& state) {
  std::optional<mx::array> step;
  std::optional<mx::array> learning_rate;
  std::vector<std::string> order;
  std::map<std::string, ParameterState> states;
  for (const auto& [name, value] : state) {
    if (name == "step") {
      // Bindings may hold the counter in another integer type.
      step = mx::astype(value, mx::uint64);
      continue;
    }
    if (name == "learning_rate") {
      learning_rate = value;
      continue;
    }
    auto dot = name.rfind('.');
    if (dot == std::string::npos || dot == 0 || dot + 1 == name.size()) {
      std::ostringstream msg;
      msg << "[" << type_name() << "] State names must be \"step\", "
          << "\"learning_rate\" or \"<parameter>.<key>\", but got \"" << name
          << "\".";
      throw std::invalid_argument(msg.str());
    }
    auto parameter = name.substr(0, dot);
    if (states.find(parameter) == states.end()) {
      order.push_back(parameter);
    }
    states[parameter].insert_or_assign(name.substr(dot + 1), value);
  }
  bool needs_learning_rate = has_learning_rate_ && !learning_rate;
  for (const auto* missing :
       {step ? nullptr : "step",
        needs_learning_rate ? "learning_rate" : nullptr}) {
    if (missing != nullptr) {
      std::ostringstream msg;
      msg << "[" << type_name() << "] The state is missing \"" << missing
          << "\". Pass a state in the layout that state() returns.";
      throw std::invalid_argument(msg.str());
    }
  }

  step_ = *step;
  if (learning_rate) {
    learning_rate_ = *learning_rate;
    has_learning_rate_ = true;
  }
  order_ = std::move(order);
  states_ = std::move(states);
}

std::vector<mx::array> Optimizer::flatten_state() const {
  std::vector<mx::array> out;
  for (auto& [name, value] : state()) {
    out.push_back(value);
  }
  return out;
}

void Optimizer::unflatten_state(const std::vector<mx::array>& arrays) {
  size_t expected = has_learning_rate_ ? 2 : 1;
  for (const auto& [name, state] : states_) {
    expected += state.size();
  }
  if (arrays.size() != expected) {
    std::ostringstream msg;
    msg << "[" << type_name() << "] The flat state must have " << expected
        << " arrays, as flatten_state() returns, but got " << arrays.size()
        << ".";
    throw std::invalid_argument(msg.str());
  }

  auto it = arrays.begin();
  step_ = *it++;
  if (has_learning_rate_) {
    learning_rate_ = *it++;
  }
  for (const auto& name : order_) {
    for (auto& [key, value] : states_.at(name)) {
      value = *it++;
    }
  }
}

// SGD

SGD::SGD(
    const LearningRate& learning_rate,
    double momentum,
    double weight_decay,
    double dampening,
    bool nesterov)
    : Optimizer(learning_rate),
      momentum_(momentum),
      weight_decay_(weight_decay),
      dampening_(dampening),
      nesterov_(nesterov) {
  if (nesterov && (momentum <= 0 || dampening != 0)) {
    std::ostringstream msg;
    msg << "[SGD] Nesterov momentum requires momentum > 0 and dampening = 0, "
        << "but got momentum = " << momentum << " and dampening = " << dampening
        << ".";
    throw std::invalid_argument(msg.str());
  }
}

void SGD::init_single(const mx::array& parameter, ParameterState& state)
    const {
  state.insert_or_assign("v", mx::zeros_like(parameter));
}

mx::array SGD::apply_single(
    const mx::array& gradient,
    const mx::array& parameter,
    ParameterState& state) {
  auto g = gradient;
  if (weight_decay_ != 0) {
    g = mx::add(g, mx::multiply(weak_scalar(weight_decay_, parameter), parameter));
  }
  auto lr = mx::astype(learning_rate(), g.dtype());
  if (momentum_ <= 0) {
    return mx::subtract(parameter, mx::multiply(lr, g));
  }

  const auto& v_old = state.at("v");
  auto v = mx::multiply(weak_scalar(momentum_, v_old), v_old);
  if (dampening_ > 0) {
    v = mx::add(v, mx::multiply(weak_scalar(1 - dampening_, g), g));
  } else {
    v = mx::add(v, g);
  }
  auto update = v;
  if (nesterov_) {
    update = mx::add(g, mx::multiply(weak_scalar(momentum_, v), v));
  }
  state.insert_or_assign("v", v);
  return mx::subtract(parameter, mx::multiply(lr, update));
}

// Adam

Adam::Adam(
    const LearningRate& learning_rate,
    std::array<double, 2> betas,
    double eps,
    bool bias_correction)
    : Adam("Adam", learning_rate, betas, eps, bias_correction) {}

Adam::Adam(
    const std::string& type_name,
    const LearningRate& learning_rate,
    std::array<double, 2> betas,
    double eps,
    bool bias_correction)
    : Optimizer(learning_rate),
      betas_(betas),
      eps_(eps),
      bias_correction_(bias_correction) {
  for (size_t i = 0; i < betas.size(); ++i) {
    if (!(betas[i] >= 0.0 && betas[i] < 1.0)) {
      std::ostringstream msg;
      msg << "[" << type_name << "] beta" << i + 1 << " must be in [0, 1), "
          << "but got " << betas[i] << ".";
      throw std::invalid_argument(msg.str());
    }
  }
  if (!(eps >= 0.0)) {
    std::ostringstream msg;
    msg << "[" << type_name << "] eps must be >= 0, but got " << eps << ".";
    throw std::invalid_argument(msg.str());
  }
}

void Adam::init_single(const mx::array& parameter, ParameterState& state)
    const {
  state.insert_or_assign("m", mx::zeros_like(parameter));
  state.insert_or_assign("v", mx::zeros_like(parameter));
}

mx::array Adam::apply_single(
    const mx::array& gradient,
    const mx::array& parameter,
    ParameterState& state) {
  return apply_adam(gradient, parameter, state, std::nullopt);
}

mx::array Adam::apply_adam(
    const mx::array& gradient,
    const mx::array& parameter,
    ParameterState& state,
    const std::optional<mx::array>& decay) {
  auto dtype = gradient.dtype();
  auto lr = mx::astype(learning_rate(), dtype);
  auto [b1, b2] = betas_;
  auto one = mx::array(1.0f);

  // a, c and d of adam_step(): the step size, the scale of sqrt(v) and the
  // decay factor of the parameter.
  mx::array a = lr;
  mx::array c = one;
  if (bias_correction_) {
    // MLX Python computes beta ** step in float32, whatever the gradient
    // dtype.
    auto step = mx::astype(this->step(), mx::float32);
    a = mx::astype(
        mx::divide(
            lr,
            mx::subtract(
                one, mx::power(mx::array(static_cast<float>(b1)), step))),
        dtype);
    c = mx::astype(
        mx::rsqrt(mx::subtract(
            one, mx::power(mx::array(static_cast<float>(b2)), step))),
        dtype);
  }
  auto outputs = adam_step(
      parameter,
      gradient,
      state.at("m"),
      state.at("v"),
      a,
      c,
      decay.value_or(one),
      b1,
      b2,
      eps_);
  state.insert_or_assign("m", outputs[1]);
  state.insert_or_assign("v", outputs[2]);
  return outputs[0];
}

// AdamW

AdamW::AdamW(
    const LearningRate& learning_rate,
    std::array<double, 2> betas,
    double eps,
    double weight_decay,
    bool bias_correction)
    : Adam("AdamW", learning_rate, betas, eps, bias_correction),
      weight_decay_(weight_decay) {}

mx::array AdamW::apply_single(
    const mx::array& gradient,
    const mx::array& parameter,
    ParameterState& state) {
  auto lr = mx::astype(learning_rate(), gradient.dtype());
  auto decay = mx::multiply(lr, weak_scalar(weight_decay_, lr));
  auto scale = mx::subtract(weak_scalar(1.0, decay), decay);
  return apply_adam(gradient, parameter, state, scale);
}

} // namespace rmlx::optimizers
