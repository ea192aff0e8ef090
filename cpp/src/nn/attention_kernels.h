// Scaled dot-product attention on the CPU for float32 heads kept in the
// projections' own (batch, length, heads, head_dims) layout. Each batch
// and head calls the BLAS on strided views, so the heads are never
// transposed to (batch, heads, length, head_dims) and back, and the softmax
// runs with a vectorized exp. MLX's CPU attention is its generic
// composition: transposes, products, then a softmax whose exp runs one
// element at a time.
#pragma once

#include <optional>

#include <mlx/mlx.h>

namespace rmlx::nn::detail {

namespace mx = mlx::core;

/**
 * Returns true when head_attention() can compute this attention. That needs
 * the custom kernels enabled, the CPU stream and a loaded cblas_sgemm. It
 * also needs float32 q, k and v of shapes (B, Lq, H, D), (B, Lk, H, D) and
 * (B, Lk, H, Dv). The mask, if any, must be boolean, float16, bfloat16 or
 * float32, of rank at most 4, and of shape (Lq, Lk) after its leading axes
 * of size 1.
 */
bool head_attention_applies(
    const mx::array& q,
    const mx::array& k,
    const mx::array& v,
    const std::optional<mx::array>& mask,
    mx::Stream stream);

/**
 * Returns softmax(scale * q k^T + mask) v for every batch and head, of
 * shape (B, Lq, H, Dv), the value of
 * mx::fast::scaled_dot_product_attention on the transposed heads. A float
 * mask is added to the scores, and a boolean one keeps the scores where it
 * is true and replaces the others by the lowest float32, as MLX does. The
 * gradients with respect to q, k, v and a float mask come from a second
 * primitive. Call only where head_attention_applies() is true.
 */
mx::array head_attention(
    const mx::array& q,
    const mx::array& k,
    const mx::array& v,
    float scale,
    const std::optional<mx::array>& mask,
    mx::Stream stream);

} // namespace rmlx::nn::detail
