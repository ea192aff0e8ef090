// MultiOptimizer: a different optimizer for each group of parameters.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "rmlx/optimizers/optimizers.h"

namespace rmlx::optimizers {

/** Selects a parameter by its dotted name and its gradient. */
using ParameterFilter =
    std::function<bool(const std::string& name, const mx::array& gradient)>;

/**
 * Delegates each gradient to the first optimizer whose filter accepts it.
 * There is one filter fewer than optimizers, and the last optimizer takes
 * every gradient that no filter accepted. Each optimizer keeps its own step
 * count, which advances at every update even when it receives no
 * gradient, as in MLX Python. The state is flattened as MLX's
 * tree_flatten({"states": [...]}) names it: "states.<i>.<name>".
 */
class MultiOptimizer : public Optimizer {
 public:
  /**
   * Creates the optimizer. No optimizers, a null one, or a filter count
   * other than optimizers.size() - 1 throw std::invalid_argument.
   */
  MultiOptimizer(
      std::vector<std::shared_ptr<Optimizer>> optimizers,
      std::vector<ParameterFilter> filters);

  std::string type_name() const override {
    return "MultiOptimizer";
  }

  const std::vector<std::shared_ptr<Optimizer>>& optimizers() const {
    return optimizers_;
  }

  /** The index of the optimizer that takes the gradient of `name`. */
  size_t select(const std::string& name, const mx::array& gradient) const;

  void init(const NamedArrays& parameters) override;
  NamedArrays apply_gradients(
      const NamedArrays& gradients,
      const NamedArrays& parameters) override;

  /** The first optimizer's step count. */
  const mx::array& step() const override;

  /** The first optimizer's learning rate. */
  const mx::array& learning_rate() const override;

  using Optimizer::set_learning_rate;

  /** Sets the learning rate of every optimizer. */
  void set_learning_rate(mx::array learning_rate) override;

  NamedArrays state() const override;

  /**
   * Replaces every optimizer's state from "states.<i>.<name>" entries.
   * Throws std::invalid_argument for another name or when an optimizer's
   * entries are missing.
   */
  void set_state(const NamedArrays& state) override;
  std::vector<mx::array> flatten_state() const override;
  void unflatten_state(const std::vector<mx::array>& arrays) override;

 protected:
  // Never called: the updates go to the wrapped optimizers.
  void init_single(const mx::array& parameter, ParameterState& state)
      const override;
  mx::array apply_single(
      const mx::array& gradient,
      const mx::array& parameter,
      ParameterState& state) override;

 private:
  std::vector<NamedArrays> split(const NamedArrays& arrays) const;

  std::vector<std::shared_ptr<Optimizer>> optimizers_;
  std::vector<ParameterFilter> filters_;
};

} // namespace rmlx::optimizers
