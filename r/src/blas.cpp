// Reports which shared library provides the cblas_sgemm that MLX calls.
#include <dlfcn.h>

#include <string>

#include "rmlx_r.h"

// Returns the path of the library that defines cblas_sgemm in this object's
// symbol lookup scope, or "" when no library defines it. The scope is the
// global one followed by the dlopen() group of Rmlx.so, which also contains
// libmlx.so, so libmlx.so binds the same definition.
[[cpp11::register]]
std::string mlx_blas_library_() {
  void* symbol = dlsym(RTLD_DEFAULT, "cblas_sgemm");
  if (symbol == nullptr) {
    return "";
  }
  Dl_info info;
  if (dladdr(symbol, &info) == 0 || info.dli_fname == nullptr) {
    return "";
  }
  return info.dli_fname;
}
