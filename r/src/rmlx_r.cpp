#include "rmlx_r.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <stdexcept>
#include <utility>

#include <unistd.h>

namespace mx = mlx::core;

namespace {

void finalize_array(SEXP ptr) {
  auto* a = static_cast<mx::array*>(R_ExternalPtrAddr(ptr));
  if (a != nullptr) {
    delete a;
    R_ClearExternalPtr(ptr);
  }
}

const std::array<std::pair<const char*, mx::Dtype>, 14> dtype_names = {{
    {"bool", mx::bool_},
    {"uint8", mx::uint8},
    {"uint16", mx::uint16},
    {"uint32", mx::uint32},
    {"uint64", mx::uint64},
    {"int8", mx::int8},
    {"int16", mx::int16},
    {"int32", mx::int32},
    {"int64", mx::int64},
    {"float16", mx::float16},
    {"bfloat16", mx::bfloat16},
    {"float32", mx::float32},
    {"float64", mx::float64},
    {"complex64", mx::complex64},
}};

}  // namespace

namespace {

// MLX memory is freed when R's garbage collector finalizes the arrays that
// hold it, but R sizes its collections by its own heap, which these small
// external pointers barely touch. So once MLX's active memory has grown by
// this many bytes since the last collection, the next new array runs a full
// one. RMLX_GC_THRESHOLD_MB sets it in MiB (default 1024, 0 turns it off).
// The young-generation collections of collect_array_garbage() in
// R/memory.R come far sooner in a training loop.
size_t gc_threshold_bytes() {
  static const size_t threshold = [] {
    constexpr double kDefaultMb = 1024.0;
    const char* env = std::getenv("RMLX_GC_THRESHOLD_MB");
    double mb = kDefaultMb;
    if (env != nullptr && *env != '\0') {
      char* end = nullptr;
      double parsed = std::strtod(env, &end);
      if (*end == '\0' && std::isfinite(parsed) && parsed >= 0) {
        mb = parsed;
      } else {
        // REprintf() rather than a warning, which options(warn = 2) would
        // turn into an error that unwinds through the caller's C++ frames.
        REprintf(
            "Rmlx: RMLX_GC_THRESHOLD_MB=\"%s\" is invalid: it must be a "
            "number of MiB, 0 or more (0 turns the collection off). Using "
            "the default, 1024.\n",
            env);
      }
    }
    double bytes = mb * 1024 * 1024;
    double max_bytes = static_cast<double>(std::numeric_limits<size_t>::max());
    return bytes >= max_bytes ? std::numeric_limits<size_t>::max()
                              : static_cast<size_t>(bytes);
  }();
  return threshold;
}

// The active memory after the last collection that Rmlx ran, lowered
// whenever the active memory falls below it.
size_t memory_after_last_gc = 0;

void collect_if_memory_grew() {
  size_t threshold = gc_threshold_bytes();
  if (threshold == 0) {
    return;
  }
  if (rmlx_memory_growth() > threshold) {
    R_gc();
    rmlx_mark_collected();
  }
}

}  // namespace

size_t rmlx_memory_growth() {
  size_t active = mx::get_active_memory();
  memory_after_last_gc = std::min(memory_after_last_gc, active);
  return active - memory_after_last_gc;
}

void rmlx_mark_collected() {
  memory_after_last_gc = mx::get_active_memory();
}

SEXP rmlx_wrap_array(mx::array a) {
  collect_if_memory_grew();
  auto* heap = new mx::array(std::move(a));
  SEXP ptr = PROTECT(R_MakeExternalPtr(heap, R_NilValue, R_NilValue));
  R_RegisterCFinalizerEx(ptr, finalize_array, TRUE);
  static SEXP class_name = [] {
    SEXP name = Rf_mkString("mlx_array");
    R_PreserveObject(name);
    return name;
  }();
  Rf_setAttrib(ptr, R_ClassSymbol, class_name);
  UNPROTECT(1);
  return ptr;
}

namespace {

// MLX runs evaluations on threads that it starts in this process. A child
// forked from it has none of them, so its first evaluation would wait
// forever.
const pid_t loading_process = getpid();

}  // namespace

void rmlx_check_not_forked(const char* fn) {
  if (getpid() != loading_process) {
    throw std::runtime_error(
        std::string(fn) +
        "(): MLX cannot run in a process forked from the one that loaded "
        "Rmlx, such as a worker of parallel::mclapply() or mcparallel(), "
        "because MLX's worker threads exist only in that process. Use "
        "parallel::parLapply() with a cluster from parallel::makeCluster(), "
        "or callr, which start new R processes.");
  }
}

mx::array& rmlx_unwrap_array(SEXP x, const char* fn, const char* arg) {
  rmlx_check_not_forked(fn);
  if (TYPEOF(x) != EXTPTRSXP || !Rf_inherits(x, "mlx_array")) {
    throw std::invalid_argument(std::string(fn) + "(): `" + arg +
                                "` must be an MLX array, not an object of type " +
                                Rf_type2char(TYPEOF(x)) + ".");
  }
  auto* a = static_cast<mx::array*>(R_ExternalPtrAddr(x));
  if (a == nullptr) {
    throw std::invalid_argument(
        std::string(fn) + "(): `" + arg +
        "` is an MLX array that no longer exists (freed, or restored by "
        "readRDS(), which cannot store MLX arrays); create it again. To save "
        "arrays, use mlx_save_safetensors(), or convert them with as.array() "
        "before saveRDS().");
  }
  return *a;
}

mx::Dtype rmlx_parse_dtype(const std::string& name, const char* fn) {
  for (const auto& [known, dtype] : dtype_names) {
    if (name == known) {
      return dtype;
    }
  }
  std::string valid;
  for (const auto& entry : dtype_names) {
    valid += valid.empty() ? "" : ", ";
    valid += entry.first;
  }
  throw std::invalid_argument(std::string(fn) + "(): unknown dtype \"" + name +
                              "\"; use one of " + valid + ".");
}

std::string rmlx_dtype_name(mx::Dtype dtype) {
  for (const auto& [name, known] : dtype_names) {
    if (dtype == known) {
      return name;
    }
  }
  throw std::invalid_argument("Unknown MLX dtype.");
}

mx::Device rmlx_parse_device(const std::string& name, const char* fn) {
  if (name == "cpu") {
    return mx::Device::cpu;
  }
  if (name == "gpu") {
    if (!mx::is_available(mx::Device::gpu)) {
      throw std::invalid_argument(
          std::string(fn) +
          "(): device \"gpu\" is not available: this MLX build has no GPU "
          "backend for this machine; use device = \"cpu\".");
    }
    return mx::Device::gpu;
  }
  throw std::invalid_argument(std::string(fn) + "(): unknown device \"" + name +
                              "\"; use \"cpu\" or \"gpu\".");
}

mx::StreamOrDevice rmlx_parse_stream(SEXP device, const char* fn) {
  if (Rf_isNull(device)) {
    return {};
  }
  if (TYPEOF(device) != STRSXP || Rf_length(device) != 1 ||
      STRING_ELT(device, 0) == NA_STRING) {
    throw std::invalid_argument(std::string(fn) +
                                "(): `device` must be \"cpu\", \"gpu\" or NULL.");
  }
  return rmlx_parse_device(CHAR(STRING_ELT(device, 0)), fn);
}
