// Access to a training step's PRNG key, which checkpoints save and restore
// so that a resumed run draws the same dropout masks.
#include "rmlx_r.h"

#include <memory>
#include <stdexcept>

#include "rmlx/nn/training.h"

namespace {

// The training step behind an external pointer made by train_step_new_()
// (tagged "rmlx_train_step" in optimizers.cpp).
rmlx::nn::TrainStep& unwrap_train_step(SEXP step, const char* fn) {
  static SEXP tag = Rf_install("rmlx_train_step");
  if (TYPEOF(step) != EXTPTRSXP || R_ExternalPtrTag(step) != tag ||
      R_ExternalPtrAddr(step) == nullptr) {
    throw std::invalid_argument(
        std::string(fn) +
        "(): `train_step` must be a training step from mlx_train_step().");
  }
  return **static_cast<std::shared_ptr<rmlx::nn::TrainStep>*>(
      R_ExternalPtrAddr(step));
}

} // namespace

[[cpp11::register]]
SEXP train_step_key_(SEXP step) {
  return rmlx_wrap_array(unwrap_train_step(step, "mlx_save_checkpoint").key());
}

[[cpp11::register]]
void train_step_set_key_(SEXP step, SEXP key) {
  unwrap_train_step(step, "mlx_load_checkpoint")
      .set_key(rmlx_unwrap_array(key, "mlx_load_checkpoint", "key"));
}
