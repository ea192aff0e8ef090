#include "rmlx/nn/training.h"

#include <algorithm>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <string>

#include "rmlx/distributed.h"
#include "rmlx/parallel.h"
#include "rmlx/random.h"

namespace rmlx::nn {

namespace {

// Puts saved parameters back into a module when it goes out of scope, so
// that traced arrays never stay in the module after an exception.
class ParameterRestore {
 public:
  ParameterRestore(Module& model, NamedArrays saved)
      : model_(model), saved_(std::move(saved)) {}
  ~ParameterRestore() {
    model_.update(saved_, /* strict */ false);
  }
  ParameterRestore(const ParameterRestore&) = delete;
  ParameterRestore& operator=(const ParameterRestore&) = delete;

 private:
  Module& model_;
  NamedArrays saved_;
};

// Puts a saved optimizer state back when it goes out of scope.
class StateRestore {
 public:
  explicit StateRestore(optimizers::Optimizer& optimizer)
      : optimizer_(optimizer), saved_(optimizer.state()) {}
  ~StateRestore() {
    optimizer_.set_state(saved_);
  }
  StateRestore(const StateRestore&) = delete;
  StateRestore& operator=(const StateRestore&) = delete;

 private:
  optimizers::Optimizer& optimizer_;
  NamedArrays saved_;
};

void check_loss_outputs(const std::vector<mx::array>& outputs) {
  if (outputs.empty()) {
    throw std::invalid_argument(
        "[value_and_grad] The loss function must return at least one array, "
        "the scalar loss, but returned none.");
  }
  if (outputs[0].ndim() != 0) {
    std::ostringstream msg;
    msg << "[value_and_grad] The first output of the loss function must be a "
        << "scalar, but its shape is " << outputs[0].shape()
        << ". Reduce it, e.g. with mx::mean.";
    throw std::invalid_argument(msg.str());
  }
}

NamedArrays zip_names(
    const std::vector<std::string>& names,
    std::vector<mx::array>::const_iterator first) {
  NamedArrays out;
  out.reserve(names.size());
  for (const auto& name : names) {
    out.emplace_back(name, *first++);
  }
  return out;
}

std::vector<std::string> names_of(const NamedArrays& arrays) {
  std::vector<std::string> names;
  names.reserve(arrays.size());
  for (const auto& [name, value] : arrays) {
    names.push_back(name);
  }
  return names;
}

} // namespace

ValueAndGradFn value_and_grad(Module& model, LossFn loss_fn) {
  if (!loss_fn) {
    throw std::invalid_argument(
        "[value_and_grad] The loss function is empty. Pass a callable.");
  }
  return [&model, loss_fn = std::move(loss_fn)](
             const std::vector<mx::array>& inputs) -> ValueAndGrad {
    auto trainable = model.trainable_parameters();
    auto names = names_of(trainable);
    ParameterRestore restore(model, trainable);

    auto traced_loss = [&](const std::vector<mx::array>& parameters) {
      model.update(zip_names(names, parameters.begin()));
      auto outputs = loss_fn(inputs);
      check_loss_outputs(outputs);
      return outputs;
    };

    std::vector<mx::array> primals;
    primals.reserve(trainable.size());
    for (const auto& [name, value] : trainable) {
      primals.push_back(value);
    }
    // mx::value_and_grad needs at least one argument to differentiate.
    if (primals.empty()) {
      return {traced_loss(primals), NamedArrays{}};
    }

    std::vector<int> argnums(primals.size());
    std::iota(argnums.begin(), argnums.end(), 0);
    auto [values, grads] = mx::value_and_grad(traced_loss, argnums)(primals);
    return {std::move(values), zip_names(names, grads.cbegin())};
  };
}

namespace {

// The first-axis size shared by every input of a split batch.
int64_t split_batch_size(const std::vector<mx::array>& inputs) {
  if (inputs.empty()) {
    throw std::invalid_argument(
        "[value_and_grad] Splitting a batch needs at least one input array, "
        "but the loss function takes none.");
  }
  int64_t size = -1;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto& x = inputs[i];
    if (x.ndim() == 0 || (size >= 0 && x.shape(0) != size)) {
      std::ostringstream msg;
      msg << "[value_and_grad] Splitting a batch needs every input to share "
          << "its first axis, the examples";
      if (size >= 0) {
        msg << " (" << size << " in input 1)";
      }
      msg << ", but input " << i + 1 << " has shape " << x.shape()
          << ". Capture arrays that are not per example, such as masks, in "
          << "the loss function instead.";
      throw std::invalid_argument(msg.str());
    }
    size = x.shape(0);
  }
  return size;
}

void check_splittable(Module& model) {
  for (const auto& [path, module] : model.named_modules()) {
    if (module->type_name() == "BatchNorm" && module->training()) {
      throw std::invalid_argument(
          "[value_and_grad] Cannot split a batch for a module with a "
          "BatchNorm in training mode (" +
          (path.empty() ? std::string("the module itself") : path) +
          "): its statistics would come from each part instead of the "
          "whole batch. Use one part (threads = 1 in R), or put the layer in "
          "evaluation mode.");
    }
  }
}

mx::array slice_examples(const mx::array& x, int64_t first, int64_t last) {
  mx::Shape start(x.ndim(), 0);
  mx::Shape stop = x.shape();
  start[0] = static_cast<int>(first);
  stop[0] = static_cast<int>(last);
  return mx::slice(x, start, stop);
}

// The type in which combine_parts() adds one output's weighted parts.
// 16-bit floats use float32, because three bfloat16 weights of 1/3 sum to
// 1.002. Integers and booleans use float32 under a mean, because an integer
// weight truncates to 0, and booleans use int32 under a sum, because MLX
// adds booleans as a logical or.
mx::Dtype combining_dtype(mx::Dtype dtype, BatchReduction reduction) {
  if (dtype == mx::float16 || dtype == mx::bfloat16) {
    return mx::float32;
  }
  if (mx::issubdtype(dtype, mx::inexact)) {
    return dtype;
  }
  if (reduction == BatchReduction::mean) {
    return mx::float32;
  }
  return dtype == mx::bool_ ? mx::int32 : dtype;
}

// Combines the parts' results: scalars by `weights`, other outputs
// concatenated along their first axis. A combined 16-bit float has its
// input's type again, and an integer or boolean under a mean is float32.
ValueAndGrad combine_parts(
    std::vector<ValueAndGrad>& parts,
    const std::vector<double>& weights,
    BatchReduction reduction) {
  auto weighted_sum = [&](auto get) {
    auto dtype = get(parts[0]).dtype();
    auto accumulate = combining_dtype(dtype, reduction);
    auto term = [&](size_t p) {
      auto x = mx::astype(get(parts[p]), accumulate);
      if (reduction == BatchReduction::sum) {
        return x;
      }
      return x * mx::array(weights[p], accumulate);
    };
    mx::array total = term(0);
    for (size_t p = 1; p < parts.size(); ++p) {
      total = total + term(p);
    }
    if (mx::issubdtype(dtype, mx::floating) && accumulate != dtype) {
      total = mx::astype(total, dtype);
    }
    return total;
  };

  ValueAndGrad out;
  auto num_outputs = parts[0].first.size();
  for (size_t i = 0; i < num_outputs; ++i) {
    if (parts[0].first[i].ndim() == 0) {
      out.first.push_back(
          weighted_sum([i](const ValueAndGrad& r) { return r.first[i]; }));
    } else {
      std::vector<mx::array> pieces;
      for (const auto& part : parts) {
        pieces.push_back(part.first[i]);
      }
      out.first.push_back(mx::concatenate(pieces, 0));
    }
  }
  for (size_t g = 0; g < parts[0].second.size(); ++g) {
    out.second.emplace_back(
        parts[0].second[g].first,
        weighted_sum([g](const ValueAndGrad& r) { return r.second[g].second; }));
  }
  return out;
}

// Throws std::invalid_argument naming `caller` unless split.parts is from 1
// to BatchSplit::kMaxParts.
void check_parts(const char* caller, const BatchSplit& split) {
  if (split.parts < 1 || split.parts > BatchSplit::kMaxParts) {
    throw std::invalid_argument(
        std::string("[") + caller + "] The number of parts to split a batch "
        "into must be from 1 to " + std::to_string(BatchSplit::kMaxParts) +
        ", but is " + std::to_string(split.parts) + ".");
  }
}

} // namespace

