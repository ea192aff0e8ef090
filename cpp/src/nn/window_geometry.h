// The geometry of a sliding window over the spatial axes of a channels-last
// array, shared by the unfold, fold and pooling kernels.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <functional>
#include <vector>

#include <mlx/mlx.h>

namespace rmlx::nn::detail {

namespace mx = mlx::core;

/**
 * Sizes of a window sliding over (N, D, H, W, C). One- and two-dimensional
 * problems put their sizes in the last entries and leave size 1, stride 1,
 * padding 0 and dilation 1 in the others, so every kernel loops over three
 * spatial axes. `input` is the unpadded spatial size and `output` the number
 * of window positions along each axis.
 */
struct WindowGeometry {
  size_t batch = 1;
  size_t channels = 1;
  std::array<int, 3> input = {1, 1, 1};
  std::array<int, 3> output = {1, 1, 1};
  std::array<int, 3> kernel = {1, 1, 1};
  std::array<int, 3> stride = {1, 1, 1};
  std::array<int, 3> padding = {0, 0, 0};
  std::array<int, 3> dilation = {1, 1, 1};

  size_t input_positions() const {
    return size_t(input[0]) * input[1] * input[2];
  }
  size_t output_positions() const {
    return size_t(output[0]) * output[1] * output[2];
  }
  size_t kernel_positions() const {
    return size_t(kernel[0]) * kernel[1] * kernel[2];
  }
};

/**
 * Returns the number of window positions along one axis, floor((input + 2
 * padding - dilation (kernel - 1) - 1) / stride) + 1, which is zero or
 * negative when the window is larger than the padded axis.
 */
inline int window_count(
    int input,
    int kernel,
    int stride,
    int padding,
    int dilation) {
  int span = input + 2 * padding - dilation * (kernel - 1) - 1;
  return span < 0 ? 0 : span / stride + 1;
}

/**
 * Builds the geometry of (N, spatial..., C) `shape` with `output` window
 * positions per spatial axis. Every vector has one entry per spatial axis.
 */
WindowGeometry make_geometry(
    const mx::Shape& shape,
    const std::vector<int>& output,
    const std::vector<int>& kernel,
    const std::vector<int>& stride,
    const std::vector<int>& padding,
    const std::vector<int>& dilation);

/**
 * Calls body(first, last) on disjoint ranges covering [0, count), on up to
 * parallel::kernel_threads() threads, with at least `min_grain` items per
 * range. It runs inline when one thread suffices.
 */
void parallel_for(
    size_t count,
    size_t min_grain,
    const std::function<void(size_t, size_t)>& body);

/**
 * An output row: its index in (N * O_0 * O_1 * O_2) and its coordinates,
 * image n and window position (o0, o1, o2).
 */
struct WindowIndex {
  size_t row = 0;
  std::ptrdiff_t n = 0;
  int o0 = 0;
  int o1 = 0;
  int o2 = 0;
};

// Calls body(at) for the output rows [first, last) in order, advancing the
// coordinates by counting rather than dividing for every row.
template <typename Body>
inline void for_each_row(
    const WindowGeometry& g,
    size_t first,
    size_t last,
    Body&& body) {
  if (first >= last) {
    return;
  }
  size_t positions = g.output_positions();
  size_t rest = first % positions;
  WindowIndex at;
  at.row = first;
  at.n = static_cast<std::ptrdiff_t>(first / positions);
  at.o2 = static_cast<int>(rest % g.output[2]);
  rest /= g.output[2];
  at.o1 = static_cast<int>(rest % g.output[1]);
  at.o0 = static_cast<int>(rest / g.output[1]);
  for (; at.row < last; ++at.row) {
    body(static_cast<const WindowIndex&>(at));
    if (++at.o2 < g.output[2]) {
      continue;
    }
    at.o2 = 0;
    if (++at.o1 < g.output[1]) {
      continue;
    }
    at.o1 = 0;
    if (++at.o0 < g.output[0]) {
      continue;
    }
    at.o0 = 0;
    ++at.n;
  }
}

// Calls visit(kernel_offset, input_offset) for each window position of
// output row `at`, with input_offset = -1 where the position falls into
// the padding. Offsets count elements of the channels-last layout.
template <typename Visit>
inline void for_each_window_position(
    const WindowGeometry& g,
    const WindowIndex& at,
    Visit&& visit) {
  const int o0 = at.o0;
  const int o1 = at.o1;
  const int o2 = at.o2;
  const std::ptrdiff_t image = at.n * g.input[0];
  size_t k = 0;
  for (int k0 = 0; k0 < g.kernel[0]; ++k0) {
    int i0 = o0 * g.stride[0] - g.padding[0] + k0 * g.dilation[0];
    bool valid0 = i0 >= 0 && i0 < g.input[0];
    for (int k1 = 0; k1 < g.kernel[1]; ++k1) {
      int i1 = o1 * g.stride[1] - g.padding[1] + k1 * g.dilation[1];
      bool valid1 = valid0 && i1 >= 0 && i1 < g.input[1];
      for (int k2 = 0; k2 < g.kernel[2]; ++k2, ++k) {
        int i2 = o2 * g.stride[2] - g.padding[2] + k2 * g.dilation[2];
        bool valid = valid1 && i2 >= 0 && i2 < g.input[2];
        std::ptrdiff_t input_offset = valid
            ? static_cast<std::ptrdiff_t>(
                  (((image + i0) * g.input[1] + i1) * g.input[2] + i2) *
                  g.channels)
            : -1;
        visit(k * g.channels, input_offset);
      }
    }
  }
}

// Calls visit(kernel_offset, input_offset, length) for the runs of window
// positions of output row `at` that are adjacent both in the window and in
// the input: along the last spatial axis when its dilation is 1, else one
// position per run. input_offset is -1 for a run in the padding. Offsets
// count elements and length counts positions of `channels` elements.
template <typename Visit>
inline void for_each_window_run(
    const WindowGeometry& g,
    const WindowIndex& at,
    Visit&& visit) {
  if (g.dilation[2] != 1) {
    for_each_window_position(
        g, at, [&](size_t kernel_offset, std::ptrdiff_t input_offset) {
          visit(kernel_offset, input_offset, 1);
        });
    return;
  }
  const int o0 = at.o0;
  const int o1 = at.o1;
  const int o2 = at.o2;
  const std::ptrdiff_t image = at.n * g.input[0];
  // Window positions [first, last) along the last axis fall inside the input.
  int start = o2 * g.stride[2] - g.padding[2];
  int first = std::min(g.kernel[2], std::max(0, -start));
  int last = std::max(first, std::min(g.kernel[2], g.input[2] - start));
  size_t row_length = static_cast<size_t>(g.kernel[2]) * g.channels;
  size_t kernel_offset = 0;
  for (int k0 = 0; k0 < g.kernel[0]; ++k0) {
    int i0 = o0 * g.stride[0] - g.padding[0] + k0 * g.dilation[0];
    bool valid0 = i0 >= 0 && i0 < g.input[0];
    for (int k1 = 0; k1 < g.kernel[1]; ++k1, kernel_offset += row_length) {
      int i1 = o1 * g.stride[1] - g.padding[1] + k1 * g.dilation[1];
      if (!valid0 || i1 < 0 || i1 >= g.input[1]) {
        visit(kernel_offset, std::ptrdiff_t(-1), size_t(g.kernel[2]));
        continue;
      }
      if (first > 0) {
        visit(kernel_offset, std::ptrdiff_t(-1), size_t(first));
      }
      if (last > first) {
        std::ptrdiff_t input_offset =
            (((image + i0) * g.input[1] + i1) * g.input[2] + start + first) *
            static_cast<std::ptrdiff_t>(g.channels);
        visit(kernel_offset + first * g.channels, input_offset,
              size_t(last - first));
      }
      if (last < g.kernel[2]) {
        visit(kernel_offset + last * g.channels, std::ptrdiff_t(-1),
              size_t(g.kernel[2] - last));
      }
    }
  }
}

} // namespace rmlx::nn::detail
