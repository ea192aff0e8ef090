#include "rmlx/nn/convolution.h"

#include <cmath>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "convolution_utils.h"
#include "layer_utils.h"

namespace rmlx::nn {

namespace {

using detail::check_minimum;
using detail::check_output_padding;
using detail::size_string;
using detail::throw_invalid;

/**
 * Checks the channel counts and groups. MLX Python 0.32.4 checks only that
 * groups divides in_channels. It leaves the rest to the first forward call,
 * which fails inside mx::conv_general or returns an empty array.
 */
void check_channels(
    const std::string& layer,
    int in_channels,
    int out_channels,
    int groups) {
  if (in_channels <= 0 || out_channels <= 0) {
    std::ostringstream msg;
    msg << "Expected positive in_channels and out_channels but received "
        << "in_channels=" << in_channels
        << " and out_channels=" << out_channels << ".";
    throw_invalid(layer, msg.str());
  }
  if (groups <= 0) {
    throw_invalid(
        layer,
        "Expected positive groups but received groups=" +
            std::to_string(groups) + ".");
  }
  if (in_channels % groups != 0) {
    std::ostringstream msg;
    msg << "The number of input channels (" << in_channels
        << ") must be divisible by the number of groups (" << groups << ").";
    throw_invalid(layer, msg.str());
  }
  if (out_channels % groups != 0) {
    std::ostringstream msg;
    msg << "The number of output channels (" << out_channels
        << ") must be divisible by the number of groups (" << groups << ").";
    throw_invalid(layer, msg.str());
  }
}

/**
 * Checks the kernel, stride, padding and dilation sizes that every
 * convolution layer takes.
 */
void check_sizes(
    const std::string& layer,
    const std::vector<int>& kernel_size,
    const std::vector<int>& stride,
    const std::vector<int>& padding,
    const std::vector<int>& dilation) {
  check_minimum(layer, "kernel_size", kernel_size, 1);
  check_minimum(layer, "stride", stride, 1);
  check_minimum(layer, "padding", padding, 0);
  check_minimum(layer, "dilation", dilation, 1);
}

/**
 * Draws a weight of shape (out_channels, kernel..., in_channels / groups)
 * from U(-k, k) with k = sqrt(1 / (in_channels / groups * prod(kernel))), as
 * MLX Python 0.32.4 does. It computes k in double and passes the bounds as
 * float32 scalars.
 */
mx::array initial_weight(
    int in_channels,
    int out_channels,
    const std::vector<int>& kernel_size,
    int groups) {
  double fan_in = in_channels / groups;
  mx::Shape shape{out_channels};
  for (int k : kernel_size) {
    fan_in *= k;
    shape.push_back(k);
  }
  shape.push_back(in_channels / groups);
  float scale = static_cast<float>(std::sqrt(1.0 / fan_in));
  return mx::random::uniform(mx::array(-scale), mx::array(scale), shape);
}

/** Registers the weight and, when requested, a zero bias. */
void register_weights(
    Module& module,
    int in_channels,
    int out_channels,
    const std::vector<int>& kernel_size,
    int groups,
    bool bias) {
  module.register_parameter(
      "weight",
      initial_weight(in_channels, out_channels, kernel_size, groups));
  if (bias) {
    module.register_parameter("bias", mx::zeros({out_channels}));
  }
}

/**
 * Checks that x has the layer's channels-last rank and input channels, so
 * that a wrong layout fails with the layer's name instead of inside MLX.
 */
void check_input(
    const Module& module,
    const mx::array& x,
    const std::string& layout,
    int in_channels) {
  int spatial_dims = module.param("weight").ndim() - 2;
  bool rank_matches = static_cast<int>(x.ndim()) == spatial_dims + 2;
  if (!rank_matches || x.shape(-1) != in_channels) {
    std::ostringstream msg;
    msg << "Expected input of shape " << layout << " with C=" << in_channels
        << " but received shape " << detail::shape_string(x.shape()) << ".";
    throw_invalid(module.type_name(), msg.str());
  }
}

mx::array add_bias(const Module& module, const mx::array& y) {
  if (module.has("bias")) {
    return mx::add(y, module.param("bias"));
  }
  return y;
}

/**
 * Runs the forward pass of a ConvTranspose layer: checks x against the
 * channels-last layout, applies the transposed convolution and adds the
 * bias.
 */
mx::array transposed_forward(
    const Module& layer,
    const mx::array& x,
    const std::string& layout,
    const std::vector<int>& stride,
    const std::vector<int>& padding,
    const std::vector<int>& dilation,
    const std::vector<int>& output_padding) {
  const auto& weight = layer.param("weight");
  check_input(layer, x, layout, weight.shape(-1));
  mx::array y = detail::conv_transpose(
      layer.type_name(),
      x,
      weight,
      stride,
      padding,
      dilation,
      output_padding,
      1);
  return add_bias(layer, y);
}

/** Returns the kernel sizes: the weight's dimensions but the first and last. */
std::vector<int> kernel_of(const mx::array& weight) {
  return std::vector<int>(weight.shape().begin() + 1, weight.shape().end() - 1);
}

// Checks the arguments of ConvTranspose2d or ConvTranspose3d (already
// expanded to `dims` values) and creates the layer's parameters.
void init_transposed(
    Module& layer,
    int dims,
    int in_channels,
    int out_channels,
    const IntOrTuple& kernel_size,
    const std::vector<int>& stride,
    const std::vector<int>& padding,
    const IntOrTuple& dilation,
    const std::vector<int>& output_padding,
    bool bias) {
  const std::string name = layer.type_name();
  std::vector<int> kernel = kernel_size.expand(dims, name, "kernel_size");
  std::vector<int> dilations = dilation.expand(dims, name, "dilation");
  check_channels(name, in_channels, out_channels, 1);
  check_sizes(name, kernel, stride, padding, dilations);
  check_output_padding(name, output_padding, stride, dilations);
  register_weights(layer, in_channels, out_channels, kernel, 1, bias);
}

// Formats ConvTranspose2d and ConvTranspose3d as MLX Python prints them.
std::string transposed_repr(
    const Module& layer,
    const std::vector<int>& stride,
    const std::vector<int>& padding,
    const IntOrTuple& dilation,
    const std::vector<int>& output_padding) {
  const auto& weight = layer.param("weight");
  std::ostringstream os;
  os << weight.shape(-1) << ", " << weight.shape(0)
     << ", kernel_size=" << detail::tuple_string(kernel_of(weight))
     << ", stride=" << detail::tuple_string(stride)
     << ", padding=" << detail::tuple_string(padding)
     << ", dilation=" << dilation.repr()
     << ", output_padding=" << detail::tuple_string(output_padding)
     << ", bias=" << detail::python_bool(layer.has("bias"));
  return os.str();
}

} // namespace

// Conv1d

Conv1d::Conv1d(
    int in_channels,
    int out_channels,
    int kernel_size,
    int stride,
    int padding,
    int dilation,
    int groups,
    bool bias)
    : stride_(stride), padding_(padding), dilation_(dilation), groups_(groups) {
  check_channels("Conv1d", in_channels, out_channels, groups);
  check_sizes("Conv1d", {kernel_size}, {stride}, {padding}, {dilation});
  register_weights(
      *this, in_channels, out_channels, {kernel_size}, groups, bias);
}

std::string Conv1d::extra_repr() const {
  const auto& weight = param("weight");
  std::ostringstream os;
  os << weight.shape(-1) * groups_ << ", " << weight.shape(0)
     << ", kernel_size=" << weight.shape(1) << ", stride=" << stride_
     << ", padding=" << padding_ << ", dilation=" << dilation_
     << ", groups=" << groups_ << ", bias=" << detail::python_bool(has("bias"));
  return os.str();
}

mx::array Conv1d::forward(const mx::array& x) {
  const auto& weight = param("weight");
  check_input(*this, x, "(N, L, C)", weight.shape(-1) * groups_);
  return add_bias(
      *this, conv(x, weight, {stride_}, {padding_}, {dilation_}, groups_));
}

// Conv2d

Conv2d::Conv2d(
    int in_channels,
    int out_channels,
    IntOrTuple kernel_size,
    IntOrTuple stride,
    IntOrTuple padding,
    IntOrTuple dilation,
    int groups,
    bool bias)
    : stride_(stride.expand(2, "Conv2d", "stride")),
      padding_(padding.expand(2, "Conv2d", "padding")),
      dilation_(std::move(dilation)),
      groups_(groups) {
  std::vector<int> kernel = kernel_size.expand(2, "Conv2d", "kernel_size");
  check_channels("Conv2d", in_channels, out_channels, groups);
  check_sizes(
      "Conv2d",
      kernel,
      stride_,
      padding_,
      dilation_.expand(2, "Conv2d", "dilation"));
  register_weights(*this, in_channels, out_channels, kernel, groups, bias);
}

std::string Conv2d::extra_repr() const {
  const auto& weight = param("weight");
  std::ostringstream os;
  os << weight.shape(-1) * groups_ << ", " << weight.shape(0)
     << ", kernel_size=" << detail::tuple_string(kernel_of(weight))
     << ", stride=" << detail::tuple_string(stride_)
     << ", padding=" << detail::tuple_string(padding_)
     << ", dilation=" << dilation_.repr() << ", groups=" << groups_
     << ", bias=" << detail::python_bool(has("bias"));
  return os.str();
}

mx::array Conv2d::forward(const mx::array& x) {
  const auto& weight = param("weight");
  check_input(*this, x, "(N, H, W, C)", weight.shape(-1) * groups_);
  std::vector<int> dilation =
      dilation_.expand(2, "Conv2d", "dilation");
  return add_bias(*this, conv(x, weight, stride_, padding_, dilation, groups_));
}

// Conv3d

Conv3d::Conv3d(
    int in_channels,
    int out_channels,
    IntOrTuple kernel_size,
    IntOrTuple stride,
    IntOrTuple padding,
    IntOrTuple dilation,
    bool bias)
    : stride_(stride.expand(3, "Conv3d", "stride")),
      padding_(padding.expand(3, "Conv3d", "padding")),
      dilation_(std::move(dilation)) {
  std::vector<int> kernel = kernel_size.expand(3, "Conv3d", "kernel_size");
  check_channels("Conv3d", in_channels, out_channels, 1);
  check_sizes(
      "Conv3d",
      kernel,
      stride_,
      padding_,
      dilation_.expand(3, "Conv3d", "dilation"));
  register_weights(*this, in_channels, out_channels, kernel, 1, bias);
}

std::string Conv3d::extra_repr() const {
  const auto& weight = param("weight");
  std::ostringstream os;
  os << weight.shape(-1) << ", " << weight.shape(0)
     << ", kernel_size=" << detail::tuple_string(kernel_of(weight))
     << ", stride=" << detail::tuple_string(stride_)
     << ", padding=" << detail::tuple_string(padding_)
     << ", dilation=" << dilation_.repr()
     << ", bias=" << detail::python_bool(has("bias"));
  return os.str();
}

mx::array Conv3d::forward(const mx::array& x) {
  const auto& weight = param("weight");
  check_input(*this, x, "(N, D, H, W, C)", weight.shape(-1));
  std::vector<int> dilation =
      dilation_.expand(3, "Conv3d", "dilation");
  return add_bias(*this, conv(x, weight, stride_, padding_, dilation));
}

// ConvTranspose1d

ConvTranspose1d::ConvTranspose1d(
    int in_channels,
    int out_channels,
    int kernel_size,
    int stride,
    int padding,
    int dilation,
    int output_padding,
    bool bias)
    : stride_(stride),
      padding_(padding),
      dilation_(dilation),
      output_padding_(output_padding) {
  check_channels("ConvTranspose1d", in_channels, out_channels, 1);
  check_sizes(
      "ConvTranspose1d", {kernel_size}, {stride}, {padding}, {dilation});
  check_output_padding(
      "ConvTranspose1d", {output_padding}, {stride}, {dilation});
  register_weights(*this, in_channels, out_channels, {kernel_size}, 1, bias);
}

std::string ConvTranspose1d::extra_repr() const {
  const auto& weight = param("weight");
  std::ostringstream os;
  os << weight.shape(-1) << ", " << weight.shape(0)
     << ", kernel_size=" << weight.shape(1) << ", stride=" << stride_
     << ", padding=" << padding_ << ", dilation=" << dilation_
     << ", output_padding=" << output_padding_
     << ", bias=" << detail::python_bool(has("bias"));
  return os.str();
}

mx::array ConvTranspose1d::forward(const mx::array& x) {
  return transposed_forward(
      *this,
      x,
      "(N, L, C)",
      {stride_},
      {padding_},
      {dilation_},
      {output_padding_});
}

// ConvTranspose2d

ConvTranspose2d::ConvTranspose2d(
    int in_channels,
    int out_channels,
    IntOrTuple kernel_size,
    IntOrTuple stride,
    IntOrTuple padding,
    IntOrTuple dilation,
    IntOrTuple output_padding,
    bool bias)
    : stride_(stride.expand(2, "ConvTranspose2d", "stride")),
      padding_(padding.expand(2, "ConvTranspose2d", "padding")),
      dilation_(std::move(dilation)),
      output_padding_(
          output_padding.expand(2, "ConvTranspose2d", "output_padding")) {
  init_transposed(
      *this,
      2,
      in_channels,
      out_channels,
      kernel_size,
      stride_,
      padding_,
      dilation_,
      output_padding_,
      bias);
}

std::string ConvTranspose2d::extra_repr() const {
  return transposed_repr(*this, stride_, padding_, dilation_, output_padding_);
}

mx::array ConvTranspose2d::forward(const mx::array& x) {
  std::vector<int> dilation =
      dilation_.expand(2, "ConvTranspose2d", "dilation");
  return transposed_forward(
      *this, x, "(N, H, W, C)", stride_, padding_, dilation, output_padding_);
}

// ConvTranspose3d

ConvTranspose3d::ConvTranspose3d(
    int in_channels,
    int out_channels,
    IntOrTuple kernel_size,
    IntOrTuple stride,
    IntOrTuple padding,
    IntOrTuple dilation,
    IntOrTuple output_padding,
    bool bias)
    : stride_(stride.expand(3, "ConvTranspose3d", "stride")),
      padding_(padding.expand(3, "ConvTranspose3d", "padding")),
      dilation_(std::move(dilation)),
      output_padding_(
          output_padding.expand(3, "ConvTranspose3d", "output_padding")) {
  init_transposed(
      *this,
      3,
      in_channels,
      out_channels,
      kernel_size,
      stride_,
      padding_,
      dilation_,
      output_padding_,
      bias);
}

std::string ConvTranspose3d::extra_repr() const {
  return transposed_repr(*this, stride_, padding_, dilation_, output_padding_);
}

mx::array ConvTranspose3d::forward(const mx::array& x) {
  std::vector<int> dilation =
      dilation_.expand(3, "ConvTranspose3d", "dilation");
  return transposed_forward(
      *this,
      x,
      "(N, D, H, W, C)",
      stride_,
      padding_,
      dilation,
      output_padding_);
}

} // namespace rmlx::nn
