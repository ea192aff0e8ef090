// Initializers of MLX Python's mlx.nn.init: each returns a new array of the
// given shape. Random ones draw their keys from rmlx::random::next_key(),
// so after mx::random::seed(s) they equal MLX Python's draws after
// mx.random.seed(s) made in the same order.
#pragma once

#include <cstdint>
#include <utility>

#include <mlx/mlx.h>

namespace rmlx::nn::init {

namespace mx = mlx::core;

/** Which fan He initializers divide by. */
enum class FanMode { fan_in, fan_out };

/**
 * (fan_in, fan_out) of a weight: shape[-1] and shape[0], each times the
 * product of the dimensions in between. Throws std::invalid_argument for
 * fewer than two dimensions.
 */
std::pair<int64_t, int64_t> fan_in_fan_out(const mx::Shape& shape);

/** An array filled with `value`. */
mx::array constant(
    const mx::Shape& shape,
    double value,
    mx::Dtype dtype = mx::float32);

/** Draws from N(mean, std^2). Throws for a negative std. */
mx::array normal(
    const mx::Shape& shape,
    double mean = 0.0,
    double std = 1.0,
    mx::Dtype dtype = mx::float32);

/** Draws from U[low, high). Throws when high < low. */
mx::array uniform(
    const mx::Shape& shape,
    double low = 0.0,
    double high = 1.0,
    mx::Dtype dtype = mx::float32);

/** The identity matrix; throws unless the shape is square and 2-D. */
mx::array identity(const mx::Shape& shape, mx::Dtype dtype = mx::float32);

/** Draws from N(0, s^2) with s = gain sqrt(2 / (fan_in + fan_out)). */
mx::array glorot_normal(
    const mx::Shape& shape,
    double gain = 1.0,
    mx::Dtype dtype = mx::float32);

/** Draws from U[-l, l) with l = gain sqrt(6 / (fan_in + fan_out)). */
mx::array glorot_uniform(
    const mx::Shape& shape,
    double gain = 1.0,
    mx::Dtype dtype = mx::float32);

/** Draws from N(0, s^2) with s = gain / sqrt(fan). */
mx::array he_normal(
    const mx::Shape& shape,
    FanMode mode = FanMode::fan_in,
    double gain = 1.0,
    mx::Dtype dtype = mx::float32);

/** Draws from U[-l, l) with l = gain sqrt(3 / fan). */
mx::array he_uniform(
    const mx::Shape& shape,
    FanMode mode = FanMode::fan_in,
    double gain = 1.0,
    mx::Dtype dtype = mx::float32);

/**
 * Draws a 2-D array from N(mean, std^2) and zeros ceil(sparsity * columns)
 * randomly chosen entries of each row. Throws unless the shape is 2-D and
 * sparsity is in [0, 1].
 */
mx::array sparse(
    const mx::Shape& shape,
    double sparsity,
    double mean = 0.0,
    double std = 1.0,
    mx::Dtype dtype = mx::float32);

/**
 * gain times the first rows and columns of the Q factor of a square
 * standard normal matrix of side max(rows, columns), with the signs of
 * its columns fixed by R's diagonal. Rows or columns, whichever are fewer,
 * are orthonormal. Throws unless the shape is 2-D.
 */
mx::array orthogonal(
    const mx::Shape& shape,
    double gain = 1.0,
    mx::Dtype dtype = mx::float32);

} // namespace rmlx::nn::init
