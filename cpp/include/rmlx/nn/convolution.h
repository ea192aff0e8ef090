// Convolution and transposed convolution layers, as in MLX Python's
// mlx/nn/layers/convolution.py and convolution_transpose.py.
//
// Inputs are channels last: (N, L, C), (N, H, W, C) or (N, D, H, W, C).
// Weights have shape (out_channels, kernel..., in_channels / groups) and are
// drawn from U(-k, k) with k = 1 / sqrt(in_channels / groups *
// prod(kernel_size)), as in MLX Python 0.32.4, from MLX's default key
// stream, so after mx::random::seed(s) they equal MLX Python's. Biases start
// at zero and draw no random numbers.
#pragma once

#include <initializer_list>
#include <string>
#include <vector>

#include "rmlx/nn/module.h"
#include "rmlx/nn/sizes.h"

namespace rmlx::nn {

/**
 * Convolves x, shape (N, S_1, ..., S_d, C_in) with d = 1, 2 or 3, with
 * weight (C_out, K_1, ..., K_d, C_in / groups), as mx::conv_general does
 * without input dilation or flipping. Every size vector has d entries.
 *
 * On the CPU, for float32 x and weight and groups 1, it runs as unfold()
 * and one matrix product: the same values up to float32 rounding, but a
 * gradient several times faster than mx::conv_general's on MLX 0.32.4's CPU
 * backend. A 2-D 3x3 kernel at stride 1 and dilation 1 with at least 8
 * input and 8 output channels takes Winograd's F(2x2, 3x3) instead, which
 * needs 2.25x fewer multiplications (setting the environment variable
 * RMLX_WINOGRAD to 0 turns that path off). Otherwise, and for every input
 * that mx::conv_general rejects, it calls mx::conv_general, so its errors
 * are MLX's.
 *
 * NOTE: Winograd's transforms add and subtract input values, so on that
 * path an infinite input value gives NaN at most of the outputs it
 * reaches, where mx::conv_general gives +-inf.
 */
mx::array conv(
    const mx::array& x,
    const mx::array& weight,
    const std::vector<int>& stride,
    const std::vector<int>& padding,
    const std::vector<int>& dilation,
    int groups = 1);

/**
 * Applies the transposed convolution of x, shape (N, S_1, ..., S_d, C_in)
 * with d = 1, 2 or 3, with weight (C_out, K_1, ..., K_d, C_in / groups), as
 * MLX Python 0.32.4's mx.conv_transpose1d/2d/3d do. The output has shape
 * (N, O_1, ..., O_d, C_out) with O_i = (S_i - 1) * stride_i - 2 *
 * padding_i + dilation_i * (K_i - 1) + output_padding_i + 1. Every size
 * vector has d entries.
 *
 * Throws std::invalid_argument, naming conv_transpose, for size vectors of
 * different lengths, a stride or dilation below 1, a negative padding, an
 * output_padding that is negative or not smaller than the stride or the
 * dilation of its dimension, or groups below 1. Other invalid input (shapes,
 * channels that groups does not divide, groups > 1 with d = 3, which MLX
 * 0.32.4 does not support) gets MLX's own error.
 *
 * On the CPU, for float32 x and weight and groups 1, it runs as one matrix
 * product and fold(), whose forward and gradient took about 1% of MLX
 * 0.32.4's time on the CPU (N=32, 16x16, 64 to 32 channels, stride 2).
 * Otherwise it calls MLX, and computes a non-zero output_padding by
 * cropping a transposed convolution without padding, because MLX 0.32.4's
 * own output_padding gives a gradient of the wrong shape.
 */
mx::array conv_transpose(
    const mx::array& x,
    const mx::array& weight,
    const std::vector<int>& stride,
    const std::vector<int>& padding,
    const std::vector<int>& dilation,
    const std::vector<int>& output_padding,
    int groups = 1);

/**
 * A 1-D convolution over input of shape (N, L, in_channels), returning
 * (N, L_out, out_channels). The weight has shape (out_channels, kernel_size,
 * in_channels / groups).
 */
class Conv1d : public UnaryModule {
 public:
  /**
   * Creates the layer. Throws std::invalid_argument for non-positive
   * channels, kernel_size, stride, dilation or groups, negative padding, or
   * channel counts that groups does not divide.
   */
  Conv1d(
      int in_channels,
      int out_channels,
      int kernel_size,
      int stride = 1,
      int padding = 0,
      int dilation = 1,
      int groups = 1,
      bool bias = true);

