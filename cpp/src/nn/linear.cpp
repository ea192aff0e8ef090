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

Bilinear::Bilinear(
    int input1_dims,
    int input2_dims,
    int output_dims,
    bool bias) {
  if (input1_dims <= 0 || input2_dims <= 0 || output_dims <= 0) {
    std::ostringstream msg;
    msg << "[Bilinear] Expected positive input1_dims, input2_dims and "
        << "output_dims but received input1_dims=" << input1_dims
        << ", input2_dims=" << input2_dims
        << " and output_dims=" << output_dims << ".";
    throw std::invalid_argument(msg.str());
  }

  float scale = static_cast<float>(std::sqrt(1.0 / input1_dims));
  mx::array low(-scale);
  mx::array high(scale);
  register_parameter(
      "weight",
      mx::random::uniform(low, high, {output_dims, input2_dims, input1_dims}));
  if (bias) {
    register_parameter(
        "bias", mx::random::uniform(low, high, {output_dims}));
  }
}

std::string Bilinear::extra_repr() const {
  const auto& weight = param("weight");
  std::ostringstream os;
  os << "input1_dims=" << weight.shape(2) << ", input2_dims=" << weight.shape(1)
     << ", output_dims=" << weight.shape(0)
     << ", bias=" << detail::python_bool(has("bias"));
  return os.str();
}

std::vector<mx::array> Bilinear::forward(const Inputs& inputs) {
  check_inputs(*this, inputs, 2);
  return {forward(*inputs[0], *inputs[1])};
}

mx::array Bilinear::forward(const mx::array& x1, const mx::array& x2) {
  const auto& weight = param("weight");
  int out = weight.shape(0);
  int in2 = weight.shape(1);
  int in1 = weight.shape(2);
  bool shapes_ok = x1.ndim() > 0 && x2.ndim() == x1.ndim() &&
      x1.shape(-1) == in1 && x2.shape(-1) == in2;
  for (size_t i = 0; shapes_ok && i + 1 < x1.ndim(); ++i) {
    shapes_ok = x1.shape(i) == x2.shape(i);
  }
  if (!shapes_ok) {
    std::ostringstream msg;
    msg << "[Bilinear] Expected x1 of shape (..., " << in1
        << ") and x2 of shape (..., " << in2
        << ") with the same leading axes but received "
        << detail::shape_string(x1.shape()) << " and "
        << detail::shape_string(x2.shape()) << ".";
    throw std::invalid_argument(msg.str());
  }

  // The operation order of MLX Python: contract x1 with W to shape
  // (batch, in2, out), then contract with x2.
  mx::Shape leading(x1.shape().begin(), x1.shape().end() - 1);
  mx::array rows1 = mx::reshape(x1, {-1, in1});
  mx::array rows2 = mx::reshape(x2, {-1, 1, in2});
  mx::array w = mx::reshape(weight, {out * in2, in1});
  mx::array partial = mx::matmul(rows1, mx::transpose(w));
  partial = mx::swapaxes(mx::reshape(partial, {-1, out, in2}), -2, -1);
  mx::array y = mx::squeeze(mx::matmul(rows2, partial), 1);
  leading.push_back(out);
  y = mx::reshape(y, leading);
  if (has("bias")) {
    y = mx::add(y, param("bias"));
  }
  return y;
}

} // namespace rmlx::nn
