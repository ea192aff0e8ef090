#include "rmlx/memory.h"

#include <climits>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace rmlx {

bool enable_malloc_reuse(size_t max_block_bytes) {
#if defined(__GLIBC__)
  int bytes = max_block_bytes > size_t(INT_MAX) ? INT_MAX
                                                 : static_cast<int>(max_block_bytes);
  // Setting either value also stops glibc from adjusting the mmap threshold
  // by itself.
  return mallopt(M_MMAP_THRESHOLD, bytes) == 1 &&
      mallopt(M_TRIM_THRESHOLD, bytes) == 1;
#else
  (void)max_block_bytes;
  return false;
#endif
}

} // namespace rmlx