ValueAndGradFn
value_and_grad(Module& model, LossFn loss_fn, BatchSplit split) {
  check_parts("value_and_grad", split);
  auto whole = value_and_grad(model, loss_fn);
  if (split.parts == 1) {
    return whole;
  }
  return [&model, whole = std::move(whole), split](
             const std::vector<mx::array>& inputs) -> ValueAndGrad {
    check_splittable(model);
    auto size = split_batch_size(inputs);
    auto parts = static_cast<int>(std::min<int64_t>(split.parts, size));
    if (parts <= 1) {
      return whole(inputs);
    }
    auto streams = parallel::batch_streams(parts);
    std::vector<ValueAndGrad> results;
    std::vector<double> weights;
    for (int p = 0; p < parts; ++p) {
      auto first = size * p / parts;
      auto last = size * (p + 1) / parts;
      mx::StreamContext on_part_stream(streams[p]);
      std::vector<mx::array> part;
      for (const auto& x : inputs) {
        part.push_back(slice_examples(x, first, last));
      }
      results.push_back(whole(part));
      weights.push_back(
          split.reduction == BatchReduction::mean
              ? static_cast<double>(last - first) / static_cast<double>(size)
              : 1.0);
    }
    return combine_parts(results, weights, split.reduction);
  };
}

