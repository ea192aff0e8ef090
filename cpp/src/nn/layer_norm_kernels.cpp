#include "layer_norm_kernels.h"

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <mlx/primitives.h>

#include "recurrent_kernels.h"

namespace rmlx::nn::detail {

namespace {

constexpr size_t kLanes = 8;

// Rows of `dims` values each, and which of weight and bias are present.
struct NormShape {
  size_t rows = 0;
  size_t dims = 0;
  bool has_weight = false;
  bool has_bias = false;

  bool operator==(const NormShape&) const = default;
};

// Returns the sum of term(j) for j in [0, d). Eight partial sums, added
// in a fixed order, let the loop vectorize without reordering a single sum.
template <typename Term>
[[gnu::always_inline]] inline float lane_sum(size_t d, Term term) {
  size_t whole = d - d % kLanes;
  float partial[kLanes] = {};
  for (size_t j = 0; j < whole; j += kLanes) {
    for (size_t l = 0; l < kLanes; ++l) {
      partial[l] += term(j + l);
    }
  }
  float sum = 0.0f;
  for (size_t l = 0; l < kLanes; ++l) {
    sum += partial[l];
  }
  for (size_t j = whole; j < d; ++j) {
    sum += term(j);
  }
  return sum;
}

// Normalizes each row of x into y and saves its mean and 1 / std.
RMLX_CELL_KERNEL void layer_norm_forward(
    const float* __restrict x,
    const float* __restrict weight,
    const float* __restrict bias,
    float eps,
    float* __restrict y,
    float* __restrict means,
    float* __restrict inv_stds,
    NormShape shape) {
  size_t d = shape.dims;
  for (size_t r = 0; r < shape.rows; ++r) {
    const float* __restrict row = x + r * d;
    float* __restrict out = y + r * d;

    float sum = lane_sum(d, [&](size_t j) { return row[j]; });
    float mean = sum / static_cast<float>(d);
    float square_sum = lane_sum(d, [&](size_t j) {
      float centered = row[j] - mean;
      return centered * centered;
    });
    float inv_std =
        1.0f / __builtin_sqrtf(square_sum / static_cast<float>(d) + eps);
    means[r] = mean;
    inv_stds[r] = inv_std;

    for (size_t j = 0; j < d; ++j) {
      out[j] = (row[j] - mean) * inv_std;
    }
    if (weight != nullptr) {
      for (size_t j = 0; j < d; ++j) {
        out[j] *= weight[j];
      }
    }
    if (bias != nullptr) {
      for (size_t j = 0; j < d; ++j) {
        out[j] += bias[j];
      }
    }
  }
}

// The gradients of layer_norm_forward given the output's cotangent g:
// with x_hat the normalized row and g_hat = g * weight,
// dx = inv_std (g_hat - mean(g_hat) - x_hat mean(g_hat x_hat)),
// d_weight = sum over rows of g x_hat and d_bias = sum over rows of g.
RMLX_CELL_KERNEL void layer_norm_backward(
    const float* __restrict x,
    const float* __restrict weight,
    const float* __restrict means,
    const float* __restrict inv_stds,
    const float* __restrict g,
    float* __restrict dx,
    float* __restrict d_weight,
    float* __restrict d_bias,
    float* __restrict scratch,
    NormShape shape) {
  size_t d = shape.dims;
  float* __restrict x_hat = scratch;
  float* __restrict g_hat = scratch + d;
  if (d_weight != nullptr) {
    std::fill_n(d_weight, d, 0.0f);
  }
  if (d_bias != nullptr) {
    std::fill_n(d_bias, d, 0.0f);
  }
  for (size_t r = 0; r < shape.rows; ++r) {
    const float* __restrict row = x + r * d;
    const float* __restrict grad = g + r * d;
    float* __restrict out = dx + r * d;
    float mean = means[r];
    float inv_std = inv_stds[r];

    for (size_t j = 0; j < d; ++j) {
      x_hat[j] = (row[j] - mean) * inv_std;
    }
    if (weight != nullptr) {
      for (size_t j = 0; j < d; ++j) {
        g_hat[j] = grad[j] * weight[j];
      }
    } else {
      std::copy_n(grad, d, g_hat);
    }

    float mean_g =
        lane_sum(d, [&](size_t j) { return g_hat[j]; }) / static_cast<float>(d);
    float mean_dot = lane_sum(d, [&](size_t j) {
      return g_hat[j] * x_hat[j];
    }) / static_cast<float>(d);
    for (size_t j = 0; j < d; ++j) {
      out[j] = inv_std * (g_hat[j] - mean_g - x_hat[j] * mean_dot);
    }

    if (d_weight != nullptr) {
      for (size_t j = 0; j < d; ++j) {
        d_weight[j] += grad[j] * x_hat[j];
      }
    }
    if (d_bias != nullptr) {
      for (size_t j = 0; j < d; ++j) {
        d_bias[j] += grad[j];
      }
    }
  }
}

/**
 * The gradients of LayerNormRows: dx, then d_weight and d_bias when the
 * layer has them. Its inputs are x, the weight if any, the saved means and
 * 1 / std, and the output's cotangent.
 */
class LayerNormRowsGrad : public mx::Primitive {
 public:
  LayerNormRowsGrad(mx::Stream stream, NormShape shape)
      : mx::Primitive(stream), shape_(shape) {}

