#include "rmlx/nn/dropout.h"

#include <sstream>
#include <stdexcept>

#include "layer_utils.h"
#include "rmlx/random.h"

namespace rmlx::nn {

Dropout::Dropout(double p) {
  if (!(p >= 0.0 && p < 1.0)) {
    std::ostringstream msg;
    msg << "[Dropout] Expected a probability p in [0, 1) but received "
        << detail::python_float_repr(p) << ".";
    throw std::invalid_argument(msg.str());
  }
  keep_probability_ = 1.0 - p;
}

std::string Dropout::extra_repr() const {
  return "p=" + detail::python_float_repr(1.0 - keep_probability_);
}

mx::array Dropout::forward(const mx::array& x) {
  if (keep_probability_ == 1.0 || !training()) {
    return x;
  }
  mx::array mask = mx::random::bernoulli(
      mx::array(static_cast<float>(keep_probability_)),
      x.shape(),
      rmlx::random::next_key());
  mx::array scale = detail::float_scalar(1.0 / keep_probability_, x);
  return mx::multiply(mx::multiply(mask, x), scale);
}

} // namespace rmlx::nn
