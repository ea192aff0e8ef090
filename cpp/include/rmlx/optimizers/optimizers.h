// Optimizers that follow MLX Python's mlx.optimizers step for step: the same
// per-parameter init_single/apply_single hooks, the same uint64 step counter
// and the same learning-rate schedules evaluated before the step increments.
#pragma once

#include <array>
#include <concepts>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <mlx/mlx.h>

#include "rmlx/nn/module.h"

namespace rmlx::optimizers {

namespace mx = mlx::core;
using nn::NamedArrays;

/** A hyperparameter as a function of the step count, a uint64 scalar. */
using Schedule = std::function<mx::array(const mx::array& step)>;

/** A learning rate: either a constant or a schedule over the step count. */
class LearningRate {
 public:
  /** A constant learning rate, stored as a float32 scalar like MLX. */
  LearningRate(double value) : value_(value) {}

  /** A scheduled learning rate; throws std::invalid_argument if empty. */
  LearningRate(Schedule schedule);

  /** A scheduled learning rate from any callable taking the step count. */
  template <typename F>
    requires(
        std::is_invocable_r_v<mx::array, F, const mx::array&> &&
        !std::same_as<std::decay_t<F>, Schedule> &&
        !std::same_as<std::decay_t<F>, LearningRate>)
  LearningRate(F schedule) : LearningRate(Schedule(std::move(schedule))) {}

  /** True when the learning rate is a schedule. */
  bool is_schedule() const {
    return static_cast<bool>(schedule_);
  }

  /** The constant value; meaningless for a schedule. */
  double value() const {
    return value_;
  }

  /** The schedule; empty for a constant learning rate. */
  const Schedule& schedule() const {
    return schedule_;
  }

 private:
  double value_ = 0.0;
  Schedule schedule_;
};

/** The state of one parameter, keyed by name ("m", "v"). */
using ParameterState = std::map<std::string, mx::array>;

/**
 * The base class of every optimizer. It keeps a step counter, the learning
 * rate and a state per parameter under the parameter's dotted name, and
 * applies the subclass's update to each parameter in turn.
 */
class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  /** The optimizer's class name as MLX Python spells it, e.g. "Adam". */
  virtual std::string type_name() const = 0;

  /**
   * Creates the state of every parameter that has none yet, leaving existing
   * state untouched. Updates call it implicitly for new parameters.
   */
  virtual void init(const NamedArrays& parameters);

  /**
   * Advances one step and returns the updated value of each parameter that
   * has a gradient, in the order of the gradients. A scheduled learning
   * rate is evaluated at the step before the increment. The parameters may
   * be a superset of the gradients. A gradient without a parameter of the
   * same name throws std::invalid_argument.
   */
  virtual NamedArrays apply_gradients(
      const NamedArrays& gradients,
      const NamedArrays& parameters);

  /** Applies the gradients to the module's parameters and updates it. */
  void update(nn::Module& model, const NamedArrays& gradients);

  /** The number of updates so far, a uint64 scalar that starts at 0. */
  virtual const mx::array& step() const {
    return step_;
  }

  /**
   * The learning rate used by the latest update, or the initial one. For an
   * optimizer created without a learning rate (Adafactor's relative step)
   * it is a float32 zero that no update reads.
   */
  virtual const mx::array& learning_rate() const {
    return learning_rate_;
  }

  /** False only for an optimizer created without a learning rate. */
  bool has_learning_rate() const {
    return has_learning_rate_;
  }

  /**
   * Replaces the learning rate as MLX's learning_rate setter does. With a
   * schedule, the schedule overwrites it again at the next update.
   */
  void set_learning_rate(double learning_rate);

  /** Replaces the learning rate by an array, e.g. a float16 scalar. */
  virtual void set_learning_rate(mx::array learning_rate);

  /** True when the learning rate follows a schedule. */
  bool has_schedule() const {
    return static_cast<bool>(schedule_);
  }

  /** The per-parameter states under the parameters' dotted names. */
  const std::map<std::string, ParameterState>& parameter_states() const {
    return states_;
  }

  /**
   * The whole state flattened as MLX's tree_flatten(optimizer.state) names
   * it: "step", "learning_rate" (absent without a learning rate), then
   * "<parameter>.<key>" per parameter.
   */
  virtual NamedArrays state() const;

  /**
   * Replaces the whole state with one in the layout of state(), so that
   * later updates continue as the saved run would have. "step" and
   * "learning_rate" are required, except "learning_rate" for an optimizer
   * without one; throws std::invalid_argument otherwise.
   */
  virtual void set_state(const NamedArrays& state);

