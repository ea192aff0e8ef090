// Shared helpers for the layer, activation and loss tests: fixture loading,
// array comparison and finite-difference gradients.
#pragma once

#include <functional>
#include <stdexcept>
#include <string>
#include <unordered_map>

#include <mlx/mlx.h>

#include "rmlx/nn/custom_kernels.h"

namespace rmlx::test {

namespace mx = mlx::core;

/** The arrays and metadata of one safetensors file in RMLX_FIXTURE_DIR. */
class Fixture {
 public:
  explicit Fixture(const std::string& name) {
    auto [arrays, metadata] = mx::load_safetensors(
        std::string(RMLX_FIXTURE_DIR) + "/" + name + ".safetensors");
    arrays_ = std::move(arrays);
    metadata_ = std::move(metadata);
  }

  /** The array stored under key; throws std::out_of_range if absent. */
  const mx::array& operator[](const std::string& key) const {
    auto it = arrays_.find(key);
    if (it == arrays_.end()) {
      throw std::out_of_range("Fixture has no array named '" + key + "'.");
    }
    return it->second;
  }

  /** True when an array is stored under key. */
  bool has(const std::string& key) const {
    return arrays_.count(key) > 0;
  }

  /** The number of arrays whose key starts with prefix. */
  size_t count(const std::string& prefix) const {
    size_t n = 0;
    for (const auto& [key, value] : arrays_) {
      n += key.rfind(prefix, 0) == 0;
    }
    return n;
  }

  const std::unordered_map<std::string, std::string>& metadata() const {
    return metadata_;
  }

 private:
  std::unordered_map<std::string, mx::array> arrays_;
  std::unordered_map<std::string, std::string> metadata_;
};

/**
 * True when a and b have the same shape and are elementwise close, with NaN
 * equal to NaN and infinities equal when their signs match.
 */
inline bool arrays_close(
    const mx::array& a,
    const mx::array& b,
    double rtol = 1e-5,
    double atol = 1e-6) {
  if (a.shape() != b.shape()) {
    return false;
  }
  return mx::allclose(a, b, rtol, atol, true).item<bool>();
}

/** True when a and b have the same shape, dtype and values. */
inline bool arrays_equal(const mx::array& a, const mx::array& b) {
  return a.dtype() == b.dtype() && mx::array_equal(a, b, true).item<bool>();
}

/**
 * Returns the central-difference gradient of a scalar function f at x,
 * computed in float64 with the given step.
 */
inline mx::array numeric_gradient(
    const std::function<mx::array(const mx::array&)>& f,
    const mx::array& x,
    double step = 1e-2) {
  mx::array x64 = mx::astype(x, mx::float64);
  mx::array flat = mx::flatten(x64);
  std::vector<double> gradient(flat.size());
  for (size_t i = 0; i < flat.size(); ++i) {
    mx::array delta = mx::multiply(
        mx::array(step, mx::float64),
        mx::astype(
            mx::equal(
                mx::arange(static_cast<int>(flat.size())),
                mx::array(static_cast<int>(i))),
            mx::float64));
    mx::array plus = mx::reshape(mx::add(flat, delta), x.shape());
    mx::array minus = mx::reshape(mx::subtract(flat, delta), x.shape());
    double f_plus = mx::astype(f(plus), mx::float64).item<double>();
    double f_minus = mx::astype(f(minus), mx::float64).item<double>();
    gradient[i] = (f_plus - f_minus) / (2 * step);
  }
  return mx::array(gradient.begin(), x.shape(), mx::float64);
}

/**
 * True when mx::grad of f at x, taken in float64, agrees with the
 * central-difference gradient within rtol and atol.
 *
 * On the CPU, MLX 0.32.4 computes float64 exp, erf and fast::layer_norm to
 * about float32 accuracy: their errors against NumPy reach about 1e-7. The
 * default step of 1e-2 keeps both that rounding and the O(step^2)
 * truncation error near 1e-5.
 */
inline bool gradient_matches(
    const std::function<mx::array(const mx::array&)>& f,
    const mx::array& x,
    double rtol = 1e-3,
    double atol = 1e-4,
    double step = 1e-2) {
  mx::array x64 = mx::astype(x, mx::float64);
  mx::array analytic = mx::grad(f)(x64);
  mx::array numeric = numeric_gradient(f, x64, step);
  return arrays_close(analytic, numeric, rtol, atol);
}

/**
 * Sets rmlx::nn::set_custom_kernels_enabled() for one scope and restores
 * the previous setting when it ends, so a failing check cannot leak it.
 */
class CustomKernelsScope {
 public:
  explicit CustomKernelsScope(bool enabled)
      : previous_(rmlx::nn::custom_kernels_enabled()) {
    rmlx::nn::set_custom_kernels_enabled(enabled);
  }
  ~CustomKernelsScope() {
    rmlx::nn::set_custom_kernels_enabled(previous_);
  }
  CustomKernelsScope(const CustomKernelsScope&) = delete;
  CustomKernelsScope& operator=(const CustomKernelsScope&) = delete;

 private:
  bool previous_;
};

} // namespace rmlx::test
