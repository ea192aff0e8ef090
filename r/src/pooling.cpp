// Constructors of the pooling, upsampling and channel dropout layers.
#include "rmlx_module.h"
#include "rmlx_sizes.h"

#include "rmlx/nn/dropout_channels.h"
#include "rmlx/nn/pooling.h"
#include "rmlx/nn/upsample.h"

namespace nn = rmlx::nn;

namespace {

template <typename Max, typename Avg>
nn::ModulePtr make_pool(
    bool max,
    const nn::IntOrTuple& kernel,
    const nn::IntOrTuple& stride,
    const nn::IntOrTuple& padding) {
  if (max) {
    return std::make_shared<Max>(kernel, stride, padding);
  }
  return std::make_shared<Avg>(kernel, stride, padding);
}

} // namespace

[[cpp11::register]]
SEXP nn_pool_(
    int dims,
    bool max,
    cpp11::integers kernel_size,
    cpp11::integers stride,
    cpp11::integers padding) {
  auto kernel = rmlx_size_of(kernel_size);
  auto step = rmlx_size_of(stride);
  auto pad = rmlx_size_of(padding);
  nn::ModulePtr m;
  if (dims == 1) {
    m = make_pool<nn::MaxPool1d, nn::AvgPool1d>(max, kernel, step, pad);
  } else if (dims == 2) {
    m = make_pool<nn::MaxPool2d, nn::AvgPool2d>(max, kernel, step, pad);
  } else {
    m = make_pool<nn::MaxPool3d, nn::AvgPool3d>(max, kernel, step, pad);
  }
  return rmlx_wrap_module(m);
}

[[cpp11::register]]
SEXP nn_upsample_(
    cpp11::doubles scale_factor,
    std::string mode,
    bool align_corners,
    bool antialias) {
  if (scale_factor.size() == 1) {
    return rmlx_wrap_module(std::make_shared<nn::Upsample>(
        scale_factor[0], mode, align_corners, antialias));
  }
  return rmlx_wrap_module(std::make_shared<nn::Upsample>(
      std::vector<double>(scale_factor.begin(), scale_factor.end()),
      mode,
      align_corners,
      antialias));
}

[[cpp11::register]]
SEXP nn_channel_dropout_(int dims, double p) {
  if (dims == 2) {
    return rmlx_wrap_module(std::make_shared<nn::Dropout2d>(p));
  }
  return rmlx_wrap_module(std::make_shared<nn::Dropout3d>(p));
}
