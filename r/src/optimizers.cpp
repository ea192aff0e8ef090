// Bindings for the optimizers, value_and_grad and the training step.
#include "rmlx_distributed.h"
#include "rmlx_module.h"

#include "rmlx/nn/checkpoint.h"
#include "rmlx/nn/init.h"
#include "rmlx/nn/training.h"
#include "rmlx/parallel.h"
#include "rmlx/optimizers/adaptive.h"
#include "rmlx/optimizers/clip.h"
#include "rmlx/optimizers/muon.h"
#include "rmlx/optimizers/multi_optimizer.h"
#include "rmlx/optimizers/optimizers.h"
#include "rmlx/optimizers/schedulers.h"

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

// A schedule from its R description list(kind, ...), as the mlx_schedule
// objects of R/schedules.R store it.
optim::Schedule schedule_from_r(cpp11::list spec) {
  std::string kind = cpp11::as_cpp<std::string>(spec["kind"]);
  auto number = [&](const char* name) { return cpp11::as_cpp<double>(spec[name]); };
  auto count = [&](const char* name) {
    return static_cast<int64_t>(cpp11::as_cpp<double>(spec[name]));
  };
  if (kind == "exponential_decay") {
    return optim::exponential_decay(number("init"), number("decay_rate"));
  }
  if (kind == "step_decay") {
    return optim::step_decay(
        number("init"), number("decay_rate"), count("step_size"));
  }
  if (kind == "cosine_decay") {
    return optim::cosine_decay(number("init"), count("decay_steps"), number("end"));
  }
  if (kind == "linear_schedule") {
    return optim::linear_schedule(number("init"), number("end"), count("steps"));
  }
  if (kind == "join_schedules") {
    cpp11::list parts(spec["schedules"]);
    std::vector<optim::Schedule> schedules;
    for (R_xlen_t i = 0; i < parts.size(); ++i) {
      schedules.push_back(schedule_from_r(cpp11::list(parts[i])));
    }
    cpp11::doubles bounds(spec["boundaries"]);
    std::vector<int64_t> boundaries;
    for (double b : bounds) {
      boundaries.push_back(static_cast<int64_t>(b));
    }
    return optim::join_schedules(std::move(schedules), std::move(boundaries));
  }
  throw std::invalid_argument("Unknown schedule kind \"" + kind + "\".");
}

// A number or a schedule description.
optim::LearningRate learning_rate_from_r(SEXP x) {
  if (TYPEOF(x) == VECSXP) {
    return optim::LearningRate(schedule_from_r(cpp11::list(x)));
  }
  return optim::LearningRate(cpp11::as_cpp<double>(x));
}

std::array<double, 2> pair_from_r(cpp11::doubles x) {
  return {x[0], x[1]};
}

} // namespace

[[cpp11::register]]
cpp11::writable::doubles schedule_values_(cpp11::list spec, cpp11::doubles steps) {
  // The schedule's constructor, such as mlx_cosine_decay(), names it in the
  // error raised in a forked process, where the evaluation below would wait
  // forever.
  std::string constructor = "mlx_" + cpp11::as_cpp<std::string>(spec["kind"]);
  rmlx_check_not_forked(constructor.c_str());
  std::vector<uint64_t> counts(steps.begin(), steps.end());
  auto values = mx::astype(
      schedule_from_r(spec)(mx::array(
          counts.begin(), {static_cast<int>(counts.size())}, mx::uint64)),
      mx::float64, mx::Device::cpu);
  values.eval();
  const double* data = values.data<double>();
  return cpp11::writable::doubles(data, data + values.size());
}

[[cpp11::register]]
SEXP optimizer_rmsprop_(SEXP learning_rate, double alpha, double eps) {
  return wrap_optimizer(std::make_shared<optim::RMSprop>(
      learning_rate_from_r(learning_rate), alpha, eps));
}

[[cpp11::register]]
SEXP optimizer_adagrad_(SEXP learning_rate, double eps) {
  return wrap_optimizer(std::make_shared<optim::Adagrad>(
      learning_rate_from_r(learning_rate), eps));
}

[[cpp11::register]]
SEXP optimizer_adadelta_(SEXP learning_rate, double rho, double eps) {
  return wrap_optimizer(std::make_shared<optim::AdaDelta>(
      learning_rate_from_r(learning_rate), rho, eps));
}

[[cpp11::register]]
SEXP optimizer_adamax_(SEXP learning_rate, cpp11::doubles betas, double eps) {
  return wrap_optimizer(std::make_shared<optim::Adamax>(
      learning_rate_from_r(learning_rate), pair_from_r(betas), eps));
}

