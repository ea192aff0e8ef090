// Containers of layers, as in MLX Python's mlx/nn/layers/containers.py.
#pragma once

#include <concepts>
#include <string>
#include <utility>
#include <vector>

#include "rmlx/nn/module.h"

namespace rmlx::nn {

/**
 * A layer that calls its modules in order, each on the previous output. The
 * modules are stored as the list "layers", so their parameters are named
 * "layers.0.weight", "layers.1.bias", ... as in MLX Python.
 */
class Sequential : public UnaryModule {
 public:
  /** Creates the container from a list of modules, possibly empty. */
  explicit Sequential(std::vector<ModulePtr> modules = {});

  /**
   * Creates the container from modules given as separate arguments. C++
   * evaluates a call's arguments in an unspecified order, so create layers
   * in separate statements when their draws must follow a seed.
   */
  template <typename... Modules>
    requires(
        sizeof...(Modules) > 0 &&
        (std::convertible_to<Modules, ModulePtr> && ...))
  explicit Sequential(Modules... modules)
      : Sequential(std::vector<ModulePtr>{ModulePtr(std::move(modules))...}) {}

  std::string type_name() const override {
    return "Sequential";
  }

  /** Passes x through every module; an empty container returns x. */
  mx::array forward(const mx::array& x) override;

  using UnaryModule::forward;

  /** The modules in call order. */
  std::vector<ModulePtr> layers() const;
};

} // namespace rmlx::nn