  void eval_cpu(const std::vector<mx::array>& inputs,
                std::vector<mx::array>& outputs) override {
    auto& encoder = prepare(name(), stream(), inputs, outputs);
    size_t at = 1;
    const float* weight =
        shape_.has_weight ? inputs[at++].data<float>() : nullptr;
    const float* means = inputs[at++].data<float>();
    const float* inv_stds = inputs[at++].data<float>();
    const float* g = inputs[at].data<float>();
    size_t out = 1;
    float* d_weight = shape_.has_weight ? outputs[out++].data<float>() : nullptr;
    float* d_bias = shape_.has_bias ? outputs[out].data<float>() : nullptr;
    encoder.dispatch([x = inputs[0].data<float>(), weight, means, inv_stds, g,
                      dx = outputs[0].data<float>(), d_weight, d_bias,
                      shape = shape_]() {
      std::vector<float> scratch(2 * shape.dims);
      layer_norm_backward(x, weight, means, inv_stds, g, dx, d_weight, d_bias,
                          scratch.data(), shape);
    });
  }

  void eval_gpu(const std::vector<mx::array>&,
                std::vector<mx::array>&) override {
    throw_cpu_only(name());
  }

  std::vector<mx::array> vjp(const std::vector<mx::array>&,
                             const std::vector<mx::array>&,
                             const std::vector<int>&,
                             const std::vector<mx::array>&) override {
    throw_not_implemented(name(), "A second derivative of layer normalization");
  }

  const char* name() const override {
    return "LayerNormRowsGrad";
  }

  bool is_equivalent(const mx::Primitive& other) const override {
    return shape_ == static_cast<const LayerNormRowsGrad&>(other).shape_;
  }

 private:
  NormShape shape_;
};

/**
 * Layer normalization of float32 rows. Its inputs are x, then the weight
 * and the bias when present. Its outputs are y and each row's mean and
 * 1 / std, which the gradient reuses.
 */
class LayerNormRows : public mx::Primitive {
 public:
  LayerNormRows(mx::Stream stream, float eps, NormShape shape)
      : mx::Primitive(stream), eps_(eps), shape_(shape) {}

  void eval_cpu(const std::vector<mx::array>& inputs,
                std::vector<mx::array>& outputs) override {
    auto& encoder = prepare(name(), stream(), inputs, outputs);
    size_t at = 1;
    const float* weight =
        shape_.has_weight ? inputs[at++].data<float>() : nullptr;
    const float* bias = shape_.has_bias ? inputs[at].data<float>() : nullptr;
    encoder.dispatch([x = inputs[0].data<float>(), weight, bias, eps = eps_,
                      y = outputs[0].data<float>(),
                      means = outputs[1].data<float>(),
                      inv_stds = outputs[2].data<float>(), shape = shape_]() {
      layer_norm_forward(x, weight, bias, eps, y, means, inv_stds, shape);
    });
  }

