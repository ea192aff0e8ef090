#include "rmlx/parallel.h"

#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <future>
#include <mutex>
#include <thread>

#include <mlx/scheduler.h>

#if defined(__linux__)
#include <sched.h>
#endif

namespace rmlx::parallel {

namespace {

// Set on the thread of each stream from batch_streams().
thread_local bool on_batch_stream = false;
// The threads a kernel on those streams may use.
std::atomic<int> batch_stream_threads{1};

using SetThreadsFn = void (*)(int);
using GetThreadsFn = int (*)();

// OpenBLAS's thread controls, looked up where MLX's cblas_sgemm comes from:
// the process's global scope (R loads its libblas.so.3 there, and the C++
// library links OpenBLAS ahead of MLX).
struct OpenBlas {
  SetThreadsFn set = nullptr;
  GetThreadsFn get = nullptr;
};

const OpenBlas& openblas() {
  static const OpenBlas found = [] {
    OpenBlas fns;
    fns.set = reinterpret_cast<SetThreadsFn>(
        dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
    fns.get = reinterpret_cast<GetThreadsFn>(
        dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
    if (fns.set == nullptr || fns.get == nullptr) {
      fns = OpenBlas{};
    }
    return fns;
  }();
  return found;
}

} // namespace

int available_processors() {
  static const int processors = [] {
    if (const char* limit = std::getenv("RMLX_NUM_THREADS")) {
      int value = std::atoi(limit);
      if (value > 0) {
        return value;
      }
    }
#if defined(__linux__)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
      return std::max(1, CPU_COUNT(&set));
    }
#endif
    return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  }();
  return processors;
}

int kernel_threads() {
  if (on_batch_stream) {
    return batch_stream_threads.load(std::memory_order_relaxed);
  }
  return available_processors();
}

std::vector<mx::Stream> batch_streams(int count) {
  static std::mutex mutex;
  static std::vector<mx::Stream> streams;
  std::lock_guard<std::mutex> lock(mutex);
  while (static_cast<int>(streams.size()) < count) {
    auto stream = mx::new_stream(mx::Device::cpu);
    // Marks the stream's own thread, where its kernels run, and waits so
    // that no kernel can run there before the mark.
    std::promise<void> marked;
    auto done = marked.get_future();
    mx::scheduler::enqueue(stream, [&marked] {
      on_batch_stream = true;
      marked.set_value();
    });
    done.wait();
    streams.push_back(stream);
  }
  batch_stream_threads.store(threads_per_part(count), std::memory_order_relaxed);
  return std::vector<mx::Stream>(streams.begin(), streams.begin() + count);
}

int threads_per_part(int parts) {
  return std::max(1, available_processors() / std::max(1, parts));
}

void eval_parts(const std::vector<mx::array>& arrays, int parts) {
  if (parts <= 1) {
    mx::eval(arrays);
    return;
  }
  BlasThreadsScope blas(threads_per_part(parts));
  mx::eval(arrays);
}

int blas_threads() {
  const auto& fns = openblas();
  return fns.get != nullptr ? fns.get() : 0;
}

bool set_blas_threads(int threads) {
  const auto& fns = openblas();
  if (fns.set == nullptr) {
    return false;
  }
  fns.set(std::max(1, threads));
  return true;
}

BlasThreadsScope::BlasThreadsScope(int threads) : previous_(blas_threads()) {
  if (previous_ > 0 && previous_ != threads) {
    set_blas_threads(threads);
  }
}

BlasThreadsScope::~BlasThreadsScope() {
  if (previous_ > 0 && blas_threads() != previous_) {
    set_blas_threads(previous_);
  }
}

} // namespace rmlx::parallel