  /** The arrays of state() in the same fixed order, without names. */
  virtual std::vector<mx::array> flatten_state() const;

  /**
   * Replaces the arrays of the state in the order flatten_state() returns
   * them; throws std::invalid_argument when the count differs.
   */
  virtual void unflatten_state(const std::vector<mx::array>& arrays);

 protected:
  /**
   * Sets up the step counter and the learning rate. Only Adafactor, whose
   * relative step needs none, passes std::nullopt.
   */
  explicit Optimizer(const std::optional<LearningRate>& learning_rate);

  /** Creates the state of one parameter. */
  virtual void init_single(
      const mx::array& parameter,
      ParameterState& state) const = 0;

  /** Returns the updated parameter and updates its state in place. */
  virtual mx::array apply_single(
      const mx::array& gradient,
      const mx::array& parameter,
      ParameterState& state) = 0;

 private:
  ParameterState& state_of(const std::string& name, const mx::array& like);

  mx::array step_;
  mx::array learning_rate_;
  bool has_learning_rate_;
  Schedule schedule_;
  // Parameter names in the order their state was created, so that
  // state() and flatten_state() have a stable order.
  std::vector<std::string> order_;
  std::map<std::string, ParameterState> states_;
};

/**
 * Stochastic gradient descent with optional momentum, dampening, weight
 * decay (an L2 penalty added to the gradient) and Nesterov momentum.
 */
class SGD : public Optimizer {
 public:
  /**
   * Creates the optimizer. Nesterov momentum without a positive momentum
   * or with dampening throws std::invalid_argument.
   */
  explicit SGD(
      const LearningRate& learning_rate,
      double momentum = 0.0,
      double weight_decay = 0.0,
      double dampening = 0.0,
      bool nesterov = false);

  std::string type_name() const override {
    return "SGD";
  }
  double momentum() const {
    return momentum_;
  }
  double weight_decay() const {
    return weight_decay_;
  }
  double dampening() const {
    return dampening_;
  }
  bool nesterov() const {
    return nesterov_;
  }

 protected:
  void init_single(const mx::array& parameter, ParameterState& state)
      const override;
  mx::array apply_single(
      const mx::array& gradient,
      const mx::array& parameter,
      ParameterState& state) override;

 private:
  double momentum_;
  double weight_decay_;
  double dampening_;
  bool nesterov_;
};

/**
 * Adam. Like MLX and unlike PyTorch, bias correction is off by default.
 * With it on, the update equals torch.optim.Adam's.
 */
class Adam : public Optimizer {
 public:
  /**
   * Creates the optimizer. Betas outside [0, 1) or a negative eps throw
   * std::invalid_argument.
   */
  explicit Adam(
      const LearningRate& learning_rate,
      std::array<double, 2> betas = {0.9, 0.999},
      double eps = 1e-8,
      bool bias_correction = false);

  std::string type_name() const override {
    return "Adam";
  }
  const std::array<double, 2>& betas() const {
    return betas_;
  }
  double eps() const {
    return eps_;
  }
  bool bias_correction() const {
    return bias_correction_;
  }

 protected:
  /** Checks the options, naming the optimizer in each message. */
  Adam(
      const std::string& type_name,
      const LearningRate& learning_rate,
      std::array<double, 2> betas,
      double eps,
      bool bias_correction);

  void init_single(const mx::array& parameter, ParameterState& state)
      const override;
  mx::array apply_single(
      const mx::array& gradient,
      const mx::array& parameter,
      ParameterState& state) override;

  /**
   * Runs one Adam step through adam_step(); `decay`, when given, multiplies
   * the parameter first (AdamW's decoupled weight decay).
   */
  mx::array apply_adam(
      const mx::array& gradient,
      const mx::array& parameter,
      ParameterState& state,
      const std::optional<mx::array>& decay);

 private:
  std::array<double, 2> betas_;
  double eps_;
  bool bias_correction_;
};

/**
 * AdamW: Adam with decoupled weight decay, which scales each parameter by
 * (1 - learning_rate * weight_decay) before the Adam update.
 */
class AdamW : public Adam {
 public:
  /** Creates the optimizer with the same checks as Adam. */
  explicit AdamW(
      const LearningRate& learning_rate,
      std::array<double, 2> betas = {0.9, 0.999},
      double eps = 1e-8,
      double weight_decay = 0.01,
      bool bias_correction = false);

  std::string type_name() const override {
    return "AdamW";
  }
  double weight_decay() const {
    return weight_decay_;
  }

 protected:
  mx::array apply_single(
      const mx::array& gradient,
      const mx::array& parameter,
      ParameterState& state) override;

 private:
  double weight_decay_;
};

} // namespace rmlx::optimizers
