#include "rmlx/nn/linear.h"

#include <cmath>
#include <sstream>
#include <stdexcept>

#include "layer_utils.h"

namespace rmlx::nn {

mx::array Identity::forward(const mx::array& x) {
  return x;
}

Linear::Linear(int input_dims, int output_dims, bool bias) {
  if (input_dims <= 0 || output_dims <= 0) {
    std::ostringstream msg;
    msg << "[Linear] Expected positive input_dims and output_dims but "
        << "received input_dims=" << input_dims
        << " and output_dims=" << output_dims << ".";
    throw std::invalid_argument(msg.str());
  }

  // MLX Python passes the bounds as float32 scalars computed in double.
  float scale = static_cast<float>(std::sqrt(1.0 / input_dims));
  mx::array low(-scale);
  mx::array high(scale);
  register_parameter(
      "weight", mx::random::uniform(low, high, {output_dims, input_dims}));
  if (bias) {
    register_parameter(
        "bias", mx::random::uniform(low, high, {output_dims}));
  }
}

std::string Linear::extra_repr() const {
  const auto& weight = param("weight");
  std::ostringstream os;
  os << "input_dims=" << weight.shape(1) << ", output_dims=" << weight.shape(0)
     << ", bias=" << detail::python_bool(has("bias"));
  return os.str();
}

mx::array Linear::forward(const mx::array& x) {
  const auto& weight = param("weight");
  int input_dims = weight.shape(1);
  if (x.ndim() == 0 || x.shape(-1) != input_dims) {
    std::ostringstream msg;
    msg << "[Linear] Expected input with last dimension " << input_dims
        << " but received shape " << detail::shape_string(x.shape()) << ".";
    throw std::invalid_argument(msg.str());
  }

  if (has("bias")) {
    return mx::addmm(param("bias"), x, mx::transpose(weight));
  }
  return mx::matmul(x, mx::transpose(weight));
}

} // namespace rmlx::nn
