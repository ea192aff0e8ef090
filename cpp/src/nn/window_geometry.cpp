#include "window_geometry.h"

#include <algorithm>
#include <thread>

#include "rmlx/parallel.h"

namespace rmlx::nn::detail {

WindowGeometry make_geometry(
    const mx::Shape& shape,
    const std::vector<int>& output,
    const std::vector<int>& kernel,
    const std::vector<int>& stride,
    const std::vector<int>& padding,
    const std::vector<int>& dilation) {
  WindowGeometry g;
  int dims = static_cast<int>(kernel.size());
  g.batch = static_cast<size_t>(shape.front());
  g.channels = static_cast<size_t>(shape.back());
  for (int i = 0; i < dims; ++i) {
    int axis = 3 - dims + i;
    g.input[axis] = shape[i + 1];
    g.output[axis] = output[i];
    g.kernel[axis] = kernel[i];
    g.stride[axis] = stride[i];
    g.padding[axis] = padding[i];
    g.dilation[axis] = dilation[i];
  }
  return g;
}

void parallel_for(
    size_t count,
    size_t min_grain,
    const std::function<void(size_t, size_t)>& body) {
  const auto processors = static_cast<size_t>(parallel::kernel_threads());
  size_t threads =
      std::min(processors, std::max<size_t>(1, count / std::max<size_t>(1, min_grain)));
  if (threads <= 1) {
    body(0, count);
    return;
  }
  // The threads start on each call instead of living in a pool: R forks
  // worker processes (parallel::mclapply), and a forked child would wait
  // forever on pool threads that do not exist in it. Starting a thread
  // costs tens of microseconds (an estimate), little beside the kernels
  // that call this.
  size_t chunk = (count + threads - 1) / threads;
  std::vector<std::thread> workers;
  workers.reserve(threads - 1);
  for (size_t t = 1; t < threads; ++t) {
    size_t first = std::min(count, t * chunk);
    size_t last = std::min(count, first + chunk);
    workers.emplace_back(body, first, last);
  }
  body(0, std::min(count, chunk));
  for (auto& worker : workers) {
    worker.join();
  }
}

} // namespace rmlx::nn::detail
