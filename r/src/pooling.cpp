// Constructors of the pooling, upsampling and channel dropout layers.
#include "rmlx_module.h"

#include "rmlx/nn/dropout_channels.h"
#include "rmlx/nn/pooling.h"
#include "rmlx/nn/upsample.h"

namespace nn = rmlx::nn;

namespace {

// A size from R: one value stays an int, several become a tuple, and an
// empty vector means "the kernel size" (for the stride).
nn::PoolSize pool_size_of(cpp11::integers x) {
  if (x.size() == 0) {
    return nn::PoolSize();
  }
  if (x.size() == 1) {
    return nn::PoolSize(static_cast<int>(x[0]));
  }
  return nn::PoolSize(std::vector<int>(x.begin(), x.end()));
}

template <typename Max, typename Avg>
nn::ModulePtr make_pool(
    bool max,
    const nn::PoolSize& kernel,
    const nn::PoolSize& stride,
    const nn::PoolSize& padding) {
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
  auto kernel = pool_size_of(kernel_size);
  auto step = pool_size_of(stride);
  auto pad = pool_size_of(padding);
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
