#include "rmlx/nn/pooling.h"

#include <limits>
#include <sstream>
#include <stdexcept>

#include "layer_utils.h"
#include "rmlx/nn/custom_kernels.h"
#include "pooling_kernels.h"

namespace rmlx::nn {

namespace {

// Expands one int to `dims` values. A tuple must have exactly `dims` values.
std::vector<int> expand_argument(
    const std::string& type_name,
    const std::string& name,
    const IntOrTuple& value,
    int dims) {
  if (value.is_int()) {
    return std::vector<int>(dims, value.values()[0]);
  }
  if (static_cast<int>(value.values().size()) != dims) {
    std::ostringstream msg;
    msg << "[" << type_name << "] '" << name
        << "' must be an integer or a tuple containing " << dims
        << (dims == 1 ? " integer" : " integers") << " but got "
        << detail::tuple_string(value.values()) << ".";
    throw std::invalid_argument(msg.str());
  }
  return value.values();
}

// Integer division rounded toward negative infinity, as Python's //.
int floor_divide(int a, int b) {
  int quotient = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? quotient - 1 : quotient;
}

// Reshapes x into (N, L1 / K1, ..., K1, ..., C) windows when every window
// equals its stride and divides its axis, which needs no strided view.
mx::array non_overlapping_windows(
    const mx::array& x,
    const std::vector<int>& window) {
  const mx::Shape& shape = x.shape();
  mx::Shape split_shape = {shape[0]};
  for (size_t i = 0; i < window.size(); ++i) {
    split_shape.push_back(shape[i + 1] / window[i]);
    split_shape.push_back(window[i]);
  }
  split_shape.push_back(shape.back());

  int last_axis = static_cast<int>(split_shape.size()) - 1;
  std::vector<int> axis_order = {0};
  for (int axis = 1; axis < last_axis; axis += 2) {
    axis_order.push_back(axis);
  }
  for (int axis = 2; axis < last_axis; axis += 2) {
    axis_order.push_back(axis);
  }
  axis_order.push_back(last_axis);
  return mx::transpose(mx::reshape(x, split_shape), axis_order);
}

} // namespace

Pool::Pool(
    std::string type_name,
    Reduction reduction,
    int dims,
    const IntOrTuple& kernel_size,
    const IntOrTuple& stride,
    const IntOrTuple& padding)
    : type_name_(std::move(type_name)), reduction_(reduction) {
  kernel_size_ = expand_argument(type_name_, "kernel_size", kernel_size, dims);
  stride_ = stride.empty()
      ? kernel_size_
      : expand_argument(type_name_, "stride", stride, dims);
  padding_ = expand_argument(type_name_, "padding", padding, dims);

  for (const auto& [name, values] :
       {std::pair{"kernel_size", kernel_size_}, std::pair{"stride", stride_}}) {
    for (int v : values) {
      if (v <= 0) {
        throw std::invalid_argument(
            "[" + type_name_ + "] '" + name + "' must be positive but got " +
            detail::tuple_string(values) + ".");
      }
    }
  }
  for (int p : padding_) {
    if (p < 0) {
      throw std::invalid_argument(
          "[" + type_name_ + "] 'padding' must be non-negative but got " +
          detail::tuple_string(padding_) + ".");
    }
  }
}

std::string Pool::extra_repr() const {
  return "kernel_size=" + detail::tuple_string(kernel_size_) +
      ", stride=" + detail::tuple_string(stride_) +
      ", padding=" + detail::tuple_string(padding_);
}

mx::array Pool::forward(const mx::array& input) {
  int dims = static_cast<int>(kernel_size_.size());
  if (static_cast<int>(input.ndim()) != dims + 2) {
    static const char* layouts[] = {
        "(N, L, C)", "(N, H, W, C)", "(N, D, H, W, C)"};
    std::ostringstream msg;
    msg << "[" << type_name_ << "] Expected a " << dims + 2 << "-D input "
        << layouts[dims - 1] << " but received shape "
        << detail::shape_string(input.shape()) << ".";
    throw std::invalid_argument(msg.str());
  }

  if (custom_kernels_enabled() && input.dtype() == mx::float32 &&
      input.size() > 0 &&
      mx::default_device() == mx::Device::cpu) {
    mx::Shape output_shape = {input.shape(0)};
    for (int i = 0; i < dims; ++i) {
      int span = input.shape(i + 1) + 2 * padding_[i] - kernel_size_[i];
      output_shape.push_back(span < 0 ? 0 : span / stride_[i] + 1);
    }
    output_shape.push_back(input.shape(-1));
    bool nonempty = true;
    for (int i = 0; i < dims; ++i) {
      nonempty = nonempty && output_shape[i + 1] > 0;
    }
    if (nonempty) {
      detail::PoolParameters parameters{
          reduction_ == Reduction::max ? detail::PoolMode::max
                                       : detail::PoolMode::mean,
          kernel_size_,
          stride_,
          padding_};
      return detail::window_pool(
          input, output_shape, parameters, mx::default_stream(mx::Device::cpu));
    }
  }

  mx::array x = input;
  bool padded = false;
  for (int p : padding_) {
    padded = padded || p > 0;
  }
  if (padded) {
    std::vector<std::pair<int, int>> widths = {{0, 0}};
    for (int p : padding_) {
      widths.emplace_back(p, p);
    }
    widths.emplace_back(0, 0);
    // Python's -float("inf") and 0 are weak scalars, so they take x's dtype.
    // NOTE: as in MLX Python, -inf cast to an integer dtype is the minimum of
    // int32 and int64 but 0 for 8- and 16-bit integers.
    mx::array value = reduction_ == Reduction::max
        ? mx::astype(
              mx::array(-std::numeric_limits<float>::infinity()), x.dtype())
        : mx::astype(mx::array(0), x.dtype());
    x = mx::pad(x, widths, value);
  }

  const mx::Shape& shape = x.shape();
  bool non_overlapping = true;
  for (int i = 0; i < dims; ++i) {
    non_overlapping = non_overlapping && kernel_size_[i] == stride_[i] &&
        shape[i + 1] % kernel_size_[i] == 0;
  }

  mx::array windows = x;
  if (non_overlapping) {
    windows = non_overlapping_windows(x, kernel_size_);
  } else {
    // A strided view (N, out_1, ..., K_1, ..., C) of the row-major input.
    int ndim = static_cast<int>(shape.size());
    std::vector<int64_t> strides(ndim, 1);
    for (int axis = ndim - 2; axis >= 0; --axis) {
      strides[axis] = strides[axis + 1] * shape[axis + 1];
    }
    mx::Shape window_shape = {shape[0]};
    mx::Strides window_strides = {strides[0]};
    for (int i = 0; i < dims; ++i) {
      int size = floor_divide(shape[i + 1] - kernel_size_[i], stride_[i]) + 1;
      if (size < 0) {
        std::ostringstream msg;
        msg << "[" << type_name_ << "] The pooling window "
            << detail::tuple_string(kernel_size_)
            << " is larger than the padded spatial shape "
            << detail::shape_string(mx::Shape(shape.begin() + 1,
                                              shape.end() - 1))
            << ". Use a smaller kernel_size or more padding.";
        throw std::invalid_argument(msg.str());
      }
      window_shape.push_back(size);
      window_strides.push_back(strides[i + 1] * stride_[i]);
    }
    for (int i = 0; i < dims; ++i) {
      window_shape.push_back(kernel_size_[i]);
      window_strides.push_back(strides[i + 1]);
    }
    window_shape.push_back(shape.back());
    window_strides.push_back(strides.back());
    windows = mx::as_strided(x, window_shape, window_strides, 0);
  }

  // The window axes are -dims - 1, ..., -2.
  std::vector<int> axes;
  for (int axis = -dims - 1; axis < -1; ++axis) {
    axes.push_back(axis);
  }
  return reduction_ == Reduction::max ? mx::max(windows, axes)
                                      : mx::mean(windows, axes);
}

} // namespace rmlx::nn
