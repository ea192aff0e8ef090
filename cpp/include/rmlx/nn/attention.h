// Multi-head attention, as in MLX Python's mlx/nn/layers/transformer.py,
// with a key-value cache for decoding one step at a time.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "rmlx/nn/module.h"
#include "rmlx/nn/positional_encoding.h"

namespace rmlx::nn {

/**
 * The projected keys and values of the steps seen so far, shape (batch,
 * heads, steps, head dims), which an attention layer extends on each call.
 */
struct KVCache {
  std::optional<mx::array> keys;
  std::optional<mx::array> values;

  /** The number of cached steps, the position of the next query. */
  int offset() const {
    return keys ? keys->shape(2) : 0;
  }

  /** Appends new keys and values along the steps axis. */
  void append(const mx::array& new_keys, const mx::array& new_values);
};

/**
 * Scaled dot-product attention with several heads, computed with
 * mx::fast::scaled_dot_product_attention. Children: "query_proj",
 * "key_proj", "value_proj" and "out_proj" (Linear layers, created in that
 * order), and optionally "rope", a RoPE applied to the queries and keys of
 * each head (not an option of MLX Python's layer; it adds no parameters).
 *
 * The mask is added to the scores (an additive mask, -inf or a large
 * negative number where attention is blocked) or, when bool, selects the
 * pairs that may attend (true = attend, the reverse of PyTorch's bool
 * attn_mask). It broadcasts to (batch, heads, queries, keys).
 */
class MultiHeadAttention : public Module {
 public:
  /**
   * Creates the layer. Missing input dims default to dims (value_input_dims
   * to key_input_dims), value_dims and value_output_dims to dims. Throws
   * unless every size is positive and num_heads divides dims and
   * value_dims.
   */
  MultiHeadAttention(
      int dims,
      int num_heads,
      std::optional<int> query_input_dims = std::nullopt,
      std::optional<int> key_input_dims = std::nullopt,
      std::optional<int> value_input_dims = std::nullopt,
      std::optional<int> value_dims = std::nullopt,
      std::optional<int> value_output_dims = std::nullopt,
      bool bias = false);

  std::string type_name() const override {
    return "MultiHeadAttention";
  }

  std::vector<std::string> input_names() const override {
    return {"queries", "keys", "values", "mask"};
  }

  /** Inputs queries, keys, values and an optional mask. */
  std::vector<mx::array> forward(const Inputs& inputs) override;

  /**
   * Attends from queries (B, Lq, query_input_dims) to keys (B, Lk,
   * key_input_dims) and values (B, Lk, value_input_dims); returns (B, Lq,
   * value_output_dims). With a cache, the projected keys and values are
   * appended to it and the queries attend to every cached step; RoPE then
   * counts positions from the cache's previous length.
   */
  mx::array forward(
      const mx::array& queries,
      const mx::array& keys,
      const mx::array& values,
      const std::optional<mx::array>& mask = std::nullopt,
      KVCache* cache = nullptr);

  /** Sets (or, with nullptr, removes) the RoPE child. */
  void set_rope(std::shared_ptr<RoPE> rope);

  /**
   * Returns the (n, n) additive causal mask: 0 where key j <= query i, the
   * lowest finite value of dtype elsewhere (so float16 and bfloat16 give no
   * infinities and no NaN after the softmax). Throws unless dtype is
   * floating point and n >= 0.
   */
  static mx::array create_additive_causal_mask(
      int n,
      mx::Dtype dtype = mx::float32);

  int num_heads() const {
    return num_heads_;
  }

 private:
  int num_heads_;
};

} // namespace rmlx::nn
