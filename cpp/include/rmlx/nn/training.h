// Gradients over a module's trainable parameters and a training step that
// runs the forward pass, the backward pass and the optimizer update as one
// mx::compile'd function.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <mlx/mlx.h>

#include "rmlx/nn/module.h"
#include "rmlx/optimizers/optimizers.h"

namespace rmlx::nn {

/**
 * A loss function over positional inputs. Its first output is the scalar
 * loss and any further outputs are returned alongside it.
 */
using LossFn =
    std::function<std::vector<mx::array>(const std::vector<mx::array>& inputs)>;

/** The outputs of a loss function and the gradients of its first output. */
using ValueAndGrad = std::pair<std::vector<mx::array>, NamedArrays>;

/** A function from loss inputs to outputs and gradients. */
using ValueAndGradFn =
    std::function<ValueAndGrad(const std::vector<mx::array>& inputs)>;

/**
 * Returns a function that computes the loss and its gradients with respect
 * to the module's trainable parameters, like MLX Python's nn.value_and_grad.
 * During each call the trainable parameters are replaced by the arrays being
 * differentiated. They are restored when the call returns or throws. Other
 * parameters that the forward pass changes (running statistics) keep their
 * new values. The trainable set is read at each call. The module must
 * outlive the returned function.
 */
ValueAndGradFn value_and_grad(Module& model, LossFn loss_fn);

/** The reduction by which a batch loss combines its examples' losses. */
enum class BatchReduction { mean, sum };

/**
 * Splits each batch along its first axis into `parts` parts of nearly equal
 * size, traced on the streams of parallel::batch_streams(parts), so that MLX
 * runs their forward and backward passes side by side on as many CPU
 * threads. The loss, every scalar output and the gradients are the mean of
 * the parts' values weighted by their sizes, or their sum, as `reduction`
 * selects. Other outputs are concatenated along their first axis.
 * Under a mean, an integer or boolean scalar output becomes float32.
 * That equals the unsplit batch, up to rounding, only for losses that are a
 * mean or sum over independent examples: no BatchNorm in training mode, no
 * loss that compares examples with each other.
 *
 * NOTE: MLX orders an evaluation breadth first only up to
 * MLX_BFS_MAX_WIDTH arrays (20 by default), read once at the first
 * evaluation. Below about 100 it runs most of one part before the next,
 * so set the variable before evaluating anything (the R package sets 100).
 */
struct BatchSplit {
  /**
   * The maximum number of parts of a batch. Each part's stream is a
   * thread that MLX keeps for the life of the process.
   */
  static constexpr int kMaxParts = 256;

  int parts = 1;
  BatchReduction reduction = BatchReduction::mean;
};

/**
 * Returns value_and_grad(model, loss_fn) over a batch split by `split`. Every
 * input must have at least one axis, and all the same first axis; a batch
 * of n < split.parts examples runs in n parts. Throws std::invalid_argument
 * when the module contains a BatchNorm in training mode. For the parts to run
 * side by side with OpenBLAS, evaluate the results with
 * parallel::eval_parts(arrays, split.parts).
 */
ValueAndGradFn
value_and_grad(Module& model, LossFn loss_fn, BatchSplit split);

/**
 * One training step: the loss, its gradients and the optimizer update,
 * optionally as a compiled function.
 *
 * The function that is compiled takes [every parameter of the module,
 * every optimizer state array, a PRNG key, batch...] and returns [the new
 * parameters, the new state, the next key, the loss outputs...]. Passing all
 * parameters, frozen ones included, keeps frozen weights out of the traced
 * constants and lets the forward pass update running statistics.
 *
 * The loss function runs only while MLX traces: on the first call, when a
 * batch's shapes or dtypes change, and when the step rebuilds its compiled
 * function. It rebuilds when the module's parameter names, the trainable
 * subset, any module's training flag or the optimizer's state layout
 * change. When compiled, the loss function must not read array values
 * (item(), eval()), because a trace records only the array operations.
 * NOTE: arrays that the loss function captures instead of taking from the
 * batch become constants of the trace, so later changes to them are not
 * seen. Pass data that changes through the batch.
 */
class TrainStep {
 public:
  /**
   * Creates the step. The PRNG key for layers such as dropout is drawn from
   * rmlx::random::next_key() here, so seeding MLX first reproduces a run.
   *
   * With a `group` of more than one process the step is data parallel: the
   * gradients are averaged over the group with
   * distributed::average_gradients(grads, group, all_reduce_size) before
   * the update. Every process must then run the same number of steps, on
   * batches of the same shapes, because each step waits for all of them.
   *
   * With `split.parts` above 1 each process also splits its batch into
   * parts that run side by side on its CPU threads (see BatchSplit), and
   * eval() evaluates with parallel::eval_parts().
   */
  TrainStep(
      ModulePtr model,
      std::shared_ptr<optimizers::Optimizer> optimizer,
      LossFn loss_fn,
      bool compile = true,
      std::optional<mx::distributed::Group> group = std::nullopt,
      int64_t all_reduce_size = int64_t{32} * 1024 * 1024,
      BatchSplit split = {});

  TrainStep(const TrainStep&) = delete;
  TrainStep& operator=(const TrainStep&) = delete;

  /**
   * Runs one step on a batch and returns the loss function's outputs. The
   * module and the optimizer hold the new arrays afterwards, unevaluated.
   */
  std::vector<mx::array> operator()(const std::vector<mx::array>& batch);

  /**
   * Evaluates the module's parameters, the optimizer state, the key and the
   * given outputs of the step, in one call.
   */
  void eval(const std::vector<mx::array>& outputs = {});

  /** Returns the PRNG key that the next step will use. */
  const mx::array& key() const {
    return key_;
  }

  /** Replaces the PRNG key, e.g. to resume a saved run. */
  void set_key(mx::array key);

  /**
   * Returns true when the step was created to run through mx::compile.
   * MLX_DISABLE_COMPILE or mx::disable_compile() still makes it run eagerly.
   */
  bool compiled() const {
    return compile_;
  }

  /** Returns the module being trained. */
  const ModulePtr& model() const {
    return model_;
  }

  /** Returns the optimizer. */
  const std::shared_ptr<optimizers::Optimizer>& optimizer() const {
    return optimizer_;
  }

 private:
  // The names and flags that the compiled function was traced with. When
  // they change, the step compiles a new function.
  struct Layout {
    std::vector<std::string> parameter_names;
    std::vector<std::string> trainable_names;
    std::vector<std::string> state_names;
    std::vector<bool> training_flags;
    bool operator==(const Layout&) const = default;
  };

  using StepFn =
      std::function<std::vector<mx::array>(const std::vector<mx::array>&)>;

  Layout current_layout() const;
  void rebuild();
  std::vector<mx::array> run(
      const Layout& layout,
      const std::vector<mx::array>& inputs);

  ModulePtr model_;
  std::shared_ptr<optimizers::Optimizer> optimizer_;
  LossFn loss_fn_;
  bool compile_;
  std::optional<mx::distributed::Group> group_;
  int64_t all_reduce_size_;
  BatchSplit split_;
  mx::array key_;
  std::optional<Layout> layout_;
  StepFn step_fn_;
  // Functions compiled for earlier layouts, so that switching back and forth
  // (training mode for steps, evaluation mode between epochs) traces each
  // layout once.
  std::vector<std::pair<Layout, StepFn>> compiled_;
};

} // namespace rmlx::nn