[[cpp11::register]]
SEXP optimizer_lion_(SEXP learning_rate, cpp11::doubles betas, double weight_decay) {
  return wrap_optimizer(std::make_shared<optim::Lion>(
      learning_rate_from_r(learning_rate), pair_from_r(betas), weight_decay));
}

[[cpp11::register]]
SEXP optimizer_muon_(
    SEXP learning_rate,
    double momentum,
    double weight_decay,
    bool nesterov,
    int ns_steps) {
  return wrap_optimizer(std::make_shared<optim::Muon>(
      learning_rate_from_r(learning_rate),
      momentum,
      weight_decay,
      nesterov,
      ns_steps));
}

// `learning_rate` is NULL for none; `beta_1` is NULL or a number.
[[cpp11::register]]
SEXP optimizer_adafactor_(
    SEXP learning_rate,
    cpp11::doubles eps,
    double clip_threshold,
    double decay_rate,
    SEXP beta_1,
    double weight_decay,
    bool scale_parameter,
    bool relative_step,
    bool warmup_init) {
  optim::AdafactorOptions options;
  options.eps = pair_from_r(eps);
  options.clip_threshold = clip_threshold;
  options.decay_rate = decay_rate;
  if (beta_1 != R_NilValue) {
    options.beta_1 = cpp11::as_cpp<double>(beta_1);
  }
  options.weight_decay = weight_decay;
  options.scale_parameter = scale_parameter;
  options.relative_step = relative_step;
  options.warmup_init = warmup_init;
  std::optional<optim::LearningRate> rate;
  if (learning_rate != R_NilValue) {
    rate = learning_rate_from_r(learning_rate);
  }
  return wrap_optimizer(std::make_shared<optim::Adafactor>(rate, options));
}

// `filters` are R functions of a parameter name that return TRUE or FALSE.
// The optimizer's external pointer protects them.
[[cpp11::register]]
SEXP optimizer_multi_(cpp11::list optimizers, cpp11::list filters) {
  std::vector<std::shared_ptr<optim::Optimizer>> parts;
  for (R_xlen_t i = 0; i < optimizers.size(); ++i) {
    parts.push_back(unwrap_optimizer(optimizers[i], "mlx_optimizer_multi"));
  }
  std::vector<optim::ParameterFilter> predicates;
  for (R_xlen_t i = 0; i < filters.size(); ++i) {
    SEXP fn = filters[i];
    predicates.push_back([fn](const std::string& name, const mx::array&) {
      cpp11::function call_filter = cpp11::package("Rmlx")["call_r_filter"];
      return cpp11::as_cpp<bool>(call_filter(fn, name));
    });
  }
  SEXP ptr = PROTECT(wrap_optimizer(
      std::make_shared<optim::MultiOptimizer>(parts, predicates)));
  R_SetExternalPtrProtected(ptr, filters);
  UNPROTECT(1);
  return ptr;
}

[[cpp11::register]]
cpp11::list clip_grad_norm_(cpp11::list grads, double max_norm) {
  auto clipped = optim::clip_grad_norm(
      rmlx_unwrap_named(grads, "mlx_clip_grad_norm"), max_norm);
  return cpp11::writable::list(
      {rmlx_wrap_named(clipped.gradients),
       rmlx_wrap_array(clipped.total_norm)});
}

[[cpp11::register]]
SEXP nn_checkpoint_(SEXP module) {
  auto& m = rmlx_unwrap_module(module, "mlx_checkpoint", "module");
  return rmlx_wrap_module(std::make_shared<nn::Checkpoint>(m));
}

// One initializer applied to a shape; `options` holds its arguments.
[[cpp11::register]]
SEXP init_array_(
    std::string kind,
    cpp11::integers shape,
    cpp11::list options,
    std::string dtype_name) {
  namespace init = rmlx::nn::init;
  mx::Shape dims(shape.begin(), shape.end());
  auto dtype = rmlx_parse_dtype(dtype_name, "mlx_init");
  auto number = [&](const char* name) { return cpp11::as_cpp<double>(options[name]); };
  auto mode = [&] {
    return cpp11::as_cpp<std::string>(options["mode"]) == "fan_out"
        ? init::FanMode::fan_out
        : init::FanMode::fan_in;
  };
  mx::array out = mx::array(0.0f);
  if (kind == "constant") {
    out = init::constant(dims, number("value"), dtype);
  } else if (kind == "normal") {
    out = init::normal(dims, number("mean"), number("std"), dtype);
  } else if (kind == "uniform") {
    out = init::uniform(dims, number("low"), number("high"), dtype);
  } else if (kind == "identity") {
    out = init::identity(dims, dtype);
  } else if (kind == "glorot_normal") {
    out = init::glorot_normal(dims, number("gain"), dtype);
  } else if (kind == "glorot_uniform") {
    out = init::glorot_uniform(dims, number("gain"), dtype);
  } else if (kind == "he_normal") {
    out = init::he_normal(dims, mode(), number("gain"), dtype);
  } else if (kind == "he_uniform") {
    out = init::he_uniform(dims, mode(), number("gain"), dtype);
  } else if (kind == "sparse") {
    out = init::sparse(
        dims, number("sparsity"), number("mean"), number("std"), dtype);
  } else if (kind == "orthogonal") {
    out = init::orthogonal(dims, number("gain"), dtype);
  } else {
    throw std::invalid_argument("Unknown initializer \"" + kind + "\".");
  }
  return rmlx_wrap_array(out);
}

