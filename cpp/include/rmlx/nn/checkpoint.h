// Gradient checkpointing of a module.
#pragma once

#include <string>
#include <vector>

#include "rmlx/nn/module.h"

namespace rmlx::nn {

/**
 * Runs a wrapped module through mx::checkpoint: its intermediate
 * activations are not kept for the backward pass but recomputed there,
 * which trades one more forward pass for memory. Outputs and gradients are
 * those of the wrapped module. The wrapped module is the child "module",
 * so its parameter names gain the prefix "module.". Each call draws one
 * key from rmlx::random::next_key() and runs the module under a KeyScope
 * of it, so that dropout masks drawn inside are the same in the forward
 * pass and in the recomputation.
 */
class Checkpoint : public Module {
 public:
  /** Wraps `module`; throws std::invalid_argument for a null module. */
  explicit Checkpoint(ModulePtr module);

  std::string type_name() const override {
    return "Checkpoint";
  }

  std::vector<std::string> input_names() const override;

  std::vector<mx::array> forward(const Inputs& inputs) override;

  /** The wrapped module. */
  ModulePtr module() const {
    return child("module");
  }
};

} // namespace rmlx::nn
