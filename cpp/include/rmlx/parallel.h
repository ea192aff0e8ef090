// Threads on the CPU: the processors a kernel may use, CPU streams that run
// the parts of a split batch side by side, and the thread count of the BLAS
// that MLX's matrix products call.
#pragma once

#include <vector>

#include <mlx/mlx.h>

namespace rmlx::parallel {

namespace mx = mlx::core;

/**
 * Returns the number of processors this process may run on, which taskset
 * and cgroup CPU sets restrict, or RMLX_NUM_THREADS when that environment
 * variable is a positive number.
 */
int available_processors();

/**
 * Returns the number of threads a kernel running on the calling thread may
 * use: available_processors(), or its share on a stream of
 * batch_streams().
 */
int kernel_threads();

/**
 * Returns `count` CPU streams, created on first use and kept. MLX runs each
 * CPU stream on its own thread, so the parts of a batch traced on different
 * streams run side by side. Kernels on these streams use
 * threads_per_part(count) threads each.
 */
std::vector<mx::Stream> batch_streams(int count);

/**
 * Returns each part's share of the processors when `parts` parts run side
 * by side: max(1, available_processors() / parts).
 */
int threads_per_part(int parts);

/**
 * Evaluates arrays whose graph was traced in `parts` parts on the streams of
 * batch_streams(parts), with OpenBLAS on threads_per_part(parts) threads
 * meanwhile. With one part it is mx::eval(arrays).
 */
void eval_parts(const std::vector<mx::array>& arrays, int parts);

/**
 * Returns the thread count of the OpenBLAS that MLX's products call, or 0
 * when that BLAS is not OpenBLAS.
 */
int blas_threads();

/**
 * Sets the thread count of OpenBLAS for the whole process. Returns false,
 * and changes nothing, when MLX's BLAS is not OpenBLAS.
 */
bool set_blas_threads(int threads);

/**
 * Sets the OpenBLAS thread count until the scope ends, then puts the
 * previous one back. Does nothing when MLX's BLAS is not OpenBLAS.
 */
class BlasThreadsScope {
 public:
  explicit BlasThreadsScope(int threads);
  ~BlasThreadsScope();
  BlasThreadsScope(const BlasThreadsScope&) = delete;
  BlasThreadsScope& operator=(const BlasThreadsScope&) = delete;

 private:
  int previous_;
};

} // namespace rmlx::parallel
