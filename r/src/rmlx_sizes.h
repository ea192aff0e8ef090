// Size arguments of the spatial layers, as R passes them.
#pragma once

#include <vector>

#include <cpp11.hpp>  // cpp11::integers

#include "rmlx/nn/sizes.h"

/** Converts an R size: one value stays an int (printed as MLX prints an
 * int), several become a tuple, and none gives an empty size (a pooling
 * stride that defaults to the kernel size). */
inline rmlx::nn::IntOrTuple rmlx_size_of(cpp11::integers x) {
  if (x.size() == 0) {
    return rmlx::nn::IntOrTuple();
  }
  if (x.size() == 1) {
    return rmlx::nn::IntOrTuple(static_cast<int>(x[0]));
  }
  return rmlx::nn::IntOrTuple(std::vector<int>(x.begin(), x.end()));
}
