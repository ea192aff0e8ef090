// Tuning of the C library's allocator for MLX's CPU arrays.
#pragma once

#include <cstddef>

namespace rmlx {

/**
 * Makes glibc's malloc serve blocks of up to `max_block_bytes` from its heap
 * and keep freed heap memory for reuse (up to `max_block_bytes` at the top
 * of the heap) instead of returning it to the system at once.
 *
 * MLX 0.32.4's CPU allocator keeps freed buffers in a cache of 32 MiB by
 * default and calls malloc and free for the rest. Without this, glibc maps
 * each block above its mmap threshold (at most 32 MiB by default) afresh
 * and unmaps it when freed. Every large
 * array then pays a page fault per 4 KiB page on first touch. On a 2-core
 * AMD EPYC, an unfold writing 300 MB took 166 ms that way and 17 ms with
 * reused memory. The cost is a larger resident size, since freed blocks
 * stay with the process. The setting applies to the whole process. Returns
 * false where the C library is not glibc or rejects a value.
 */
bool enable_malloc_reuse(size_t max_block_bytes = size_t(1) << 30);

} // namespace rmlx
