#include "rmlx/optimizers/multi_optimizer.h"

#include <sstream>
#include <stdexcept>

namespace rmlx::optimizers {

MultiOptimizer::MultiOptimizer(
    std::vector<std::shared_ptr<Optimizer>> optimizers,
    std::vector<ParameterFilter> filters)
    : Optimizer(std::nullopt),
      optimizers_(std::move(optimizers)),
      filters_(std::move(filters)) {
  if (optimizers_.empty()) {
    throw std::invalid_argument(
        "[MultiOptimizer] At least one optimizer is required.");
  }
  for (const auto& optimizer : optimizers_) {
    if (!optimizer) {
      throw std::invalid_argument("[MultiOptimizer] An optimizer is null.");
    }
  }
  if (filters_.size() != optimizers_.size() - 1) {
    std::ostringstream msg;
    msg << "[MultiOptimizer] " << optimizers_.size() << " optimizers need "
        << optimizers_.size() - 1 << " filters, but got " << filters_.size()
        << ".";
    throw std::invalid_argument(msg.str());
  }
}

size_t MultiOptimizer::select(
    const std::string& name,
    const mx::array& gradient) const {
  for (size_t i = 0; i < filters_.size(); ++i) {
    if (filters_[i](name, gradient)) {
      return i;
    }
  }
  return filters_.size();
}

std::vector<NamedArrays> MultiOptimizer::split(const NamedArrays& arrays) const {
  std::vector<NamedArrays> parts(optimizers_.size());
  for (const auto& [name, array] : arrays) {
    parts[select(name, array)].emplace_back(name, array);
  }
  return parts;
}

void MultiOptimizer::init(const NamedArrays& parameters) {
  auto parts = split(parameters);
  for (size_t i = 0; i < optimizers_.size(); ++i) {
    optimizers_[i]->init(parts[i]);
  }
}

NamedArrays MultiOptimizer::apply_gradients(
    const NamedArrays& gradients,
    const NamedArrays& parameters) {
  auto parts = split(gradients);
  NamedArrays updated;
  updated.reserve(gradients.size());
  for (size_t i = 0; i < optimizers_.size(); ++i) {
    auto part = optimizers_[i]->apply_gradients(parts[i], parameters);
    updated.insert(updated.end(), part.begin(), part.end());
  }
  return updated;
}

const mx::array& MultiOptimizer::step() const {
  return optimizers_.front()->step();
}

const mx::array& MultiOptimizer::learning_rate() const {
  return optimizers_.front()->learning_rate();
}

void MultiOptimizer::set_learning_rate(mx::array learning_rate) {
  for (auto& optimizer : optimizers_) {
    optimizer->set_learning_rate(learning_rate);
  }
}

NamedArrays MultiOptimizer::state() const {
  NamedArrays out;
  for (size_t i = 0; i < optimizers_.size(); ++i) {
    auto prefix = "states." + std::to_string(i) + ".";
    for (auto& [name, value] : optimizers_[i]->state()) {
      out.emplace_back(prefix + name, value);
    }
  }
  return out;
}

void MultiOptimizer::set_state(const NamedArrays& state) {
  std::vector<NamedArrays> parts(optimizers_.size());
  for (const auto& [name, value] : state) {
    // "states.<i>.<rest>"
    const std::string head = "states.";
    auto dot = name.find('.', head.size());
    size_t index = optimizers_.size();
    if (name.rfind(head, 0) == 0 && dot != std::string::npos) {
      auto digits = name.substr(head.size(), dot - head.size());
      if (!digits.empty() &&
          digits.find_first_not_of("0123456789") == std::string::npos &&
          digits.size() < 10) {
        index = std::stoul(digits);
      }
    }
    if (index >= optimizers_.size()) {
      std::ostringstream msg;
      msg << "[MultiOptimizer] State names must be \"states.<i>.<name>\" "
          << "with i below " << optimizers_.size() << ", but got \"" << name
          << "\".";
      throw std::invalid_argument(msg.str());
    }
    parts[index].emplace_back(name.substr(dot + 1), value);
  }
  // Validate every part before changing any optimizer, so that a failure
  // leaves the whole state as it was.
  std::vector<NamedArrays> previous;
  for (const auto& optimizer : optimizers_) {
    previous.push_back(optimizer->state());
  }
  try {
    for (size_t i = 0; i < optimizers_.size(); ++i) {
      optimizers_[i]->set_state(parts[i]);
    }
  } catch (...) {
    for (size_t i = 0; i < optimizers_.size(); ++i) {
      optimizers_[i]->set_state(previous[i]);
    }
    throw;
  }
}

std::vector<mx::array> MultiOptimizer::flatten_state() const {
  std::vector<mx::array> out;
  for (const auto& optimizer : optimizers_) {
    auto part = optimizer->flatten_state();
    out.insert(out.end(), part.begin(), part.end());
  }
  return out;
}

void MultiOptimizer::unflatten_state(const std::vector<mx::array>& arrays) {
  size_t expected = 0;
  std::vector<size_t> sizes;
  for (const auto& optimizer : optimizers_) {
    sizes.push_back(optimizer->flatten_state().size());
    expected += sizes.back();
  }
  if (arrays.size() != expected) {
    std::ostringstream msg;
    msg << "[MultiOptimizer] The flat state must have " << expected
        << " arrays, as flatten_state() returns, but got " << arrays.size()
        << ".";
    throw std::invalid_argument(msg.str());
  }
  auto it = arrays.begin();
  for (size_t i = 0; i < optimizers_.size(); ++i) {
    optimizers_[i]->unflatten_state(std::vector<mx::array>(it, it + sizes[i]));
    it += sizes[i];
  }
}

void MultiOptimizer::init_single(const mx::array&, ParameterState&) const {
  throw std::logic_error("[MultiOptimizer] init_single is never called.");
}

mx::array MultiOptimizer::apply_single(
    const mx::array&,
    const mx::array&,
    ParameterState&) {
  throw std::logic_error("[MultiOptimizer] apply_single is never called.");
}

} // namespace rmlx::optimizers
