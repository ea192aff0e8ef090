// Process-wide settings of the C++ core: its own CPU kernels and malloc
// reuse.
#include "rmlx/memory.h"
#include "rmlx/nn/custom_kernels.h"
#include "rmlx_r.h"

[[cpp11::register]]
bool mlx_enable_malloc_reuse_(double max_block_mb) {
  return rmlx::enable_malloc_reuse(
      static_cast<size_t>(max_block_mb * 1024.0 * 1024.0));
}

// Sets the switch and returns its previous value.
[[cpp11::register]]
bool mlx_set_custom_kernels_(bool enabled) {
  bool previous = rmlx::nn::custom_kernels_enabled();
  rmlx::nn::set_custom_kernels_enabled(enabled);
  return previous;
}

[[cpp11::register]]
bool mlx_custom_kernels_enabled_() {
  return rmlx::nn::custom_kernels_enabled();
}
