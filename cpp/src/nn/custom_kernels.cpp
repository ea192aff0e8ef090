#include "rmlx/nn/custom_kernels.h"

#include <atomic>

namespace rmlx::nn {

namespace {
std::atomic<bool> enabled{true};
} // namespace

void set_custom_kernels_enabled(bool value) {
  enabled.store(value);
}

bool custom_kernels_enabled() {
  return enabled.load();
}

} // namespace rmlx::nn
