// Helpers shared by the optimizer sources.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

#include <mlx/mlx.h>

namespace rmlx::optimizers::detail {

namespace mx = mlx::core;

/**
 * A Python float combined with an array takes the array's floating dtype
 * (MLX's weak scalar rule), after a conversion to float as MLX Python does.
 */
inline mx::array weak_scalar(double value, const mx::array& like) {
  auto dtype =
      mx::issubdtype(like.dtype(), mx::floating) ? like.dtype() : mx::float32;
  return mx::array(static_cast<float>(value), dtype);
}

/** Throws std::invalid_argument "[<type>] <name> must be <rule>, but got <value>." */
[[noreturn]] inline void throw_option(
    const std::string& type_name,
    const std::string& name,
    const std::string& rule,
    double value) {
  std::ostringstream msg;
  msg << "[" << type_name << "] " << name << " must be " << rule
      << ", but got " << value << ".";
  throw std::invalid_argument(msg.str());
}

/** Checks that 0 <= value < 1. NaN fails. */
inline void check_unit_interval(
    const std::string& type_name,
    const std::string& name,
    double value) {
  if (!(value >= 0.0 && value < 1.0)) {
    throw_option(type_name, name, "in [0, 1)", value);
  }
}

/** Checks that value > 0. NaN fails. */
inline void check_positive(
    const std::string& type_name,
    const std::string& name,
    double value) {
  if (!(value > 0.0)) {
    throw_option(type_name, name, "> 0", value);
  }
}

/** Checks that value >= 0. NaN fails. */
inline void check_non_negative(
    const std::string& type_name,
    const std::string& name,
    double value) {
  if (!(value >= 0.0)) {
    throw_option(type_name, name, ">= 0", value);
  }
}

} // namespace rmlx::optimizers::detail
