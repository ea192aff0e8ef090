#include "rmlx/nn/dropout_channels.h"

#include <sstream>
#include <stdexcept>

#include "layer_utils.h"
#include "rmlx/random.h"

namespace rmlx::nn {

ChannelDropout::ChannelDropout(std::string type_name, int spatial_dims,
                               double p)
    : type_name_(std::move(type_name)), spatial_dims_(spatial_dims) {
  if (!(p >= 0.0 && p < 1.0)) {
    std::ostringstream msg;
    msg << "[" << type_name_ << "] Expected a probability p in [0, 1) but "
        << "received " << detail::python_float_repr(p) << ".";
    throw std::invalid_argument(msg.str());
  }
  keep_probability_ = 1.0 - p;
}

std::string ChannelDropout::extra_repr() const {
  return "p=" + detail::python_float_repr(1.0 - keep_probability_);
}

mx::array ChannelDropout::forward(const mx::array& x) {
  int ndim = static_cast<int>(x.ndim());
  if (ndim != spatial_dims_ + 1 && ndim != spatial_dims_ + 2) {
    std::ostringstream msg;
    msg << "[" << type_name_ << "] Expected an input with "
        << spatial_dims_ + 1 << " or " << spatial_dims_ + 2
        << " dimensions (channels last) but received shape "
        << detail::shape_string(x.shape()) << ".";
    throw std::invalid_argument(msg.str());
  }
  if (keep_probability_ == 1.0 || !training()) {
    return x;
  }

  // One draw per channel (and per sample when there is a batch axis).
  mx::Shape mask_shape = x.shape();
  for (int i = 2; i <= spatial_dims_ + 1; ++i) {
    mask_shape[ndim - i] = 1;
  }
  mx::array mask = mx::random::bernoulli(
      mx::array(static_cast<float>(keep_probability_)),
      mask_shape,
      rmlx::random::next_key());
  mx::array scale = detail::float_scalar(1.0 / keep_probability_, x);
  return mx::multiply(mx::multiply(mask, x), scale);
}

} // namespace rmlx::nn
