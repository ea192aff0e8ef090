#include "rmlx/nn/convolution.h"

#include <algorithm>
#include <sstream>
#include <stdexcept>
#include <tuple>
#include <utility>

#include "convolution_utils.h"
#include "layer_utils.h"
#include "rmlx/nn/custom_kernels.h"
#include "rmlx/nn/unfold.h"
#include "window_geometry.h"
#include "winograd.h"

namespace rmlx::nn {

namespace detail {

std::string size_string(const std::vector<int>& values) {
  return values.size() == 1 ? std::to_string(values[0]) : tuple_string(values);
}

[[noreturn]] void throw_invalid(
    const std::string& caller,
    const std::string& text) {
  throw std::invalid_argument("[" + caller + "] " + text);
}

void check_minimum(
    const std::string& caller,
    const std::string& argument,
    const std::vector<int>& values,
    int minimum) {
  for (int value : values) {
    if (value < minimum) {
      std::ostringstream msg;
      msg << "Expected " << argument << " with "
          << (minimum > 0 ? "positive" : "non-negative")
          << " values but received " << argument << "="
          << size_string(values) << ".";
      throw_invalid(caller, msg.str());
    }
  }
}

/**
 * Checks output_padding against stride and dilation. MLX 0.32.4 accepts any
 * non-negative output_padding, but this follows PyTorch's rule that each
 * value be smaller than the stride or the dilation. output_padding only
 * chooses among the sizes that the matching convolution maps to the same
 * output size, and a larger value gives a size that no such convolution has.
 */
void check_output_padding(
    const std::string& caller,
    const std::vector<int>& output_padding,
    const std::vector<int>& stride,
    const std::vector<int>& dilation) {
  check_minimum(caller, "output_padding", output_padding, 0);
  for (size_t i = 0; i < output_padding.size(); ++i) {
    if (output_padding[i] >= stride[i] && output_padding[i] >= dilation[i]) {
      std::ostringstream msg;
      msg << "Expected each output_padding value to be smaller than the "
          << "stride or the dilation of its dimension but received "
          << "output_padding=" << size_string(output_padding)
          << ", stride=" << size_string(stride)
          << " and dilation=" << size_string(dilation) << ".";
      throw_invalid(caller, msg.str());
    }
  }
}

} // namespace detail

namespace {

// True when Rmlx's kernels are enabled, the default device is the CPU, and
// x and weight are non-empty float32 arrays of rank dims + 2 for 1 to 3
// spatial dimensions: what both convolution kernel paths need.
bool kernel_inputs_apply(
    const mx::array& x,
    const mx::array& weight,
    size_t dims) {
  return custom_kernels_enabled() &&
      mx::default_device() == mx::Device::cpu && x.dtype() == mx::float32 &&
      weight.dtype() == mx::float32 && dims >= 1 && dims <= 3 &&
      x.ndim() == dims + 2 && weight.ndim() == dims + 2 && x.size() > 0 &&
      weight.size() > 0;
}

// True when conv() can take the unfold and matrix product path: the inputs
// of kernel_inputs_apply(), consistent sizes and groups, and at least one
// output position per axis.
bool unfold_path_applies(
    const mx::array& x,
    const mx::array& weight,
    const std::vector<int>& stride,
    const std::vector<int>& padding,
    const std::vector<int>& dilation,
    int groups) {
  size_t dims = stride.size();
  if (!kernel_inputs_apply(x, weight, dims) || groups < 1 ||
      padding.size() != dims || dilation.size() != dims ||
      x.shape(-1) != weight.shape(-1) * groups ||
      weight.shape(0) % groups != 0) {
    return false;
  }
  // With few output channels per group the batched products are too thin:
  // for a depthwise 3x3 convolution (N=32, 32x32, 64 groups of 1) MLX's
  // direct kernel took 100 ms forward and this path 290 ms, while with 4
  // groups of 16 this path took 160 ms and MLX 1000 ms (2-core AMD EPYC).
  if (groups > 1 && weight.shape(0) / groups < 8) {
    return false;
  }
  for (size_t i = 0; i < dims; ++i) {
    if (stride[i] < 1 || dilation[i] < 1 || padding[i] < 0 ||
        detail::window_count(
            x.shape(i + 1),
            weight.shape(i + 1),
            stride[i],
            padding[i],
            dilation[i]) < 1) {
      return false;
    }
  }
  return true;
}

// MLX's convolution of the matching rank, whose checks and messages are
// more specific than mx::conv_general's.
mx::array mlx_conv(
    const mx::array& x,
    const mx::array& weight,
    const std::vector<int>& stride,
    const std::vector<int>& padding,
    const std::vector<int>& dilation,
    int groups) {
  size_t dims = stride.size();
  if (padding.size() == dims && dilation.size() == dims) {
    if (dims == 1) {
      return mx::conv1d(x, weight, stride[0], padding[0], dilation[0], groups);
    }
    if (dims == 2) {
      return mx::conv2d(
          x,
          weight,
          {stride[0], stride[1]},
          {padding[0], padding[1]},
          {dilation[0], dilation[1]},
          groups);
    }
    if (dims == 3) {
      return mx::conv3d(
          x,
          weight,
          {stride[0], stride[1], stride[2]},
          {padding[0], padding[1], padding[2]},
          {dilation[0], dilation[1], dilation[2]},
          groups);
    }
  }
  return mx::conv_general(
      x, weight, stride, padding, padding, dilation, std::vector<int>{}, groups);
}

std::pair<int, int> pair_of(const std::vector<int>& v) {
  return {v[0], v[1]};
}

std::tuple<int, int, int> triple_of(const std::vector<int>& v) {
  return {v[0], v[1], v[2]};
}

bool has_output_padding(const std::vector<int>& output_padding) {
  for (int value : output_padding) {
    if (value != 0) {
      return true;
    }
  }
  return false;
}

// MLX's transposed convolution of rank stride.size(), without
// output_padding. MLX 0.32.4 supports groups > 1 only for 1 and 2 spatial
// dimensions and raises for 3.
mx::array mlx_conv_transpose(
    const mx::array& x,
    const mx::array& weight,
    const std::vector<int>& stride,
    const std::vector<int>& padding,
    const std::vector<int>& dilation,
    int groups) {
  if (stride.size() == 1) {
    return mx::conv_transpose1d(
        x, weight, stride[0], padding[0], dilation[0], 0, groups);
  }
  if (stride.size() == 2) {
    return mx::conv_transpose2d(
        x,
        weight,
        pair_of(stride),
        pair_of(padding),
        pair_of(dilation),
        {0, 0},
        groups);
  }
  return mx::conv_transpose3d(
      x,
      weight,
      triple_of(stride),
      triple_of(padding),
      triple_of(dilation),
      {0, 0, 0},
      groups);
}

// Checks the size arguments and groups of a transposed convolution.
void check_transpose_arguments(
    const std::string& caller,
    const std::vector<int>& stride,
    const std::vector<int>& padding,
    const std::vector<int>& dilation,
    const std::vector<int>& output_padding,
    int groups) {
  size_t dims = stride.size();
  if (dims < 1 || dims > 3 || padding.size() != dims ||
      dilation.size() != dims || output_padding.size() != dims) {
    std::ostringstream msg;
    msg << "Expected stride, padding, dilation and output_padding with one "
        << "value per spatial dimension (1, 2 or 3) but received stride="
        << detail::tuple_string(stride)
        << ", padding=" << detail::tuple_string(padding)
        << ", dilation=" << detail::tuple_string(dilation)
        << " and output_padding=" << detail::tuple_string(output_padding)
        << ".";
    detail::throw_invalid(caller, msg.str());
  }
  detail::check_minimum(caller, "stride", stride, 1);
  detail::check_minimum(caller, "padding", padding, 0);
  detail::check_minimum(caller, "dilation", dilation, 1);
  detail::check_output_padding(caller, output_padding, stride, dilation);
  if (groups < 1) {
    detail::throw_invalid(
        caller,
        "Expected positive groups but received groups=" +
            std::to_string(groups) + ".");
  }
}

/**
 * Turns the output of a transposed convolution with padding 0 and
 * output_padding 0 into the output for the given padding and
 * output_padding: it drops `padding` positions at the start of each spatial
 * axis and keeps the following L_full - 2 * padding + output_padding
 * positions, with zeros for those beyond L_full, which no input reaches.
 *
 * NOTE: conv_transpose() takes this path whenever output_padding is
 * non-zero, because in MLX 0.32.4 mx::conv_transpose1d/2d/3d with non-zero
 * output_padding return an input gradient of the wrong shape: (1, 3, 2)
 * for input (1, 4, 2) with stride 2 and output_padding 1. The forward
 * values here equal MLX's.
 */
mx::array crop_transposed(
    const std::string& caller,
    const mx::array& full,
    const std::vector<int>& padding,
    const std::vector<int>& output_padding) {
  int spatial_dims = static_cast<int>(padding.size());
  std::vector<std::pair<int, int>> pad_width(spatial_dims + 2, {0, 0});
  mx::Shape start(spatial_dims + 2, 0);
  mx::Shape stop = full.shape();
  bool needs_zeros = false;
  for (int i = 0; i < spatial_dims; ++i) {
    int length = full.shape(i + 1) - 2 * padding[i] + output_padding[i];
    if (length <= 0) {
      std::ostringstream msg;
      msg << "Expected padding=" << detail::size_string(padding)
          << " to leave at least one output position, but the output "
          << "without padding has shape " << detail::shape_string(full.shape())
          << ". Reduce the padding or enlarge the input.";
      detail::throw_invalid(caller, msg.str());
    }
    int zeros = std::max(0, output_padding[i] - padding[i]);
    needs_zeros = needs_zeros || zeros > 0;
    pad_width[i + 1] = {0, zeros};
    start[i + 1] = padding[i];
    stop[i + 1] = padding[i] + length;
  }
  mx::array padded = needs_zeros ? mx::pad(full, pad_width) : full;
  return mx::slice(padded, start, stop);
}

// The spatial output shape of a transposed convolution, (I - 1) * stride -
// 2 * padding + dilation * (K - 1) + output_padding + 1 per axis, or an
// empty vector when an axis would have no position.
std::vector<int> transposed_output_shape(
    const mx::array& x,
    const mx::array& weight,
    const std::vector<int>& stride,
    const std::vector<int>& padding,
    const std::vector<int>& dilation,
    const std::vector<int>& output_padding) {
  std::vector<int> shape;
  for (size_t i = 0; i < stride.size(); ++i) {
    int length = (x.shape(i + 1) - 1) * stride[i] - 2 * padding[i] +
        dilation[i] * (weight.shape(i + 1) - 1) + output_padding[i] + 1;
    if (length < 1) {
      return {};
    }
    shape.push_back(length);
  }
  return shape;
}

// The transposed convolution as one matrix product and a fold: input
// position i spreads x[i] @ W over the outputs i * stride - padding + k *
// dilation, which is where fold() adds window position i. The caller has
// checked the arguments; x and weight are float32 on the CPU, groups is 1
// and output_shape comes from transposed_output_shape().
mx::array fold_conv_transpose(
    const mx::array& x,
    const mx::array& weight,
    const std::vector<int>& stride,
    const std::vector<int>& padding,
    const std::vector<int>& dilation,
    const std::vector<int>& output_shape) {
  int dims = static_cast<int>(stride.size());
  int out_channels = weight.shape(0);
  int in_channels = weight.shape(-1);
  std::vector<int> kernel_size(
      weight.shape().begin() + 1, weight.shape().end() - 1);

  // (C_out, K..., C_in) to (C_in, K... * C_out), a window's worth of
  // outputs per input channel.
  std::vector<int> axes = {dims + 1};
  for (int i = 1; i <= dims; ++i) {
    axes.push_back(i);
  }
  axes.push_back(0);
  mx::array spread =
      mx::reshape(mx::transpose(weight, axes), {in_channels, -1});
  mx::array product =
      mx::matmul(mx::reshape(x, {-1, in_channels}), spread);

  mx::Shape window_shape(x.shape().begin(), x.shape().end() - 1);
  window_shape.insert(
      window_shape.end(), kernel_size.begin(), kernel_size.end());
  window_shape.push_back(out_channels);
  return fold(
      mx::reshape(product, window_shape),
      output_shape,
      kernel_size,
      stride,
      padding,
      dilation);
}

// True when conv_transpose() can take fold_conv_transpose(): the inputs of
// kernel_inputs_apply(), one group and matching input channels.
bool fold_path_applies(
    const mx::array& x,
    const mx::array& weight,
    size_t dims,
    int groups) {
  return kernel_inputs_apply(x, weight, dims) && groups == 1 &&
      x.shape(-1) == weight.shape(-1);
}

} // namespace

namespace detail {

mx::array conv_transpose(
    const std::string& caller,
    const mx::array& x,
    const mx::array& weight,
    const std::vector<int>& stride,
    const std::vector<int>& padding,
    const std::vector<int>& dilation,
    const std::vector<int>& output_padding,
    int groups) {
  check_transpose_arguments(
      caller, stride, padding, dilation, output_padding, groups);

  if (fold_path_applies(x, weight, stride.size(), groups)) {
    std::vector<int> output_shape = transposed_output_shape(
        x, weight, stride, padding, dilation, output_padding);
    if (!output_shape.empty()) {
      return fold_conv_transpose(
          x, weight, stride, padding, dilation, output_shape);
    }
  }
  if (has_output_padding(output_padding)) {
    std::vector<int> no_padding(stride.size(), 0);
    mx::array full =
        mlx_conv_transpose(x, weight, stride, no_padding, dilation, groups);
    return crop_transposed(caller, full, padding, output_padding);
  }
  return mlx_conv_transpose(x, weight, stride, padding, dilation, groups);
}

} // namespace detail

mx::array conv(
    const mx::array& x,
    const mx::array& weight,
    const std::vector<int>& stride,
    const std::vector<int>& padding,
    const std::vector<int>& dilation,
    int groups) {
  size_t dims = stride.size();
  if (!unfold_path_applies(x, weight, stride, padding, dilation, groups)) {
    return mlx_conv(x, weight, stride, padding, dilation, groups);
  }
  if (detail::winograd_applies(weight, stride, dilation, groups)) {
    return detail::winograd_conv2d(x, weight, padding);
  }
  std::vector<int> kernel_size(
      weight.shape().begin() + 1, weight.shape().end() - 1);
  mx::array windows = unfold(x, kernel_size, stride, padding, dilation);

  int out_channels = weight.shape(0);
  mx::Shape out_shape(
      windows.shape().begin(), windows.shape().begin() + 1 + dims);
  out_shape.push_back(out_channels);
  if (groups == 1) {
    // (N * O..., K... * C_in) @ (K... * C_in, C_out), reshaped to (N, O...,
    // C_out). The weight's rows are laid out (K..., C_in) like a window.
    int window_size = static_cast<int>(weight.size() / out_channels);
    mx::array product = mx::matmul(
        mx::reshape(windows, {-1, window_size}),
        mx::transpose(mx::reshape(weight, {out_channels, window_size})));
    return mx::reshape(product, out_shape);
  }

  // One product per group g: the windows' channels [g * C_g, (g + 1) * C_g)
  // against output channels [g * O_g, (g + 1) * O_g), batched over groups.
  int group_channels = weight.shape(-1);
  int group_outputs = out_channels / groups;
  int taps = static_cast<int>(weight.size() / (out_channels * group_channels));
  mx::array grouped = mx::reshape(
      mx::transpose(
          mx::reshape(windows, {-1, taps, groups, group_channels}),
          {2, 0, 1, 3}),
      {groups, -1, taps * group_channels});
  mx::array group_weights = mx::transpose(
      mx::reshape(weight, {groups, group_outputs, taps * group_channels}),
      {0, 2, 1});
  mx::array product = mx::matmul(grouped, group_weights);
  return mx::reshape(mx::transpose(product, {1, 0, 2}), out_shape);
}

mx::array conv_transpose(
    const mx::array& x,
    const mx::array& weight,
    const std::vector<int>& stride,
    const std::vector<int>& padding,
    const std::vector<int>& dilation,
    const std::vector<int>& output_padding,
    int groups) {
  return detail::conv_transpose(
      "conv_transpose",
      x,
      weight,
      stride,
      padding,
      dilation,
      output_padding,
      groups);
}

} // namespace rmlx::nn
