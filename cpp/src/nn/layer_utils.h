// Helpers shared by the layer, activation and loss sources: message and repr
// formatting in MLX Python's spelling, and Python's weak scalar typing.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include <mlx/mlx.h>

namespace rmlx::nn::detail {

namespace mx = mlx::core;

/** Formats a shape as Python prints a tuple: "(2, 3)", "(4,)" or "()". */
inline std::string shape_string(const mx::Shape& shape) {
  std::ostringstream os;
  os << "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    os << (i ? ", " : "") << shape[i];
  }
  os << (shape.size() == 1 ? ",)" : ")");
  return os.str();
}

/** Formats a list of ints as Python prints a tuple: "(2, 1)" or "(3,)". */
inline std::string tuple_string(const std::vector<int>& values) {
  return shape_string(mx::Shape(values.begin(), values.end()));
}

/** Formats a bool as Python prints it, "True" or "False". */
inline std::string python_bool(bool value) {
  return value ? "True" : "False";
}

/**
 * Formats a double as Python's repr() does: the shortest digits that round
 * trip, in fixed notation with at least one decimal when the decimal
 * exponent is in [-4, 16), otherwise in scientific notation ("1e-05").
 */
inline std::string python_float_repr(double value) {
  if (std::isnan(value)) {
    return "nan";
  }
  if (std::isinf(value)) {
    return value > 0 ? "inf" : "-inf";
  }
  char buffer[64];
  auto result = std::to_chars(
      buffer, buffer + sizeof(buffer), value, std::chars_format::scientific);
  std::string scientific(buffer, result.ptr);

  // Split "-1.2345e-05" into sign, digits "12345" and exponent -5.
  size_t e = scientific.find('e');
  int exponent = std::atoi(scientific.c_str() + e + 1);
  std::string mantissa = scientific.substr(0, e);
  std::string sign;
  if (mantissa[0] == '-') {
    sign = "-";
    mantissa = mantissa.substr(1);
  }
  std::string digits;
  for (char c : mantissa) {
    if (c != '.') {
      digits += c;
    }
  }

  if (exponent < -4 || exponent >= 16) {
    std::string out = sign + digits.substr(0, 1);
    if (digits.size() > 1) {
      out += "." + digits.substr(1);
    }
    char exponent_text[8];
    std::snprintf(exponent_text, sizeof(exponent_text), "e%+03d", exponent);
    return out + exponent_text;
  }
  if (exponent < 0) {
    return sign + "0." + std::string(-exponent - 1, '0') + digits;
  }
  int integer_digits = exponent + 1;
  if (static_cast<int>(digits.size()) <= integer_digits) {
    digits += std::string(integer_digits - digits.size(), '0');
    return sign + digits + ".0";
  }
  return sign + digits.substr(0, integer_digits) + "." +
      digits.substr(integer_digits);
}

/**
 * Returns a Python float scalar as MLX Python types it next to `like`: in the
 * dtype of a floating-point array, otherwise float32.
 */
inline mx::array float_scalar(double value, const mx::array& like) {
  mx::Dtype dtype =
      mx::issubdtype(like.dtype(), mx::floating) ? like.dtype() : mx::float32;
  return mx::array(value, dtype);
}

/**
 * Returns a Python int scalar as MLX Python types it next to `like`: in the
 * dtype of a numeric array, and int32 next to a bool array.
 */
inline mx::array int_scalar(int value, const mx::array& like) {
  mx::Dtype dtype = like.dtype() == mx::bool_ ? mx::int32 : like.dtype();
  return mx::array(value, dtype);
}

} // namespace rmlx::nn::detail
