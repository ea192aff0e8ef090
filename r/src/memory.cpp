// Bindings for MLX's memory counters, and the growth check behind
// collect_array_garbage() in R/memory.R, which runs R's garbage collector.
#include <algorithm>
#include <string>

#include "rmlx_r.h"

namespace mx = mlx::core;

namespace {

// The active memory after the last collection that collect_array_garbage()
// started, lowered whenever the active memory falls below it.
size_t collection_baseline = 0;

} // namespace

[[cpp11::register]]
cpp11::doubles mlx_memory_(bool reset_peak) {
  rmlx_check_not_forked("mlx_memory");
  cpp11::writable::doubles out = {
      static_cast<double>(mx::get_active_memory()),
      static_cast<double>(mx::get_peak_memory()),
      static_cast<double>(mx::get_cache_memory())};
  out.names() = {"active", "peak", "cache"};
  if (reset_peak) {
    mx::reset_peak_memory();
  }
  return out;
}

[[cpp11::register]]
void mlx_clear_cache_() {
  rmlx_check_not_forked("mlx_clear_cache");
  mx::clear_cache();
}

// Returns the bytes of MLX memory that arrays gained since the last
// collection started by collect_array_garbage(), called by `fn`.
[[cpp11::register]]
double memory_growth_(std::string fn) {
  rmlx_check_not_forked(fn.c_str());
  size_t active = mx::get_active_memory();
  collection_baseline = std::min(collection_baseline, active);
  return static_cast<double>(active - collection_baseline);
}

[[cpp11::register]]
void memory_mark_collected_() {
  collection_baseline = mx::get_active_memory();
}
