// Constructors of the pooling, upsampling and channel dropout layers, and
// their functional forms.
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

// Makes the pooling layer over `dims` spatial dimensions.
nn::ModulePtr make_pool_layer(
    int dims,
    bool max,
    cpp11::integers kernel_size,
    cpp11::integers stride,
    cpp11::integers padding) {
  auto kernel = rmlx_size_of(kernel_size);
  auto step = rmlx_size_of(stride);
  auto pad = rmlx_size_of(padding);
  if (dims == 1) {
    return make_pool<nn::MaxPool1d, nn::AvgPool1d>(max, kernel, step, pad);
  }
  if (dims == 2) {
    return make_pool<nn::MaxPool2d, nn::AvgPool2d>(max, kernel, step, pad);
  }
  return make_pool<nn::MaxPool3d, nn::AvgPool3d>(max, kernel, step, pad);
}

nn::ModulePtr make_upsample(
    cpp11::doubles scale_factor,
    const std::string& mode,
    bool align_corners,
    bool antialias) {
  if (scale_factor.size() == 1) {
    return std::make_shared<nn::Upsample>(
        scale_factor[0], mode, align_corners, antialias);
  }
  return std::make_shared<nn::Upsample>(
      std::vector<double>(scale_factor.begin(), scale_factor.end()),
      mode,
      align_corners,
      antialias);
}

nn::ModulePtr make_channel_dropout(int dims, double p) {
  if (dims == 2) {
    return std::make_shared<nn::Dropout2d>(p);
  }
  return std::make_shared<nn::Dropout3d>(p);
}

} // namespace

[[cpp11::register]]
SEXP nn_pool_(
    int dims,
    bool max,
    cpp11::integers kernel_size,
    cpp11::integers stride,
    cpp11::integers padding) {
  return rmlx_wrap_module(
      make_pool_layer(dims, max, kernel_size, stride, padding));
}

[[cpp11::register]]
SEXP nn_upsample_(
    cpp11::doubles scale_factor,
    std::string mode,
    bool align_corners,
    bool antialias) {
  return rmlx_wrap_module(
      make_upsample(scale_factor, mode, align_corners, antialias));
}

[[cpp11::register]]
SEXP nn_channel_dropout_(int dims, double p) {
  return rmlx_wrap_module(make_channel_dropout(dims, p));
}

// The functional forms build the layer, run its forward pass once and drop
// it, so their checks and errors are the layer's.

[[cpp11::register]]
SEXP nn_fn_pool_(
    SEXP x,
    int dims,
    bool max,
    cpp11::integers kernel_size,
    cpp11::integers stride,
    cpp11::integers padding) {
  const auto& input = rmlx_unwrap_array(x, "mlx_fn_pool", "x");
  auto layer = make_pool_layer(dims, max, kernel_size, stride, padding);
  return rmlx_wrap_array((*layer)(input));
}

[[cpp11::register]]
SEXP nn_fn_upsample_(
    SEXP x,
    cpp11::doubles scale_factor,
    std::string mode,
    bool align_corners,
    bool antialias) {
  const auto& input = rmlx_unwrap_array(x, "mlx_fn_upsample", "x");
  auto layer = make_upsample(scale_factor, mode, align_corners, antialias);
  return rmlx_wrap_array((*layer)(input));
}

[[cpp11::register]]
SEXP nn_fn_channel_dropout_(SEXP x, int dims, double p, bool training) {
  const auto& input = rmlx_unwrap_array(x, "mlx_fn_dropout", "x");
  auto layer = make_channel_dropout(dims, p);
  layer->train(training);
  return rmlx_wrap_array((*layer)(input));
}
