// Gradient clipping by global norm.
#pragma once

#include "rmlx/optimizers/optimizers.h"

namespace rmlx::optimizers {

/** The result of clip_grad_norm(). */
struct ClippedGradients {
  /** The gradients, scaled down when their norm exceeded the maximum. */
  NamedArrays gradients;
  /** The global L2 norm of the gradients before clipping. */
  mx::array total_norm;
};

/**
 * Scales all gradients by min(1, max_norm / (norm + 1e-6)), where norm is
 * the L2 norm of all of them together, as MLX Python's clip_grad_norm
 * does. float16 squares are summed in float32. Floating gradients keep
 * their dtype. Throws std::invalid_argument when max_norm is negative or
 * NaN.
 */
ClippedGradients clip_grad_norm(const NamedArrays& gradients, double max_norm);

} // namespace rmlx::optimizers
