// Constructors of the convolution layers, and the functional convolutions.
#include "rmlx_module.h"
#include "rmlx_sizes.h"

#include <vector>

#include "rmlx/nn/convolution.h"

namespace mx = mlx::core;
namespace nn = rmlx::nn;

[[cpp11::register]]
SEXP nn_conv_(
    int dims,
    bool transpose,
    int in_channels,
    int out_channels,
    cpp11::integers kernel_size,
    cpp11::integers stride,
    cpp11::integers padding,
    cpp11::integers dilation,
    cpp11::integers output_padding,
    int groups,
    bool bias) {
  nn::ModulePtr m;
  if (!transpose && dims == 1) {
    m = std::make_shared<nn::Conv1d>(
        in_channels, out_channels, kernel_size[0], stride[0], padding[0],
        dilation[0], groups, bias);
  } else if (!transpose && dims == 2) {
    m = std::make_shared<nn::Conv2d>(
        in_channels, out_channels, rmlx_size_of(kernel_size), rmlx_size_of(stride),
        rmlx_size_of(padding), rmlx_size_of(dilation), groups, bias);
  } else if (!transpose && dims == 3) {
    m = std::make_shared<nn::Conv3d>(
        in_channels, out_channels, rmlx_size_of(kernel_size), rmlx_size_of(stride),
        rmlx_size_of(padding), rmlx_size_of(dilation), bias);
  } else if (dims == 1) {
    m = std::make_shared<nn::ConvTranspose1d>(
        in_channels, out_channels, kernel_size[0], stride[0], padding[0],
        dilation[0], output_padding[0], bias);
  } else if (dims == 2) {
    m = std::make_shared<nn::ConvTranspose2d>(
        in_channels, out_channels, rmlx_size_of(kernel_size), rmlx_size_of(stride),
        rmlx_size_of(padding), rmlx_size_of(dilation), rmlx_size_of(output_padding), bias);
  } else {
    m = std::make_shared<nn::ConvTranspose3d>(
        in_channels, out_channels, rmlx_size_of(kernel_size), rmlx_size_of(stride),
        rmlx_size_of(padding), rmlx_size_of(dilation), rmlx_size_of(output_padding), bias);
  }
  return rmlx_wrap_module(m);
}

// Applies rmlx::nn::conv() or conv_transpose() and adds the bias unless it
// is R NULL. R expands every size to one value per spatial dimension.
[[cpp11::register]]
SEXP nn_fn_conv_(
    bool transpose,
    SEXP x,
    SEXP weight,
    SEXP bias,
    cpp11::integers stride,
    cpp11::integers padding,
    cpp11::integers dilation,
    cpp11::integers output_padding,
    int groups) {
  const char* fn = transpose ? "mlx_fn_conv_transpose" : "mlx_fn_conv";
  const auto& input = rmlx_unwrap_array(x, fn, "x");
  const auto& kernel = rmlx_unwrap_array(weight, fn, "weight");
  std::vector<int> strides(stride.begin(), stride.end());
  std::vector<int> paddings(padding.begin(), padding.end());
  std::vector<int> dilations(dilation.begin(), dilation.end());
  mx::array y = transpose
      ? nn::conv_transpose(
            input,
            kernel,
            strides,
            paddings,
            dilations,
            std::vector<int>(output_padding.begin(), output_padding.end()),
            groups)
      : nn::conv(input, kernel, strides, paddings, dilations, groups);
  if (bias != R_NilValue) {
    y = mx::add(y, rmlx_unwrap_array(bias, fn, "bias"));
  }
  return rmlx_wrap_array(y);
}
