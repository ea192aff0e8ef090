// The embedding layers R creates. They take R's 1-based indices and shift
// them to MLX's 0-based ones, so indices are 1-based however the layer is
// reached (directly, or inside a Sequential or a module written in R). Their
// parameters are those of the C++ layers, so weights still match MLX Python.
#pragma once

#include <functional>

#include "rmlx/nn/embedding.h"
#include "rmlx/nn/quantized.h"

/**
 * Looks up 1-based integer indices with `lookup`, which takes 0-based ones.
 * An index outside [1, rows] gives a row of NaN instead of a read outside
 * the table, which MLX's gather does not check. Other dtypes go to `lookup`
 * unchanged, so that it raises its own error.
 */
mlx::core::array rmlx_one_based_lookup(
    const mlx::core::array& x,
    int rows,
    const std::function<mlx::core::array(const mlx::core::array&)>& lookup);

class OneBasedEmbedding : public rmlx::nn::Embedding {
 public:
  using rmlx::nn::Embedding::Embedding;
  mlx::core::array forward(const mlx::core::array& x) override {
    return rmlx_one_based_lookup(
        x, param("weight").shape(0), [this](const mlx::core::array& index) {
          return rmlx::nn::Embedding::forward(index);
        });
  }
};

class OneBasedQuantizedEmbedding : public rmlx::nn::QuantizedEmbedding {
 public:
  using rmlx::nn::QuantizedEmbedding::QuantizedEmbedding;

  /** Quantizes an embedding's table, as QuantizedEmbedding::from_embedding
   * does. */
  static std::shared_ptr<OneBasedQuantizedEmbedding> from_embedding(
      const rmlx::nn::Embedding& embedding,
      const rmlx::nn::QuantizationSpec& spec) {
    const auto& weight = embedding.param("weight");
    auto layer = std::make_shared<OneBasedQuantizedEmbedding>(
        weight.shape(0), weight.shape(1), spec);
    layer->set_quantized(weight);
    return layer;
  }

  mlx::core::array forward(const mlx::core::array& x) override {
    return rmlx_one_based_lookup(
        x, num_embeddings(), [this](const mlx::core::array& index) {
          return rmlx::nn::QuantizedEmbedding::forward(index);
        });
  }
};