[[cpp11::register]]
SEXP optimizer_sgd_(
    SEXP learning_rate,
    double momentum,
    double weight_decay,
    double dampening,
    bool nesterov) {
  return wrap_optimizer(std::make_shared<optim::SGD>(
      learning_rate_from_r(learning_rate), momentum, weight_decay, dampening, nesterov));
}

[[cpp11::register]]
SEXP optimizer_adam_(
    SEXP learning_rate,
    cpp11::doubles betas,
    double eps,
    bool bias_correction) {
  return wrap_optimizer(std::make_shared<optim::Adam>(
      learning_rate_from_r(learning_rate),
      std::array<double, 2>{betas[0], betas[1]},
      eps,
      bias_correction));
}

[[cpp11::register]]
SEXP optimizer_adamw_(
    SEXP learning_rate,
    cpp11::doubles betas,
    double eps,
    double weight_decay,
    bool bias_correction) {
  return wrap_optimizer(std::make_shared<optim::AdamW>(
      learning_rate_from_r(learning_rate),
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

namespace {

// Reads the batch split of mlx_value_and_grad() and mlx_train_step(): the
// R side has checked `threads` and matched `reduction`.
nn::BatchSplit batch_split(int threads, const std::string& reduction) {
  return nn::BatchSplit{
      threads,
      reduction == "sum" ? nn::BatchReduction::sum : nn::BatchReduction::mean};
}

} // namespace

// Returns list(outputs, grads): the loss function's outputs and the
// gradients of the first one with respect to the trainable parameters. With
// `threads` above 1, `args` are MLX arrays that are split into that many
// parts, and the results come back evaluated.
[[cpp11::register]]
cpp11::list value_and_grad_(
    SEXP module,
    SEXP fn,
    cpp11::list args,
    int threads,
    std::string reduction) {
  const char* name = "mlx_value_and_grad";
  auto& m = rmlx_unwrap_module(module, name, "module");
  if (threads <= 1) {
    auto vg = nn::value_and_grad(*m, [&](const std::vector<mx::array>&) {
      return call_r_loss(fn, module, args);
    });
    auto [outputs, grads] = vg({});
    return cpp11::writable::list(
        {rmlx_wrap_arrays(outputs), rmlx_wrap_named(grads)});
  }
  std::vector<mx::array> inputs;
  for (R_xlen_t i = 0; i < args.size(); ++i) {
    inputs.push_back(rmlx_unwrap_array(args[i], name, "..."));
  }
  auto vg = nn::value_and_grad(
      *m,
      [&](const std::vector<mx::array>& part) {
        return call_r_loss(fn, module, rmlx_wrap_arrays(part));
      },
      batch_split(threads, reduction));
  auto [outputs, grads] = vg(inputs);
  std::vector<mx::array> all(outputs);
  for (const auto& [grad_name, grad] : grads) {
    all.push_back(grad);
  }
  rmlx::parallel::eval_parts(all, threads);
  return cpp11::writable::list(
      {rmlx_wrap_arrays(outputs), rmlx_wrap_named(grads)});
}

[[cpp11::register]]
int mlx_num_threads_() {
  return rmlx::parallel::available_processors();
}

[[cpp11::register]]
int max_batch_parts_() {
  return nn::BatchSplit::kMaxParts;
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
    double all_reduce_size,
    int threads,
    std::string reduction) {
  auto& m = rmlx_unwrap_module(module, "mlx_train_step", "module");
  auto members = rmlx_parse_group(group, "mlx_train_step");
  auto& o = unwrap_optimizer(opt, "mlx_train_step");
  auto loss = [module, fn](const std::vector<mx::array>& batch) {
    return call_r_loss(fn, module, rmlx_wrap_arrays(batch));
  };
  auto* heap = new std::shared_ptr<nn::TrainStep>(
      std::make_shared<nn::TrainStep>(
          m,
          o,
          loss,
          compile,
          members,
          static_cast<int64_t>(all_reduce_size),
          batch_split(threads, reduction)));
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
