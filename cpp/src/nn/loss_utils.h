// Argument checks and the reduction shared by the loss sources. Each check
// throws std::invalid_argument with a message that opens with the loss name
// in brackets, as MLX's own ops do.
#pragma once

#include <cmath>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>

#include <mlx/mlx.h>

#include "layer_utils.h"

namespace rmlx::nn::detail {

namespace mx = mlx::core;

inline void check_reduction(const char* loss, const std::string& reduction) {
  if (reduction != "none" && reduction != "mean" && reduction != "sum") {
    std::ostringstream msg;
    msg << "[" << loss << "] Expected reduction 'none', 'mean' or 'sum' but "
        << "received '" << reduction << "'.";
    throw std::invalid_argument(msg.str());
  }
}

/** Applies a checked reduction: the mean or sum of all elements, or none. */
inline mx::array reduce(
    const mx::array& loss,
    const std::string& reduction,
    mx::StreamOrDevice s) {
  if (reduction == "mean") {
    return mx::mean(loss, false, s);
  }
  if (reduction == "sum") {
    return mx::sum(loss, false, s);
  }
  return loss;
}

/** Throws unless `first` and `second` have the same shape. */
inline void check_same_shape(
    const char* loss,
    const char* first_name,
    const mx::array& first,
    const char* second_name,
    const mx::array& second) {
  if (first.shape() != second.shape()) {
    std::ostringstream msg;
    msg << "[" << loss << "] Expected " << first_name << " and "
        << second_name << " of the same shape but received " << first_name
        << " shape " << shape_string(first.shape()) << " and " << second_name
        << " shape " << shape_string(second.shape()) << ".";
    throw std::invalid_argument(msg.str());
  }
}

inline void check_same_shape(
    const char* loss,
    const char* first_name,
    const mx::array& first,
    const mx::array& targets) {
  check_same_shape(loss, first_name, first, "targets", targets);
}

/** Checks that axis is in [-ndim, ndim) of `x` and returns it in [0, ndim). */
inline int check_axis(
    const char* loss,
    const char* name,
    const mx::array& x,
    int axis) {
  int ndim = static_cast<int>(x.ndim());
  if (axis < -ndim || axis >= ndim) {
    std::ostringstream msg;
    msg << "[" << loss << "] Expected axis in [" << -ndim << ", " << ndim
        << ") for " << name << " of shape " << shape_string(x.shape())
        << " but received " << axis << ".";
    throw std::invalid_argument(msg.str());
  }
  return axis < 0 ? axis + ndim : axis;
}

/**
 * Throws unless `value` is finite and above `lower` (or at least `lower`
 * when `inclusive`). `name` is the argument in the message.
 */
inline void check_lower_bound(
    const char* loss,
    const char* name,
    double value,
    double lower,
    bool inclusive) {
  bool ok = std::isfinite(value) && (inclusive ? value >= lower : value > lower);
  if (!ok) {
    std::ostringstream msg;
    msg << "[" << loss << "] Expected a finite " << name
        << (inclusive ? " of at least " : " greater than ")
        << python_float_repr(lower) << " but received "
        << python_float_repr(value) << ".";
    throw std::invalid_argument(msg.str());
  }
}

inline void check_finite(const char* loss, const char* name, double value) {
  if (!std::isfinite(value)) {
    std::ostringstream msg;
    msg << "[" << loss << "] Expected a finite " << name << " but received "
        << python_float_repr(value) << ".";
    throw std::invalid_argument(msg.str());
  }
}

} // namespace rmlx::nn::detail
