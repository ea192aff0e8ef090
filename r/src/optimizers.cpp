// Bindings for the optimizers, value_and_grad and the training step.
#include "rmlx_distributed.h"
#include "rmlx_module.h"

#include "rmlx/nn/training.h"
#include "rmlx/optimizers/optimizers.h"

namespace mx = mlx::core;
namespace nn = rmlx::nn;
namespace optim = rmlx::optimizers;

namespace {

using OptimizerHandle = std::shared_ptr<optim::Optimizer>;

template <typename T>
void finalize_handle(SEXP ptr) {
  auto* handle = static_cast<std::shared_ptr<T>*>(R_ExternalPtrAddr(ptr));
  if (handle != nullptr) {
    delete handle;
    R_ClearExternalPtr(ptr);
  }
}

SEXP optimizer_tag() {
  static SEXP tag = Rf_install("rmlx_optimizer");
  return tag;
}

SEXP train_step_tag() {
  static SEXP tag = Rf_install("rmlx_train_step");
  return tag;
}

SEXP wrap_optimizer(OptimizerHandle opt) {
  auto* heap = new OptimizerHandle(std::move(opt));
  SEXP ptr = PROTECT(R_MakeExternalPtr(heap, optimizer_tag(), R_NilValue));
  R_RegisterCFinalizerEx(ptr, finalize_handle<optim::Optimizer>, TRUE);
  UNPROTECT(1);
  return ptr;
}

OptimizerHandle& unwrap_optimizer(SEXP x, const char* fn) {
  if (TYPEOF(x) != EXTPTRSXP || R_ExternalPtrTag(x) != optimizer_tag() ||
      R_ExternalPtrAddr(x) == nullptr) {
    throw std::invalid_argument(
        std::string(fn) +
        "(): `optimizer` is not a live MLX optimizer (one restored by "
        "readRDS() must be created again).");
  }
  return *static_cast<OptimizerHandle*>(R_ExternalPtrAddr(x));
}

// Calls the R function `fn` with `args` (R objects), expecting an MLX array
// or a list of them, and returns the arrays.
std::vector<mx::array> call_r_loss(SEXP fn, SEXP module, cpp11::list args) {
  cpp11::function call_loss = cpp11::package("Rmlx")["call_r_loss"];
  cpp11::list result(call_loss(fn, module, args));
  std::vector<mx::array> out;
  for (R_xlen_t i = 0; i < result.size(); ++i) {
    out.push_back(rmlx_unwrap_array(result[i], "loss function", "value"));
  }
  return out;
}

} // namespace

[[cpp11::register]]
SEXP optimizer_sgd_(
    double learning_rate,
    double momentum,
    double weight_decay,
    double dampening,
    bool nesterov) {
  return wrap_optimizer(std::make_shared<optim::SGD>(
      learning_rate, momentum, weight_decay, dampening, nesterov));
}

[[cpp11::register]]
SEXP optimizer_adam_(
    double learning_rate,
    cpp11::doubles betas,
    double eps,
    bool bias_correction) {
  return wrap_optimizer(std::make_shared<optim::Adam>(
      learning_rate,
      std::array<double, 2>{betas[0], betas[1]},
      eps,
      bias_correction));
}

[[cpp11::register]]
SEXP optimizer_adamw_(
    double learning_rate,
    cpp11::doubles betas,
    double eps,
    double weight_decay,
    bool bias_correction) {
  return wrap_optimizer(std::make_shared<optim::AdamW>(
      learning_rate,
      std::array<double, 2>{betas[0], betas[1]},
      eps,
      weight_decay,
      bias_correction));
}

[[cpp11::register]]
std::string optimizer_type_(SEXP opt) {
  return unwrap_optimizer(opt, "print")->type_name();
}

[[cpp11::register]]
void optimizer_update_(SEXP opt, SEXP module, cpp11::list grads) {
  const char* fn = "mlx_optimizer_update";
  auto& m = rmlx_unwrap_module(module, fn, "module");
  unwrap_optimizer(opt, fn)->update(*m, rmlx_unwrap_named(grads, fn));
}

[[cpp11::register]]
cpp11::list optimizer_state_(SEXP opt) {
  return rmlx_wrap_named(unwrap_optimizer(opt, "mlx_optimizer_state")->state());
}

[[cpp11::register]]
void optimizer_set_state_(SEXP opt, cpp11::list state) {
  const char* fn = "mlx_optimizer_set_state";
  unwrap_optimizer(opt, fn)->set_state(rmlx_unwrap_named(state, fn));
}

[[cpp11::register]]
void optimizer_set_learning_rate_(SEXP opt, double learning_rate) {
  unwrap_optimizer(opt, "mlx_optimizer_set_learning_rate")
      ->set_learning_rate(learning_rate);
}

// Returns list(outputs, grads): the loss function's outputs and the
// gradients of the first one with respect to the trainable parameters.
[[cpp11::register]]
cpp11::list value_and_grad_(SEXP module, SEXP fn, cpp11::list args) {
  auto& m = rmlx_unwrap_module(module, "mlx_value_and_grad", "module");
  auto vg = nn::value_and_grad(*m, [&](const std::vector<mx::array>&) {
    return call_r_loss(fn, module, args);
  });
  auto [outputs, grads] = vg({});
  return cpp11::writable::list(
      {rmlx_wrap_arrays(outputs), rmlx_wrap_named(grads)});
}

// The step's external pointer protects list(module, optimizer, loss
// function), the R objects its callback uses.
[[cpp11::register]]
SEXP train_step_new_(
    SEXP module,
    SEXP opt,
    SEXP fn,
    bool compile,
    SEXP group,
    double all_reduce_size) {
  auto& m = rmlx_unwrap_module(module, "mlx_train_step", "module");
  auto members = rmlx_parse_group(group, "mlx_train_step");
  auto& o = unwrap_optimizer(opt, "mlx_train_step");
  auto loss = [module, fn](const std::vector<mx::array>& batch) {
    return call_r_loss(fn, module, rmlx_wrap_arrays(batch));
  };
  auto* heap = new std::shared_ptr<nn::TrainStep>(
      std::make_shared<nn::TrainStep>(
          m, o, loss, compile, members, static_cast<int64_t>(all_reduce_size)));
  cpp11::writable::list owners({module, opt, fn, group});
  SEXP ptr = PROTECT(R_MakeExternalPtr(heap, train_step_tag(), owners));
  R_RegisterCFinalizerEx(ptr, finalize_handle<nn::TrainStep>, TRUE);
  UNPROTECT(1);
  return ptr;
}

[[cpp11::register]]
cpp11::list train_step_call_(SEXP step, cpp11::list batch, bool evaluate) {
  if (TYPEOF(step) != EXTPTRSXP || R_ExternalPtrTag(step) != train_step_tag() ||
      R_ExternalPtrAddr(step) == nullptr) {
    throw std::invalid_argument(
        "The training step no longer exists (restored by readRDS()); create "
        "it again with mlx_train_step().");
  }
  auto& s = *static_cast<std::shared_ptr<nn::TrainStep>*>(
      R_ExternalPtrAddr(step));
  std::vector<mx::array> inputs;
  for (R_xlen_t i = 0; i < batch.size(); ++i) {
    inputs.push_back(rmlx_unwrap_array(batch[i], "mlx_train_step", "..."));
  }
  auto outputs = (*s)(inputs);
  if (evaluate) {
    s->eval(outputs);
  }
  return rmlx_wrap_arrays(outputs);
}
