// Max and average pooling as MLX primitives with their own CPU kernels.
// MLX Python's pooling layers compose strided windows with a reduction.
// That is fast forward, but its gradient goes through as_strided and a
// masked reduction, which took 4x the forward time on MLX 0.32.4's CPU
// backend. These kernels compute the same numbers directly.
#pragma once

#include <vector>

#include <mlx/mlx.h>
#include <mlx/primitives.h>

namespace rmlx::nn::detail {

namespace mx = mlx::core;

enum class PoolMode { max, mean };

struct PoolParameters {
  PoolMode mode;
  std::vector<int> kernel_size;
  std::vector<int> stride;
  std::vector<int> padding;

  bool operator==(const PoolParameters&) const = default;
};

/**
 * Pools float32 x of shape (N, S..., C) into `output_shape`. Max pooling
 * treats padding as -inf and propagates NaN; average pooling treats it as
 * zeros and multiplies the window sum by 1 / prod(kernel_size), as MLX's
 * mean does. The caller has checked the arguments and computed the output
 * shape.
 */
mx::array window_pool(
    const mx::array& x,
    const mx::Shape& output_shape,
    const PoolParameters& parameters,
    mx::Stream stream);

/** The primitive behind window_pool(). */
class WindowPool : public mx::UnaryPrimitive {
 public:
  WindowPool(mx::Stream stream, PoolParameters parameters)
      : mx::UnaryPrimitive(stream), parameters_(std::move(parameters)) {}

  void eval_cpu(const std::vector<mx::array>& inputs, mx::array& output)
      override;
  void eval_gpu(const std::vector<mx::array>& inputs, mx::array& output)
      override;
  std::vector<mx::array> vjp(
      const std::vector<mx::array>& primals,
      const std::vector<mx::array>& cotangents,
      const std::vector<int>& argnums,
      const std::vector<mx::array>& outputs) override;
  const char* name() const override {
    return "WindowPool";
  }
  bool is_equivalent(const mx::Primitive& other) const override;

 private:
  PoolParameters parameters_;
};

/**
 * The gradient of WindowPool with respect to its input, from inputs (x, y,
 * cotangent). For max pooling each window's cotangent is split evenly
 * between the positions equal to the window's maximum, as MLX's max
 * reduction does. A window whose maximum is NaN passes NaN to all its
 * positions. It has no derivatives itself.
 */
class WindowPoolGrad : public mx::UnaryPrimitive {
 public:
  WindowPoolGrad(mx::Stream stream, PoolParameters parameters)
      : mx::UnaryPrimitive(stream), parameters_(std::move(parameters)) {}

  void eval_cpu(const std::vector<mx::array>& inputs, mx::array& output)
      override;
  void eval_gpu(const std::vector<mx::array>& inputs, mx::array& output)
      override;
  const char* name() const override {
    return "WindowPoolGrad";
  }
  bool is_equivalent(const mx::Primitive& other) const override;

 private:
  PoolParameters parameters_;
};

} // namespace rmlx::nn::detail
