#include "rmlx/nn/sizes.h"

#include <sstream>
#include <stdexcept>

#include "layer_utils.h"

namespace rmlx::nn {

std::vector<int> IntOrTuple::expand(
    int ndim,
    const std::string& layer,
    const std::string& argument) const {
  if (is_int_) {
    return std::vector<int>(ndim, values_[0]);
  }
  if (static_cast<int>(values_.size()) != ndim) {
    std::ostringstream msg;
    msg << "Expected " << argument << " to be an int or a list of " << ndim
        << " values but received " << values_.size() << " values.";
    throw std::invalid_argument("[" + layer + "] " + msg.str());
  }
  return values_;
}

std::string IntOrTuple::repr() const {
  return is_int_ ? std::to_string(values_[0]) : detail::tuple_string(values_);
}

} // namespace rmlx::nn