// TrainStep

TrainStep::TrainStep(
    ModulePtr model,
    std::shared_ptr<optimizers::Optimizer> optimizer,
    LossFn loss_fn,
    bool compile,
    std::optional<mx::distributed::Group> group,
    int64_t all_reduce_size,
    BatchSplit split)
    : model_(std::move(model)),
      optimizer_(std::move(optimizer)),
      loss_fn_(std::move(loss_fn)),
      compile_(compile),
      group_(std::move(group)),
      all_reduce_size_(all_reduce_size),
      split_(split),
      key_(random::next_key()) {
  if (!model_) {
    throw std::invalid_argument("[TrainStep] The model is null.");
  }
  if (!optimizer_) {
    throw std::invalid_argument("[TrainStep] The optimizer is null.");
  }
  if (!loss_fn_) {
    throw std::invalid_argument(
        "[TrainStep] The loss function is empty. Pass a callable.");
  }
  check_parts("TrainStep", split_);
}

TrainStep::Layout TrainStep::current_layout() const {
  Layout layout;
  layout.parameter_names = names_of(model_->parameters());
  layout.trainable_names = names_of(model_->trainable_parameters());
  layout.state_names = names_of(optimizer_->state());
  for (const auto& [path, module] : model_->named_modules()) {
    layout.training_flags.push_back(module->training());
  }
  return layout;
}

void TrainStep::rebuild() {
  // The state must exist before tracing so that its arrays are inputs.
  optimizer_->init(model_->trainable_parameters());
  layout_ = current_layout();
  for (const auto& [layout, fn] : compiled_) {
    if (layout == *layout_) {
      step_fn_ = fn;
      return;
    }
  }

  auto step = [this, layout = *layout_](const std::vector<mx::array>& inputs) {
    return run(layout, inputs);
  };
  if (compile_) {
    step_fn_ = mx::compile(step);
  } else {
    step_fn_ = step;
  }
  constexpr size_t max_cached = 8;
  if (compiled_.size() == max_cached) {
    compiled_.erase(compiled_.begin());
  }
  compiled_.emplace_back(*layout_, step_fn_);
}

