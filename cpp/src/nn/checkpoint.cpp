#include "rmlx/nn/checkpoint.h"

#include <stdexcept>

#include "rmlx/random.h"

namespace rmlx::nn {

Checkpoint::Checkpoint(ModulePtr module) {
  if (!module) {
    throw std::invalid_argument("[Checkpoint] The module is null.");
  }
  register_module("module", std::move(module));
}

std::vector<std::string> Checkpoint::input_names() const {
  return module()->input_names();
}

std::vector<mx::array> Checkpoint::forward(const Inputs& inputs) {
  auto wrapped = module();
  // The trainable parameters are inputs of the checkpointed function, so
  // that its gradients flow to them. Frozen ones stay constants.
  auto parameters = wrapped->trainable_parameters();
  std::vector<std::string> names;
  std::vector<mx::array> arguments;
  for (const auto& [name, value] : parameters) {
    names.push_back(name);
    arguments.push_back(value);
  }
  std::vector<bool> present;
  for (const auto& input : inputs) {
    present.push_back(input.has_value());
    if (input) {
      arguments.push_back(*input);
    }
  }
  // The key is captured rather than passed as an input, because
  // mx::checkpoint differentiates with respect to every input and random
  // draws have no derivative.
  auto key = random::next_key();

  auto run = [wrapped, names, present, key](const std::vector<mx::array>& args) {
    NamedArrays values;
    for (size_t i = 0; i < names.size(); ++i) {
      values.emplace_back(names[i], args[i]);
    }
    Inputs call_inputs;
    auto next = args.begin() + names.size();
    for (bool has : present) {
      call_inputs.push_back(has ? std::optional<mx::array>(*next++) : std::nullopt);
    }
    random::KeyScope keys(key);
    // Put the module's own arrays back afterwards, also when the forward
    // pass throws, so that it does not keep the checkpoint's inputs.
    auto saved = wrapped->trainable_parameters();
    struct Restore {
      ModulePtr module;
      NamedArrays values;
      ~Restore() {
        module->update(values);
      }
    } restore{wrapped, std::move(saved)};
    wrapped->update(values);
    return wrapped->forward(call_inputs);
  };
  return mx::checkpoint(run)(arguments);
}

} // namespace rmlx::nn
