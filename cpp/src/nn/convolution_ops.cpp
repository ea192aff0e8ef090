#include "rmlx/nn/convolution.h"
#include "rmlx/nn/custom_kernels.h"
#include "rmlx/nn/unfold.h"

namespace rmlx::nn {

namespace {

// True when conv() can take the unfold and matrix product path: a CPU
// stream, float32, one group and a well-formed input that leaves at least
// one output position per axis.
bool unfold_path_applies(
    const mx::array& x,
    const mx::array& weight,
    const std::vector<int>& stride,
    const std::vector<int>& padding,
    const std::vector<int>& dilation,
    int groups) {
  size_t dims = stride.size();
  if (!custom_kernels_enabled() || mx::default_device() != mx::Device::cpu ||
      groups != 1 ||
      x.dtype() != mx::float32 || weight.dtype() != mx::float32 ||
      dims < 1 || dims > 3 || x.ndim() != dims + 2 ||
      weight.ndim() != dims + 2 || padding.size() != dims ||
      dilation.size() != dims || x.shape(-1) != weight.shape(-1) ||
      x.size() == 0 || weight.size() == 0) {
    return false;
  }
  for (size_t i = 0; i < dims; ++i) {
    if (stride[i] < 1 || dilation[i] < 1 || padding[i] < 0 ||
        (x.shape(i + 1) + 2 * padding[i] - dilation[i] * (weight.shape(i + 1) - 1) - 1) < 0) {
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

} // namespace

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
  std::vector<int> kernel_size(
      weight.shape().begin() + 1, weight.shape().end() - 1);
  mx::array windows = unfold(x, kernel_size, stride, padding, dilation);

  // (N * O..., K... * C_in) @ (K... * C_in, C_out), reshaped to (N, O...,
  // C_out). The weight's rows are laid out (K..., C_in) like a window.
  int out_channels = weight.shape(0);
  int window_size = static_cast<int>(weight.size() / out_channels);
  mx::Shape out_shape(windows.shape().begin(), windows.shape().begin() + 1 + dims);
  mx::array product = mx::matmul(
      mx::reshape(windows, {-1, window_size}),
      mx::transpose(mx::reshape(weight, {out_channels, window_size})));
  out_shape.push_back(out_channels);
  return mx::reshape(product, out_shape);
}

} // namespace rmlx::nn
