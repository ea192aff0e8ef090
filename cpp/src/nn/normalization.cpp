#include "rmlx/nn/normalization.h"

#include <numeric>
#include <sstream>
#include <stdexcept>

#include "layer_norm_kernels.h"
#include "layer_utils.h"

namespace rmlx::nn {

namespace {

void check_eps(const std::string& layer, double eps) {
  if (!(eps > 0.0)) {
    std::ostringstream msg;
    msg << "[" << layer << "] Expected a positive eps but received "
        << detail::python_float_repr(eps) << ".";
    throw std::invalid_argument(msg.str());
  }
}

void check_features(const std::string& layer, const mx::array& x, int dims) {
  if (x.ndim() == 0 || x.shape(-1) != dims) {
    std::ostringstream msg;
    msg << "[" << layer << "] Expected input with last dimension " << dims
        << " but received shape " << detail::shape_string(x.shape()) << ".";
    throw std::invalid_argument(msg.str());
  }
}

void check_dims(const std::string& layer, int dims) {
  if (dims < 1) {
    throw std::invalid_argument(
        "[" + layer + "] Expected dims >= 1 but received " +
        std::to_string(dims) + ".");
  }
}

// Returns weight * y + bias when the layer has affine parameters.
mx::array apply_affine(const Module& layer, const mx::array& y) {
  if (!layer.has("weight")) {
    return y;
  }
  return mx::add(mx::multiply(layer.param("weight"), y), layer.param("bias"));
}

} // namespace

LayerNorm::LayerNorm(int dims, double eps, bool affine, bool bias)
    : dims_(dims), eps_(eps) {
  check_eps("LayerNorm", eps);
  if (affine) {
    register_parameter("weight", mx::ones({dims}));
    if (bias) {
      register_parameter("bias", mx::zeros({dims}));
    }
  }
}

std::string LayerNorm::extra_repr() const {
  std::ostringstream os;
  os << dims_ << ", eps=" << detail::python_float_repr(eps_)
     << ", affine=" << detail::python_bool(has("weight"));
  return os.str();
}

mx::array LayerNorm::forward(const mx::array& x) {
  std::optional<mx::array> weight;
  std::optional<mx::array> bias;
  if (has("weight")) {
    // Without a weight, MLX Python normalizes any last dimension.
    check_features("LayerNorm", x, dims_);
    weight = param("weight");
  }
  if (has("bias")) {
    bias = param("bias");
  }
  return detail::layer_norm(x, weight, bias, static_cast<float>(eps_));
}

BatchNorm::BatchNorm(
    int num_features,
    double eps,
    double momentum,
    bool affine,
    bool track_running_stats)
    : num_features_(num_features),
      eps_(eps),
      momentum_(momentum),
      track_running_stats_(track_running_stats) {
  check_eps("BatchNorm", eps);
  if (affine) {
    register_parameter("weight", mx::ones({num_features}));
    register_parameter("bias", mx::zeros({num_features}));
  }
  if (track_running_stats) {
    register_parameter("running_mean", mx::zeros({num_features}));
    register_parameter("running_var", mx::ones({num_features}));
    Module::freeze(false, {"running_mean", "running_var"});
  }
}

std::string BatchNorm::extra_repr() const {
  std::ostringstream os;
  os << num_features_ << ", eps=" << detail::python_float_repr(eps_)
     << ", momentum=" << detail::python_float_repr(momentum_)
     << ", affine=" << detail::python_bool(has("weight"))
     << ", track_running_stats=" << detail::python_bool(track_running_stats_);
  return os.str();
}

void BatchNorm::unfreeze(
    bool recurse,
    const std::vector<std::string>& keys,
    bool strict) {
  Module::unfreeze(recurse, keys, strict);
  Module::freeze(false, {"running_mean", "running_var"});
}

mx::array BatchNorm::forward(const mx::array& x) {
  if (x.ndim() < 2 || x.ndim() > 4) {
    std::ostringstream msg;
    msg << "[BatchNorm] Expected input with 2, 3 or 4 dimensions but "
        << "received shape " << detail::shape_string(x.shape()) << ".";
    throw std::invalid_argument(msg.str());
  }
  // Without per-feature arrays, MLX Python normalizes any last dimension.
  if (has("weight") || track_running_stats_) {
    check_features("BatchNorm", x, num_features_);
  }
  std::vector<int> axes(x.ndim() - 1);
  std::iota(axes.begin(), axes.end(), 0);
  if (training()) {
    int64_t values_per_feature = 1;
    for (size_t i = 0; i + 1 < x.ndim(); ++i) {
      values_per_feature *= x.shape(i);
    }
    if (values_per_feature == 1) {
      std::ostringstream msg;
      msg << "[BatchNorm] Training requires more than one value per feature "
          << "but received shape " << detail::shape_string(x.shape()) << ".";
      throw std::invalid_argument(msg.str());
    }
  }

  mx::array mean = mx::mean(x, axes);
  mx::array var = mx::var(x, axes);
  if (training() && track_running_stats_) {
    // The running variance takes the unbiased batch variance, as MLX Python
    // does, while the batch itself is normalized with the biased one.
    mx::array unbiased_var = mx::var(x, axes, false, 1);
    auto blend = [this](const mx::array& running, const mx::array& batch) {
      mx::array keep = detail::float_scalar(1.0 - momentum_, running);
      mx::array mu = detail::float_scalar(momentum_, batch);
      return mx::add(mx::multiply(keep, running), mx::multiply(mu, batch));
    };
    mx::array running_mean = blend(param("running_mean"), mean);
    mx::array running_var = blend(param("running_var"), unbiased_var);
    register_parameter("running_mean", running_mean);
    register_parameter("running_var", running_var);
  } else if (track_running_stats_) {
    mean = param("running_mean");
    var = param("running_var");
  }

  mx::array y = mx::multiply(
      mx::subtract(x, mean),
      mx::rsqrt(mx::add(var, detail::float_scalar(eps_, var))));
  if (has("weight")) {
    y = mx::add(mx::multiply(param("weight"), y), param("bias"));
  }
  return y;
}

RMSNorm::RMSNorm(int dims, double eps) : eps_(eps) {
  check_dims("RMSNorm", dims);
  check_eps("RMSNorm", eps);
  register_parameter("weight", mx::ones({dims}));
}

std::string RMSNorm::extra_repr() const {
  std::ostringstream os;
  os << param("weight").shape(0) << ", eps=" << detail::python_float_repr(eps_);
  return os.str();
}

mx::array RMSNorm::forward(const mx::array& x) {
  const mx::array& weight = param("weight");
  check_features("RMSNorm", x, weight.shape(0));
  return mx::fast::rms_norm(x, weight, static_cast<float>(eps_));
}

GroupNorm::GroupNorm(
    int num_groups,
    int dims,
    double eps,
    bool affine,
    bool pytorch_compatible)
    : num_groups_(num_groups),
      dims_(dims),
      eps_(eps),
      pytorch_compatible_(pytorch_compatible) {
  check_eps("GroupNorm", eps);
  if (num_groups < 1) {
    throw std::invalid_argument(
        "[GroupNorm] Expected num_groups >= 1 but received " +
        std::to_string(num_groups) + ".");
  }
  check_dims("GroupNorm", dims);
  if (dims % num_groups != 0) {
    std::ostringstream msg;
    msg << "[GroupNorm] Expected dims to be a multiple of num_groups but "
        << "received dims=" << dims << " and num_groups=" << num_groups << ".";
    throw std::invalid_argument(msg.str());
  }
  if (affine) {
    register_parameter("bias", mx::zeros({dims}));
    register_parameter("weight", mx::ones({dims}));
  }
}

std::string GroupNorm::extra_repr() const {
  std::ostringstream os;
  os << num_groups_ << ", " << dims_
     << ", eps=" << detail::python_float_repr(eps_)
     << ", affine=" << detail::python_bool(has("weight"))
     << ", pytorch_compatible=" << detail::python_bool(pytorch_compatible_);
  return os.str();
}

mx::array GroupNorm::forward(const mx::array& x) {
  if (x.ndim() < 2) {
    std::ostringstream msg;
    msg << "[GroupNorm] Expected input with at least 2 dimensions (N, ..., "
        << "dims) but received shape " << detail::shape_string(x.shape())
        << ".";
    throw std::invalid_argument(msg.str());
  }
  check_features("GroupNorm", x, dims_);
  int batch = x.shape(0);
  int group_size = dims_ / num_groups_;
  float eps = static_cast<float>(eps_);

  // Both groupings move each group to a row of shape (batch, num_groups, -1),
  // normalize the rows with the fused kernel and move the values back.
  mx::array y = x;
  if (pytorch_compatible_) {
    mx::array groups = mx::transpose(
        mx::reshape(x, {batch, -1, num_groups_, group_size}), {0, 2, 1, 3});
    mx::array rows = mx::reshape(groups, {batch, num_groups_, -1});
    mx::array normalized = mx::fast::layer_norm(rows, {}, {}, eps);
    y = mx::transpose(
        mx::reshape(normalized, {batch, num_groups_, -1, group_size}),
        {0, 2, 1, 3});
  } else {
    mx::array rows = mx::swapaxes(
        mx::reshape(x, {batch, -1, num_groups_}), 1, 2);
    mx::array normalized = mx::fast::layer_norm(rows, {}, {}, eps);
    y = mx::swapaxes(normalized, 1, 2);
  }
  return apply_affine(*this, mx::reshape(y, x.shape()));
}

InstanceNorm::InstanceNorm(int dims, double eps, bool affine)
    : dims_(dims), eps_(eps) {
  check_dims("InstanceNorm", dims);
  check_eps("InstanceNorm", eps);
  if (affine) {
    register_parameter("weight", mx::ones({dims}));
    register_parameter("bias", mx::zeros({dims}));
  }
}

std::string InstanceNorm::extra_repr() const {
  std::ostringstream os;
  os << dims_ << ", eps=" << detail::python_float_repr(eps_)
     << ", affine=" << detail::python_bool(has("weight"));
  return os.str();
}

mx::array InstanceNorm::forward(const mx::array& x) {
  if (x.ndim() < 3) {
    std::ostringstream msg;
    msg << "[InstanceNorm] Expected input with at least 3 dimensions (N, "
        << "..., dims) but received shape " << detail::shape_string(x.shape())
        << ".";
    throw std::invalid_argument(msg.str());
  }
  if (has("weight")) {
    check_features("InstanceNorm", x, dims_);
  }
  int batch = x.shape(0);
  int features = x.shape(-1);
  // Normalize each (sample, feature) row over the spatial axes.
  mx::array rows =
      mx::swapaxes(mx::reshape(x, {batch, -1, features}), 1, 2);
  mx::array normalized = mx::fast::layer_norm(
      rows, {}, {}, static_cast<float>(eps_));
  mx::array y = mx::reshape(mx::swapaxes(normalized, 1, 2), x.shape());
  return apply_affine(*this, y);
}

} // namespace rmlx::nn
