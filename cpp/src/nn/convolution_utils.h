// Argument checks and the transposed convolution shared by the convolution
// layers (convolution.cpp) and the free functions (convolution_ops.cpp).
// The functions that throw take the caller's name, a layer or a function,
// and put it in brackets at the start of their error messages.
#pragma once

#include <string>
#include <vector>

#include <mlx/mlx.h>

namespace rmlx::nn::detail {

namespace mx = mlx::core;

/** Formats a size argument: an int for one value, otherwise a tuple. */
std::string size_string(const std::vector<int>& values);

/** Throws std::invalid_argument with "[caller] text". */
[[noreturn]] void throw_invalid(
    const std::string& caller,
    const std::string& text);

/** Checks that every value of a size argument is at least minimum. */
void check_minimum(
    const std::string& caller,
    const std::string& argument,
    const std::vector<int>& values,
    int minimum);

/**
 * Checks that output_padding is non-negative and that each value is smaller
 * than the stride or the dilation of its dimension.
 */
void check_output_padding(
    const std::string& caller,
    const std::vector<int>& output_padding,
    const std::vector<int>& stride,
    const std::vector<int>& dilation);

/**
 * Applies the transposed convolution of rmlx::nn::conv_transpose(), which
 * the ConvTranspose layers share, with errors that name `caller`.
 */
mx::array conv_transpose(
    const std::string& caller,
    const mx::array& x,
    const mx::array& weight,
    const std::vector<int>& stride,
    const std::vector<int>& padding,
    const std::vector<int>& dilation,
    const std::vector<int>& output_padding,
    int groups);

} // namespace rmlx::nn::detail
