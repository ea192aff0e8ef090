// Layer normalization over the last axis on the CPU for float32, as one
// kernel forward and one backward. MLX 0.32.4's CPU build has no kernel for
// mx::fast::layer_norm: it composes about ten operations forward and twenty
// for the gradient, each a pass over the whole array.
#pragma once

#include <optional>

#include <mlx/mlx.h>

namespace rmlx::nn::detail {

namespace mx = mlx::core;

/**
 * Returns mx::fast::layer_norm(x, weight, bias, eps): each row along the
 * last axis minus its mean, divided by sqrt(variance + eps), times weight
 * plus bias. Float32 inputs on the CPU with the custom kernels enabled run
 * as Rmlx's kernel, with the gradients of x, weight and bias from a second
 * one. Anything else goes to mx::fast::layer_norm.
 */
mx::array layer_norm(
    const mx::array& x,
    const std::optional<mx::array>& weight,
    const std::optional<mx::array>& bias,
    float eps);

} // namespace rmlx::nn::detail
