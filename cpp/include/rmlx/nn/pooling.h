// Max and average pooling over 1, 2 or 3 spatial dimensions, as in MLX
// Python's mlx/nn/layers/pooling.py. Inputs are channels-last: (N, L, C),
// (N, H, W, C) or (N, D, H, W, C).
#pragma once

#include <initializer_list>
#include <string>
#include <vector>

#include "rmlx/nn/module.h"
#include "rmlx/nn/sizes.h"

namespace rmlx::nn {

/**
 * The shared implementation of the pooling layers: pads the spatial axes
 * with a constant, takes sliding windows and reduces each with max or mean.
 */
class Pool : public UnaryModule {
 public:
  enum class Reduction { max, mean };

  std::string type_name() const override {
    return type_name_;
  }

  /** "kernel_size=(2, 2), stride=(2, 2), padding=(0, 0)", as MLX prints. */
  std::string extra_repr() const override;

  /** Pools x; throws std::invalid_argument on an input of the wrong rank. */
  mx::array forward(const mx::array& x) override;

  using UnaryModule::forward;

  const std::vector<int>& kernel_size() const {
    return kernel_size_;
  }
  const std::vector<int>& stride() const {
    return stride_;
  }
  const std::vector<int>& padding() const {
    return padding_;
  }

 protected:
  /**
   * Checks and stores the arguments for `dims` spatial dimensions. Throws
   * std::invalid_argument for a tuple of the wrong length, a kernel size or
   * stride that is not positive, or a negative padding.
   */
  Pool(
      std::string type_name,
      Reduction reduction,
      int dims,
      const IntOrTuple& kernel_size,
      const IntOrTuple& stride,
      const IntOrTuple& padding);

 private:
  std::string type_name_;
  Reduction reduction_;
  std::vector<int> kernel_size_;
  std::vector<int> stride_;
  std::vector<int> padding_;
};

// Each layer takes kernel_size, stride (default: kernel_size) and padding
// (default: 0), each as one int or one per spatial dimension. Max pooling
// pads with -inf and average pooling with zeros, so padded positions count
// in the average, as in MLX Python. Like MLX 0.32.4, a padding larger than
// half the kernel is accepted, and a window may then cover only padding. The
// initializer-list constructors make a braced kernel size such as
// MaxPool2d({2, 3}) unambiguous.

/** Max pooling over (N, L, C) inputs. */
class MaxPool1d : public Pool {
 public:
  explicit MaxPool1d(
      IntOrTuple kernel_size,
      IntOrTuple stride = {},
      IntOrTuple padding = 0)
      : Pool("MaxPool1d", Reduction::max, 1, kernel_size, stride, padding) {}

  explicit MaxPool1d(
      std::initializer_list<int> kernel_size,
      IntOrTuple stride = {},
      IntOrTuple padding = 0)
      : MaxPool1d(IntOrTuple(kernel_size), stride, padding) {}
};

/** Max pooling over (N, H, W, C) inputs. */
class MaxPool2d : public Pool {
 public:
  explicit MaxPool2d(
      IntOrTuple kernel_size,
      IntOrTuple stride = {},
      IntOrTuple padding = 0)
      : Pool("MaxPool2d", Reduction::max, 2, kernel_size, stride, padding) {}

  explicit MaxPool2d(
      std::initializer_list<int> kernel_size,
      IntOrTuple stride = {},
      IntOrTuple padding = 0)
      : MaxPool2d(IntOrTuple(kernel_size), stride, padding) {}
};

/** Max pooling over (N, D, H, W, C) inputs. */
class MaxPool3d : public Pool {
 public:
  explicit MaxPool3d(
      IntOrTuple kernel_size,
      IntOrTuple stride = {},
      IntOrTuple padding = 0)
      : Pool("MaxPool3d", Reduction::max, 3, kernel_size, stride, padding) {}

  explicit MaxPool3d(
      std::initializer_list<int> kernel_size,
      IntOrTuple stride = {},
      IntOrTuple padding = 0)
      : MaxPool3d(IntOrTuple(kernel_size), stride, padding) {}
};

/** Average pooling over (N, L, C) inputs. */
class AvgPool1d : public Pool {
 public:
  explicit AvgPool1d(
      IntOrTuple kernel_size,
      IntOrTuple stride = {},
      IntOrTuple padding = 0)
      : Pool("AvgPool1d", Reduction::mean, 1, kernel_size, stride, padding) {}

  explicit AvgPool1d(
      std::initializer_list<int> kernel_size,
      IntOrTuple stride = {},
      IntOrTuple padding = 0)
      : AvgPool1d(IntOrTuple(kernel_size), stride, padding) {}
};

/** Average pooling over (N, H, W, C) inputs. */
class AvgPool2d : public Pool {
 public:
  explicit AvgPool2d(
      IntOrTuple kernel_size,
      IntOrTuple stride = {},
      IntOrTuple padding = 0)
      : Pool("AvgPool2d", Reduction::mean, 2, kernel_size, stride, padding) {}

  explicit AvgPool2d(
      std::initializer_list<int> kernel_size,
      IntOrTuple stride = {},
      IntOrTuple padding = 0)
      : AvgPool2d(IntOrTuple(kernel_size), stride, padding) {}
};

/** Average pooling over (N, D, H, W, C) inputs. */
class AvgPool3d : public Pool {
 public:
  explicit AvgPool3d(
      IntOrTuple kernel_size,
      IntOrTuple stride = {},
      IntOrTuple padding = 0)
      : Pool("AvgPool3d", Reduction::mean, 3, kernel_size, stride, padding) {}

  explicit AvgPool3d(
      std::initializer_list<int> kernel_size,
      IntOrTuple stride = {},
      IntOrTuple padding = 0)
      : AvgPool3d(IntOrTuple(kernel_size), stride, padding) {}
};

} // namespace rmlx::nn