  std::string type_name() const override {
    return "Conv1d";
  }

  /**
   * "4, 6, kernel_size=3, stride=1, padding=0, dilation=1, groups=1,
   * bias=True"
   */
  std::string extra_repr() const override;

  /** Convolves x of shape (N, L, in_channels) and adds the bias. */
  mx::array forward(const mx::array& x) override;

  using UnaryModule::forward;

 private:
  int stride_;
  int padding_;
  int dilation_;
  int groups_;
};

/**
 * A 2-D convolution over input of shape (N, H, W, in_channels), returning
 * (N, H_out, W_out, out_channels). The weight has shape (out_channels,
 * kernel_h, kernel_w, in_channels / groups).
 */
class Conv2d : public UnaryModule {
 public:
  /**
   * Creates the layer. Size arguments take one int or two values. Throws
   * std::invalid_argument for a size list of another length, non-positive
   * channels, kernel sizes, strides, dilations or groups, negative padding,
   * or channel counts that groups does not divide.
   */
  Conv2d(
      int in_channels,
      int out_channels,
      IntOrTuple kernel_size,
      IntOrTuple stride = 1,
      IntOrTuple padding = 0,
      IntOrTuple dilation = 1,
      int groups = 1,
      bool bias = true);

  std::string type_name() const override {
    return "Conv2d";
  }

  /**
   * "4, 6, kernel_size=(3, 3), stride=(1, 1), padding=(0, 0), dilation=1,
   * groups=1, bias=True", with dilation printed as it was given.
   */
  std::string extra_repr() const override;

  /** Convolves x of shape (N, H, W, in_channels) and adds the bias. */
  mx::array forward(const mx::array& x) override;

  using UnaryModule::forward;

 private:
  std::vector<int> stride_;
  std::vector<int> padding_;
  IntOrTuple dilation_;
  int groups_;
};

/**
 * A 3-D convolution over input of shape (N, D, H, W, in_channels), returning
 * (N, D_out, H_out, W_out, out_channels). The weight has shape
 * (out_channels, kernel_d, kernel_h, kernel_w, in_channels). MLX Python's
 * Conv3d has no groups argument, so neither does this one.
 */
class Conv3d : public UnaryModule {
 public:
  /**
   * Creates the layer. Size arguments take one int or three values. Throws
   * std::invalid_argument for a size list of another length, non-positive
   * channels, kernel sizes, strides or dilations, or negative padding.
   */
  Conv3d(
      int in_channels,
      int out_channels,
      IntOrTuple kernel_size,
      IntOrTuple stride = 1,
      IntOrTuple padding = 0,
      IntOrTuple dilation = 1,
      bool bias = true);

  std::string type_name() const override {
    return "Conv3d";
  }

  /**
   * "2, 3, kernel_size=(2, 2, 2), stride=(1, 1, 1), padding=(0, 0, 0),
   * dilation=1, bias=True", with dilation printed as it was given.
   */
  std::string extra_repr() const override;

  /** Convolves x of shape (N, D, H, W, in_channels) and adds the bias. */
  mx::array forward(const mx::array& x) override;

  using UnaryModule::forward;

