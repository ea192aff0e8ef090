// A switch between this library's own CPU kernels and MLX's operations.
#pragma once

namespace rmlx::nn {

/**
 * Sets whether layers use this library's own CPU kernels where they apply:
 * convolution as unfold() plus a matrix product or by Winograd's
 * F(2x2, 3x3) for 3x3 kernels, the pooling kernels, the whole-sequence
 * LSTM and GRU kernels (recurrent_sequence.h), the attention kernel of
 * MultiHeadAttention without a cache and the LayerNorm kernel.
 * The default is true. With false every layer composes MLX operations as
 * MLX Python does, which tests and benchmarks use to compare the two. The
 * choice is made when a layer builds its graph, so a compiled function
 * keeps the path it was traced with.
 */
void set_custom_kernels_enabled(bool enabled);

/** Returns the setting of set_custom_kernels_enabled(). */
bool custom_kernels_enabled();

} // namespace rmlx::nn
