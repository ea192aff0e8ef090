// Bindings for MLX's memory counters, and the growth check behind
// collect_array_garbage() in R/memory.R, which runs R's garbage collector.
#include <algorithm>
#include <string>

#include "rmlx_r.h"

namespace mx = mlx::core;

[[cpp11::register]]
cpp11::doubles mlx_memory_(bool reset_peak) {
  rmlx_check_not_forked("mlx_memory");
  size_t active = mx::get_active_memory();
  // MLX resets the peak to zero, not to the memory still active, so right
  // after a reset its peak would be below `active`.
  size_t peak = std::max(mx::get_peak_memory(), active);
  cpp11::writable::doubles out = {
      static_cast<double>(active), static_cast<double>(peak),
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

// Returns rmlx_memory_growth() for collect_array_garbage(), called by `fn`.
[[cpp11::register]]
double memory_growth_(std::string fn) {
  rmlx_check_not_forked(fn.c_str());
  return static_cast<double>(rmlx_memory_growth());
}

// Returns rmlx_memory_growth() when it exceeds the rmlx.collect_bytes
// option (64 MiB when unset), 0 when it does not, and NA when the option
// is not a single number of 0 or more.
[[cpp11::register]]
double collect_growth_(std::string fn) {
  rmlx_check_not_forked(fn.c_str());
  static SEXP option = Rf_install("rmlx.collect_bytes");
  SEXP value = Rf_GetOption1(option);
  double limit = 64.0 * 1024 * 1024;
  if (value != R_NilValue) {
    bool number = (TYPEOF(value) == REALSXP || TYPEOF(value) == INTSXP) &&
        Rf_xlength(value) == 1 && !Rf_isObject(value);
    limit = number ? Rf_asReal(value) : NA_REAL;
    if (!number || ISNAN(limit) || limit < 0) {
      return NA_REAL;
    }
  }
  double growth = static_cast<double>(rmlx_memory_growth());
  return growth > limit ? growth : 0.0;
}

[[cpp11::register]]
void memory_mark_collected_() {
  rmlx_mark_collected();
}