 private:
  std::vector<int> stride_;
  std::vector<int> padding_;
  IntOrTuple dilation_;
};

/**
 * A 1-D transposed convolution over input of shape (N, L, in_channels),
 * returning (N, L_out, out_channels) with L_out = (L - 1) * stride -
 * 2 * padding + dilation * (kernel_size - 1) + output_padding + 1. The
 * weight has shape (out_channels, kernel_size, in_channels).
 */
class ConvTranspose1d : public UnaryModule {
 public:
  /**
   * Creates the layer. Throws std::invalid_argument for non-positive
   * channels, kernel_size, stride or dilation, negative padding or
   * output_padding, or an output_padding not smaller than stride or
   * dilation.
   */
  ConvTranspose1d(
      int in_channels,
      int out_channels,
      int kernel_size,
      int stride = 1,
      int padding = 0,
      int dilation = 1,
      int output_padding = 0,
      bool bias = true);

  std::string type_name() const override {
    return "ConvTranspose1d";
  }

  /**
   * "4, 3, kernel_size=3, stride=1, padding=0, dilation=1, output_padding=0,
   * bias=True"
   */
  std::string extra_repr() const override;

  /** Applies the transposed convolution to x and adds the bias. */
  mx::array forward(const mx::array& x) override;

  using UnaryModule::forward;

 private:
  int stride_;
  int padding_;
  int dilation_;
  int output_padding_;
};

/**
 * A 2-D transposed convolution over input of shape (N, H, W, in_channels),
 * returning (N, H_out, W_out, out_channels). The weight has shape
 * (out_channels, kernel_h, kernel_w, in_channels).
 */
class ConvTranspose2d : public UnaryModule {
 public:
  /**
   * Creates the layer. Size arguments take one int or two values. Throws
   * std::invalid_argument as ConvTranspose1d does, per dimension, and for a
   * size list of another length.
   */
  ConvTranspose2d(
      int in_channels,
      int out_channels,
      IntOrTuple kernel_size,
      IntOrTuple stride = 1,
      IntOrTuple padding = 0,
      IntOrTuple dilation = 1,
      IntOrTuple output_padding = 0,
      bool bias = true);

  std::string type_name() const override {
    return "ConvTranspose2d";
  }

  /**
   * "3, 2, kernel_size=(3, 3), stride=(1, 1), padding=(0, 0), dilation=1,
   * output_padding=(0, 0), bias=True", with dilation printed as given.
   */
  std::string extra_repr() const override;

  /** Applies the transposed convolution to x and adds the bias. */
  mx::array forward(const mx::array& x) override;

  using UnaryModule::forward;

 private:
  std::vector<int> stride_;
  std::vector<int> padding_;
  IntOrTuple dilation_;
  std::vector<int> output_padding_;
};

/**
 * A 3-D transposed convolution over input of shape (N, D, H, W,
 * in_channels), returning (N, D_out, H_out, W_out, out_channels). The
 * weight has shape (out_channels, kernel_d, kernel_h, kernel_w,
 * in_channels).
 */
class ConvTranspose3d : public UnaryModule {
 public:
  /**
   * Creates the layer. Size arguments take one int or three values. Throws
   * std::invalid_argument as ConvTranspose1d does, per dimension, and for a
   * size list of another length.
   */
  ConvTranspose3d(
      int in_channels,
      int out_channels,
      IntOrTuple kernel_size,
      IntOrTuple stride = 1,
      IntOrTuple padding = 0,
      IntOrTuple dilation = 1,
      IntOrTuple output_padding = 0,
      bool bias = true);

  std::string type_name() const override {
    return "ConvTranspose3d";
  }

  /**
   * "2, 3, kernel_size=(2, 2, 2), stride=(1, 1, 1), padding=(0, 0, 0),
   * dilation=1, output_padding=(0, 0, 0), bias=True", with dilation printed
   * as given.
   */
  std::string extra_repr() const override;

  /** Applies the transposed convolution to x and adds the bias. */
  mx::array forward(const mx::array& x) override;

  using UnaryModule::forward;

 private:
  std::vector<int> stride_;
  std::vector<int> padding_;
  IntOrTuple dilation_;
  std::vector<int> output_padding_;
};

} // namespace rmlx::nn