  void eval_gpu(const std::vector<mx::array>&,
                std::vector<mx::array>&) override {
    throw_cpu_only(name());
  }

  std::vector<mx::array> vjp(const std::vector<mx::array>& primals,
                             const std::vector<mx::array>& cotangents,
                             const std::vector<int>& argnums,
                             const std::vector<mx::array>& outputs) override {
    auto s = stream();
    std::vector<mx::array> inputs = {primals[0]};
    if (shape_.has_weight) {
      inputs.push_back(primals[1]);
    }
    inputs.push_back(outputs[1]);
    inputs.push_back(outputs[2]);
    inputs.push_back(dense_float32(cotangents[0], s));

    std::vector<mx::Shape> shapes = {primals[0].shape()};
    mx::Shape row = {static_cast<int>(shape_.dims)};
    if (shape_.has_weight) {
      shapes.push_back(row);
    }
    if (shape_.has_bias) {
      shapes.push_back(row);
    }
    std::vector<mx::Dtype> dtypes(shapes.size(), mx::float32);
    auto grads = mx::array::make_arrays(
        shapes, dtypes, std::make_shared<LayerNormRowsGrad>(s, shape_),
        inputs);
    // The primals and the gradients are in the same order: x, weight, bias.
    std::vector<mx::array> result;
    for (int arg : argnums) {
      result.push_back(grads[arg]);
    }
    return result;
  }

  std::vector<mx::array> jvp(const std::vector<mx::array>&,
                             const std::vector<mx::array>&,
                             const std::vector<int>&) override {
    throw_not_implemented(name(), "A forward derivative of layer normalization");
  }

  std::pair<std::vector<mx::array>, std::vector<int>> vmap(
      const std::vector<mx::array>&,
      const std::vector<int>&) override {
    throw_not_implemented(name(), "vmap of layer normalization");
  }

  const char* name() const override {
    return "LayerNormRows";
  }

  bool is_equivalent(const mx::Primitive& other) const override {
    const auto& o = static_cast<const LayerNormRows&>(other);
    return eps_ == o.eps_ && shape_ == o.shape_;
  }

 private:
  float eps_;
  NormShape shape_;
};

bool is_row_parameter(const std::optional<mx::array>& a, int dims) {
  return !a || (a->dtype() == mx::float32 && a->ndim() == 1 &&
                a->shape(0) == dims);
}

} // namespace

mx::array layer_norm(
    const mx::array& x,
    const std::optional<mx::array>& weight,
    const std::optional<mx::array>& bias,
    float eps) {
  auto stream = mx::to_stream({});
  bool applies = fusable(stream, {x}) && x.ndim() > 0 && x.size() > 0 &&
      is_row_parameter(weight, x.shape(-1)) &&
      is_row_parameter(bias, x.shape(-1));
  if (!applies) {
    return mx::fast::layer_norm(x, weight, bias, eps);
  }
  NormShape shape;
  shape.dims = x.shape(-1);
  shape.rows = x.size() / shape.dims;
  shape.has_weight = weight.has_value();
  shape.has_bias = bias.has_value();

  std::vector<mx::array> inputs = {dense_float32(x, stream)};
  if (weight) {
    inputs.push_back(dense_float32(*weight, stream));
  }
  if (bias) {
    inputs.push_back(dense_float32(*bias, stream));
  }
  mx::Shape rows = {static_cast<int>(shape.rows)};
  auto outputs = mx::array::make_arrays(
      {x.shape(), rows, rows},
      {mx::float32, mx::float32, mx::float32},
      std::make_shared<LayerNormRows>(stream, eps, shape),
      inputs);
  return outputs[0];
}

} // namespace rmlx::nn::detail
