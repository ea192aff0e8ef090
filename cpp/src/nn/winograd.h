// Two-dimensional 3x3 convolution by Winograd's minimal filtering
// algorithm F(2x2, 3x3). Each 2x2 block of output comes
// from a 4x4 tile of input through 16 element-wise products in a transformed
// space instead of 36, so the matrix products of a layer need 2.25x fewer
// multiplications than unfold plus one product.
#pragma once

#include <vector>

#include <mlx/mlx.h>

namespace rmlx::nn::detail {

namespace mx = mlx::core;

/**
 * True when winograd_conv2d() computes conv() of arguments that already
 * take the unfold path (float32 on the CPU with the custom kernels enabled,
 * consistent shapes, at least one output position): a 2-D (O, 3, 3, C)
 * weight at stride 1 and dilation 1 with one group, and enough channels on
 * both sides for the transforms to pay off.
 */
bool winograd_applies(
    const mx::array& weight,
    const std::vector<int>& stride,
    const std::vector<int>& dilation,
    int groups);

/**
 * Convolves (N, H, W, C) `x` with the (O, 3, 3, C) `weight` at stride 1,
 * with `padding` zeros on each side of both spatial axes. It returns the
 * same (N, H + 2 p0 - 2, W + 2 p1 - 2, O) array as conv(), up to rounding,
 * and is differentiable in both arguments.
 */
mx::array winograd_conv2d(
    const mx::array& x,
    const mx::array& weight,
    const std::vector<int>& padding);

} // namespace rmlx::nn::detail
