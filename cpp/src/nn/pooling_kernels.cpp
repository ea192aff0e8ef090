#include "pooling_kernels.h"

#include <cstring>
#include <limits>
#include <stdexcept>

#include <mlx/backend/cpu/encoder.h>

#include "window_geometry.h"

// The channel loops below are written to vectorize, but GCC's -O2 (what R
// builds with) only vectorizes loops that need no scalar remainder.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("vect-cost-model=dynamic")
#endif

namespace rmlx::nn::detail {

namespace {

// Rows per thread below which a second thread costs more than it saves.
constexpr size_t kMinRowsPerThread = 4096;

constexpr float kNegativeInfinity = -std::numeric_limits<float>::infinity();

WindowGeometry pool_geometry(
    const mx::Shape& input_shape,
    const mx::Shape& output_shape,
    const PoolParameters& p) {
  std::vector<int> counts(output_shape.begin() + 1, output_shape.end() - 1);
  std::vector<int> dilation(p.kernel_size.size(), 1);
  return make_geometry(
      input_shape, counts, p.kernel_size, p.stride, p.padding, dilation);
}

void max_pool_kernel(const float* x, float* y, const WindowGeometry& g) {
  size_t channels = g.channels;
  auto pool_row = [&](const WindowIndex& at) {
    float* __restrict best = y + at.row * channels;
    std::fill(best, best + channels, kNegativeInfinity);
    for_each_window_position(g, at, [&](size_t, std::ptrdiff_t offset) {
      if (offset < 0) {
        return;
      }
      const float* __restrict in = x + offset;
      for (size_t c = 0; c < channels; ++c) {
        // NaN wins, as in MLX's max reduction. Bitwise | keeps the loop
        // free of branches, so it vectorizes.
        float value = in[c];
        bool take = (value > best[c]) | (value != value);
        best[c] = take ? value : best[c];
      }
    });
  };
  size_t rows = g.batch * g.output_positions();
  parallel_for(rows, kMinRowsPerThread, [&](size_t first, size_t last) {
    for_each_row(g, first, last, pool_row);
  });
}

void mean_pool_kernel(const float* x, float* y, const WindowGeometry& g) {
  size_t channels = g.channels;
  const float scale = static_cast<float>(1.0 / g.kernel_positions());
  auto pool_row = [&](const WindowIndex& at) {
    float* __restrict sum = y + at.row * channels;
    std::fill(sum, sum + channels, 0.0f);
    for_each_window_position(g, at, [&](size_t, std::ptrdiff_t offset) {
      if (offset < 0) {
        return;
      }
      const float* __restrict in = x + offset;
      for (size_t c = 0; c < channels; ++c) {
        sum[c] += in[c];
      }
    });
    for (size_t c = 0; c < channels; ++c) {
      sum[c] *= scale;
    }
  };
  size_t rows = g.batch * g.output_positions();
  parallel_for(rows, kMinRowsPerThread, [&](size_t first, size_t last) {
    for_each_row(g, first, last, pool_row);
  });
}

// True when no two windows share an input position, so a gradient kernel
// may store into dx rather than add.
bool windows_disjoint(const WindowGeometry& g) {
  for (int i = 0; i < 3; ++i) {
    if (g.stride[i] < g.kernel[i]) {
      return false;
    }
  }
  return true;
}

// True when the windows tile the input exactly, so every element of dx is
// written and dx needs no zeroing first.
bool windows_tile_input(const WindowGeometry& g) {
  for (int i = 0; i < 3; ++i) {
    if (g.stride[i] != g.kernel[i] || g.padding[i] != 0 ||
        g.output[i] * g.stride[i] != g.input[i]) {
      return false;
    }
  }
  return true;
}

// Runs row_gradient(at, store) over every output row of images [first,
// last), splitting images between threads so that windows of one image,
// which may overlap, add into dx on one thread. `store` is true when the
// windows are disjoint and the kernel may overwrite dx.
template <typename RowGradient>
void for_each_gradient_row(
    float* dx,
    const WindowGeometry& g,
    RowGradient&& row_gradient) {
  size_t positions = g.output_positions();
  size_t image_size = g.input_positions() * g.channels;
  size_t grain = std::max<size_t>(1, kMinRowsPerThread / positions);
  bool store = windows_disjoint(g);
  bool zero = !windows_tile_input(g);
  parallel_for(g.batch, grain, [&](size_t first, size_t last) {
    if (zero) {
      std::memset(
          dx + first * image_size,
          0,
          (last - first) * image_size * sizeof(float));
    }
    for_each_row(g, first * positions, last * positions,
                 [&](const WindowIndex& at) { row_gradient(at, store); });
  });
}

// dx for max pooling: MLX's max vjp is (cotangent / count) * (x == max),
// with count the number of window entries equal to the maximum, padding
// included as -inf.
void max_pool_grad_kernel(
    const float* x,
    const float* y,
    const float* cotangent,
    float* dx,
    const WindowGeometry& g) {
  size_t channels = g.channels;
  // Per-thread scratch: one vector per row would allocate in the loop.
  thread_local std::vector<float> portions;
  thread_local std::vector<float> others;
  auto row_gradient = [&](const WindowIndex& at, bool store) {
    portions.assign(channels, 0.0f);
    others.resize(channels);
    const float* __restrict max = y + at.row * channels;
    const float* __restrict grad = cotangent + at.row * channels;
    float* __restrict count = portions.data();
    for_each_window_position(g, at, [&](size_t, std::ptrdiff_t offset) {
      if (offset < 0) {
        for (size_t c = 0; c < channels; ++c) {
          count[c] += max[c] == kNegativeInfinity ? 1.0f : 0.0f;
        }
        return;
      }
      const float* __restrict in = x + offset;
      for (size_t c = 0; c < channels; ++c) {
        count[c] += in[c] == max[c] ? 1.0f : 0.0f;
      }
    });
    // A position equal to the maximum gets grad / count and any other
    // grad / count * 0, which is 0 unless count is 0 (a NaN maximum).
    float* __restrict other = others.data();
    for (size_t c = 0; c < channels; ++c) {
      count[c] = grad[c] / count[c];
      other[c] = count[c] * 0.0f;
    }
    const float* __restrict portion = count;
    for_each_window_position(g, at, [&](size_t, std::ptrdiff_t offset) {
      if (offset < 0) {
        return;
      }
      const float* __restrict in = x + offset;
      float* __restrict target = dx + offset;
      for (size_t c = 0; c < channels; ++c) {
        float if_max = portion[c];
        float if_not = other[c];
        float value = in[c] == max[c] ? if_max : if_not;
        target[c] = store ? value : target[c] + value;
      }
    });
  };
  for_each_gradient_row(dx, g, row_gradient);
}

// dx for average pooling: every window adds cotangent / prod(kernel_size)
// to each of its input positions.
void mean_pool_grad_kernel(
    const float* cotangent,
    float* dx,
    const WindowGeometry& g) {
  size_t channels = g.channels;
  const float scale = static_cast<float>(1.0 / g.kernel_positions());
  auto row_gradient = [&](const WindowIndex& at, bool store) {
    const float* __restrict grad = cotangent + at.row * channels;
    for_each_window_position(g, at, [&](size_t, std::ptrdiff_t offset) {
      if (offset < 0) {
        return;
      }
      float* __restrict target = dx + offset;
      for (size_t c = 0; c < channels; ++c) {
        float value = grad[c] * scale;
        target[c] = store ? value : target[c] + value;
      }
    });
  };
  for_each_gradient_row(dx, g, row_gradient);
}

void check_float32_contiguous(const char* op, const mx::array& a) {
  if (a.dtype() != mx::float32 || !a.flags().row_contiguous) {
    throw std::runtime_error(
        std::string("[") + op +
        "] Expected row-contiguous float32 inputs; window_pool() makes "
        "them.");
  }
}

} // namespace

mx::array window_pool(
    const mx::array& x,
    const mx::Shape& output_shape,
    const PoolParameters& parameters,
    mx::Stream stream) {
  return mx::array(
      output_shape,
      mx::float32,
      std::make_shared<WindowPool>(stream, parameters),
      {mx::contiguous(x, false, stream)});
}

void WindowPool::eval_cpu(
    const std::vector<mx::array>& inputs,
    mx::array& output) {
  const auto& x = inputs[0];
  check_float32_contiguous("WindowPool", x);
  output.set_data(mx::allocator::malloc(output.nbytes()));
  auto& encoder = mx::cpu::get_command_encoder(stream());
  encoder.set_input_array(x);
  encoder.set_output_array(output);
  WindowGeometry g = pool_geometry(x.shape(), output.shape(), parameters_);
  encoder.dispatch([in = x.data<float>(),
                    out = output.data<float>(),
                    g,
                    mode = parameters_.mode]() {
    if (mode == PoolMode::max) {
      max_pool_kernel(in, out, g);
    } else {
      mean_pool_kernel(in, out, g);
    }
  });
}

std::vector<mx::array> WindowPool::vjp(
    const std::vector<mx::array>& primals,
    const std::vector<mx::array>& cotangents,
    const std::vector<int>& argnums,
    const std::vector<mx::array>& outputs) {
  auto s = stream();
  return {mx::array(
      primals[0].shape(),
      mx::float32,
      std::make_shared<WindowPoolGrad>(s, parameters_),
      {primals[0],
       outputs[0],
       mx::contiguous(mx::astype(cotangents[0], mx::float32, s), false, s)})};
}

void WindowPoolGrad::eval_cpu(
    const std::vector<mx::array>& inputs,
    mx::array& output) {
  for (const auto& in : inputs) {
    check_float32_contiguous("WindowPoolGrad", in);
  }
  output.set_data(mx::allocator::malloc(output.nbytes()));
  auto& encoder = mx::cpu::get_command_encoder(stream());
  for (const auto& in : inputs) {
    encoder.set_input_array(in);
  }
  encoder.set_output_array(output);
  WindowGeometry g =
      pool_geometry(inputs[0].shape(), inputs[1].shape(), parameters_);
  encoder.dispatch([x = inputs[0].data<float>(),
                    y = inputs[1].data<float>(),
                    cotangent = inputs[2].data<float>(),
                    dx = output.data<float>(),
                    g,
                    mode = parameters_.mode]() {
    if (mode == PoolMode::max) {
      max_pool_grad_kernel(x, y, cotangent, dx, g);
    } else {
      mean_pool_grad_kernel(cotangent, dx, g);
    }
  });
}

void WindowPool::eval_gpu(const std::vector<mx::array>&, mx::array&) {
  throw std::runtime_error("[WindowPool] Runs on the CPU only.");
}

void WindowPoolGrad::eval_gpu(const std::vector<mx::array>&, mx::array&) {
  throw std::runtime_error("[WindowPoolGrad] Runs on the CPU only.");
}

bool WindowPool::is_equivalent(const mx::Primitive& other) const {
  return parameters_ == static_cast<const WindowPool&>(other).parameters_;
}

bool WindowPoolGrad::is_equivalent(const mx::Primitive& other) const {
  return parameters_ == static_cast<const WindowPoolGrad&>(other).parameters_;
}

} // namespace rmlx::nn::detail
