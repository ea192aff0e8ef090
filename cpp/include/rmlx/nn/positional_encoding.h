// Positional encodings, as in MLX Python's
// mlx/nn/layers/positional_encoding.py: RoPE, SinusoidalPositionalEncoding
// and ALiBi. None of them has parameters.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "rmlx/nn/module.h"

namespace rmlx::nn {

/**
 * Rotary positional encoding, computed with mx::fast::rope. The first `dims`
 * features of the last axis are rotated by angles position * scale *
 * base^(-2i / dims); the rest pass through. Positions count along the
 * second-to-last axis, starting at `offset`. With traditional, consecutive
 * pairs of features are rotated; otherwise feature i pairs with i + dims / 2.
 */
class RoPE : public Module {
 public:
  /** Creates the layer; throws unless dims is positive and even. */
  explicit RoPE(
      int dims,
      bool traditional = false,
      double base = 10000,
      double scale = 1.0);

  std::string type_name() const override {
    return "RoPE";
  }

  /** "32, traditional=False", as MLX Python prints it. */
  std::string extra_repr() const override;

  std::vector<std::string> input_names() const override {
    return {"x", "offset"};
  }

  /** Inputs x and an optional integer offset (a scalar array). */
  std::vector<mx::array> forward(const Inputs& inputs) override;

  /** Rotates x of shape (..., L, D), with positions offset, offset + 1, ... */
  mx::array forward(const mx::array& x, int offset = 0) const;

  /** As above, with the offset an integer scalar array (not evaluated). */
  mx::array forward(const mx::array& x, const mx::array& offset) const;

  int dims() const {
    return dims_;
  }
  bool traditional() const {
    return traditional_;
  }
  double base() const {
    return base_;
  }
  double scale() const {
    return scale_;
  }

 private:
  int dims_;
  bool traditional_;
  double base_;
  double scale_;
};

/**
 * Sinusoidal positional encoding: maps each value p of x to
 * [sin(p * s), cos(p * s)] * scale (or cos first), where the dims / 2
 * frequencies s fall geometrically from max_freq to min_freq (times 2 pi
 * with full_turns). The output has one more axis, of length dims.
 */
class SinusoidalPositionalEncoding : public UnaryModule {
 public:
  /**
   * Creates the layer. A missing scale is sqrt(2 / dims). Throws unless dims
   * is positive and even and both frequencies are positive.
   */
  explicit SinusoidalPositionalEncoding(
      int dims,
      double min_freq = 0.0001,
      double max_freq = 1,
      std::optional<double> scale = std::nullopt,
      bool cos_first = false,
      bool full_turns = false);

  std::string type_name() const override {
    return "SinusoidalPositionalEncoding";
  }

  /** Encodes x of any shape into shape (..., dims). */
  mx::array forward(const mx::array& x) override;

  using UnaryModule::forward;

  /** The dims / 2 frequencies, float32; not a parameter. */
  const mx::array& sigmas() const {
    return sigmas_;
  }
  double scale() const {
    return scale_;
  }
  bool cos_first() const {
    return cos_first_;
  }

 private:
  mx::array sigmas_;
  double scale_;
  bool cos_first_;
};

/**
 * Attention with linear biases: adds -slope_h * |i - j| to the attention
 * scores of head h, query position i (counted from offset) and key position
 * j. The slopes are MLX Python's geometric series over the heads.
 */
class ALiBi : public Module {
 public:
  std::string type_name() const override {
    return "ALiBi";
  }

  std::vector<std::string> input_names() const override {
    return {"attention_scores", "offset", "mask"};
  }

  /** Inputs attention_scores (B, H, Lq, Lk), optional offset and mask. */
  std::vector<mx::array> forward(const Inputs& inputs) override;

  /** Returns attention_scores plus the bias matrix and the mask, if any. */
  mx::array forward(
      const mx::array& attention_scores,
      int offset = 0,
      const std::optional<mx::array>& mask = std::nullopt) const;

  /**
   * Returns the bias matrix of shape (1, num_heads, q_sequence_length -
   * offset, k_sequence_length). Throws for negative lengths or heads < 1.
   */
  static mx::array create_alibi_matrix(
      int q_sequence_length,
      int k_sequence_length,
      int num_heads,
      int offset = 0,
      mx::Dtype dtype = mx::float32);

  /** Returns the slopes of the heads, shape (num_heads, 1, 1). */
  static mx::array create_alibi_slope(
      int num_heads,
      mx::Dtype dtype = mx::float32);
};

} // namespace rmlx::nn