std::vector<mx::array> TrainStep::run(
    const Layout& layout,
    const std::vector<mx::array>& inputs) {
  auto num_parameters = layout.parameter_names.size();
  auto num_state = layout.state_names.size();
  auto first_state = inputs.begin() + num_parameters;
  auto key = inputs[num_parameters + num_state];
  std::vector<mx::array> batch(
      first_state + num_state + 1, inputs.end());

  ParameterRestore restore_parameters(*model_, model_->parameters());
  StateRestore restore_state(*optimizer_);
  model_->update(zip_names(layout.parameter_names, inputs.begin()));
  optimizer_->unflatten_state(
      std::vector<mx::array>(first_state, first_state + num_state));

  // Layers draw their keys from the input key, so that the compiled
  // function takes it as an input and returns the next one.
  std::vector<mx::array> loss_outputs;
  NamedArrays grads;
  auto next_key = key;
  {
    random::KeyScope scope(key);
    std::tie(loss_outputs, grads) = value_and_grad(*model_, loss_fn_, split_)(batch);
    next_key = scope.key();
  }
  if (group_ && group_->size() > 1) {
    grads = distributed::average_gradients(grads, group_, all_reduce_size_);
  }
  model_->update(optimizer_->apply_gradients(grads, model_->parameters()));

  auto parameters = model_->parameters();
  auto state = optimizer_->flatten_state();
  if (names_of(parameters) != layout.parameter_names ||
      state.size() != num_state) {
    throw std::logic_error(
        "[TrainStep] The module's parameter names or the optimizer's state "
        "changed during the step; the loss function must not add or remove "
        "parameters.");
  }

  std::vector<mx::array> outputs;
  outputs.reserve(num_parameters + num_state + 1 + loss_outputs.size());
  for (auto& [name, value] : parameters) {
    outputs.push_back(std::move(value));
  }
  outputs.insert(outputs.end(), state.begin(), state.end());
  outputs.push_back(next_key);
  outputs.insert(outputs.end(), loss_outputs.begin(), loss_outputs.end());
  return outputs;
}

std::vector<mx::array> TrainStep::operator()(
    const std::vector<mx::array>& batch) {
  if (!layout_ || current_layout() != *layout_) {
    rebuild();
  }

  std::vector<mx::array> inputs;
  for (auto& [name, value] : model_->parameters()) {
    inputs.push_back(std::move(value));
  }
  auto state = optimizer_->flatten_state();
  inputs.insert(inputs.end(), state.begin(), state.end());
  inputs.push_back(key_);
  inputs.insert(inputs.end(), batch.begin(), batch.end());

  auto outputs = step_fn_(inputs);

  auto num_parameters = layout_->parameter_names.size();
  auto num_state = layout_->state_names.size();
  auto first_state = outputs.begin() + num_parameters;
  model_->update(zip_names(layout_->parameter_names, outputs.begin()));
  optimizer_->unflatten_state(
      std::vector<mx::array>(first_state, first_state + num_state));
  key_ = outputs[num_parameters + num_state];
  return std::vector<mx::array>(
      first_state + num_state + 1, outputs.end());
}

void TrainStep::eval(const std::vector<mx::array>& outputs) {
  std::vector<mx::array> arrays(outputs);
  for (auto& [name, value] : model_->parameters()) {
    arrays.push_back(std::move(value));
  }
  auto state = optimizer_->flatten_state();
  arrays.insert(arrays.end(), state.begin(), state.end());
  arrays.push_back(key_);
  parallel::eval_parts(arrays, split_.parts);
}

void TrainStep::set_key(mx::array key) {
  if (key.dtype() != mx::uint32 || key.shape() != mx::Shape{2}) {
    std::ostringstream msg;
    msg << "[TrainStep] A PRNG key must be a uint32 array of shape (2), but "
        << "got dtype " << key.dtype() << " and shape " << key.shape() << ".";
    throw std::invalid_argument(msg.str());
  }
  key_ = std::move(key);
}

} // namespace rmlx::nn
