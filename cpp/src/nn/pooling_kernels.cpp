#include "pooling_kernels.h"

#include <cstring>
#include <limits>
#include <stdexcept>

#include <mlx/backend/cpu/encoder.h>

#include "window_geometry.h"

namespace rmlx::nn::detail {

namespace {

// Rows per thread below which a second thread costs more than it saves.
constexpr size_t kMinRowsPerThread = 4096;

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
  size_t rows = g.batch * g.output_positions();
  parallel_for(rows, kMinRowsPerThread, [&](size_t first, size_t last) {
    for (size_t row = first; row < last; ++row) {
      float* out = y + row * channels;
      for (size_t c = 0; c < channels; ++c) {
        out[c] = -std::numeric_limits<float>::infinity();
      }
      for_each_window_position(
          g, row, [&](size_t, std::ptrdiff_t input_offset) {
            if (input_offset < 0) {
              return;
            }
            const float* in = x + input_offset;
            for (size_t c = 0; c < channels; ++c) {
              // NaN wins, as in MLX's max reduction.
              out[c] = (in[c] > out[c] || in[c] != in[c]) ? in[c] : out[c];
            }
          });
    }
  });
}

void mean_pool_kernel(const float* x, float* y, const WindowGeometry& g) {
  size_t channels = g.channels;
  size_t rows = g.batch * g.output_positions();
  const float scale = static_cast<float>(1.0 / g.kernel_positions());
  parallel_for(rows, kMinRowsPerThread, [&](size_t first, size_t last) {
    for (size_t row = first; row < last; ++row) {
      float* out = y + row * channels;
      std::memset(out, 0, channels * sizeof(float));
      for_each_window_position(
          g, row, [&](size_t, std::ptrdiff_t input_offset) {
            if (input_offset < 0) {
              return;
            }
            const float* in = x + input_offset;
            for (size_t c = 0; c < channels; ++c) {
              out[c] += in[c];
            }
          });
      for (size_t c = 0; c < channels; ++c) {
        out[c] *= scale;
      }
    }
  });
}

// dx for max pooling: MLX's max vjp is (cotangent / count) * (x == max),
// with count the number of window entries equal to the maximum, padding
// included as -inf. Images go to separate threads, so overlapping windows
// of one image add into dx on one thread.
void max_pool_grad_kernel(
    const float* x,
    const float* y,
    const float* cotangent,
    float* dx,
    const WindowGeometry& g) {
  size_t channels = g.channels;
  size_t positions = g.output_positions();
  size_t image_size = g.input_positions() * channels;
  size_t grain = std::max<size_t>(1, kMinRowsPerThread / positions);
  parallel_for(g.batch, grain, [&](size_t first, size_t last) {
    std::memset(dx + first * image_size, 0,
                (last - first) * image_size * sizeof(float));
    std::vector<float> share(channels);
    for (size_t row = first * positions; row < last * positions; ++row) {
      const float* max = y + row * channels;
      const float* grad = cotangent + row * channels;
      std::fill(share.begin(), share.end(), 0.0f);
      for_each_window_position(
          g, row, [&](size_t, std::ptrdiff_t input_offset) {
            for (size_t c = 0; c < channels; ++c) {
              float value = input_offset < 0
                  ? -std::numeric_limits<float>::infinity()
                  : x[input_offset + c];
              share[c] += value == max[c] ? 1.0f : 0.0f;
            }
          });
      for (size_t c = 0; c < channels; ++c) {
        share[c] = grad[c] / share[c];
      }
      for_each_window_position(
          g, row, [&](size_t, std::ptrdiff_t input_offset) {
            if (input_offset < 0) {
              return;
            }
            const float* in = x + input_offset;
            float* target = dx + input_offset;
            for (size_t c = 0; c < channels; ++c) {
              target[c] += share[c] * (in[c] == max[c] ? 1.0f : 0.0f);
            }
          });
    }
  });
}

// dx for average pooling: every window adds cotangent / prod(kernel_size)
// to each of its input positions.
void mean_pool_grad_kernel(
    const float* cotangent,
    float* dx,
    const WindowGeometry& g) {
  size_t channels = g.channels;
  size_t positions = g.output_positions();
  size_t image_size = g.input_positions() * channels;
  size_t grain = std::max<size_t>(1, kMinRowsPerThread / positions);
  const float scale = static_cast<float>(1.0 / g.kernel_positions());
  parallel_for(g.batch, grain, [&](size_t first, size_t last) {
    std::memset(dx + first * image_size, 0,
                (last - first) * image_size * sizeof(float));
    for (size_t row = first * positions; row < last * positions; ++row) {
      const float* grad = cotangent + row * channels;
      for_each_window_position(
          g, row, [&](size_t, std::ptrdiff_t input_offset) {
            if (input_offset < 0) {
              return;
            }
            float* target = dx + input_offset;
            for (size_t c = 0; c < channels; ++c) {
              target[c] += grad[c] * scale;
            }
          });
    }
  });
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
