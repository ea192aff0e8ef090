// Transformer layers, as in MLX Python's mlx/nn/layers/transformer.py:
// encoder and decoder layers, their stacks and the encoder-decoder model.
#pragma once

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "rmlx/nn/attention.h"
#include "rmlx/nn/module.h"

namespace rmlx::nn {

/**
 * The activation of a transformer's MLP: a name ("relu", "gelu",
 * "gelu_approx", "gelu_fast_approx", "silu", "sigmoid", "tanh",
 * "leaky_relu", "softmax", as in activations.h) or a module, which is stored
 * as the child "activation" as MLX Python stores a Module activation.
 */
using Activation = std::variant<std::string, ModulePtr>;

/** Options shared by the transformer layers and stacks. */
struct TransformerOptions {
  /** Hidden size of the MLP; nullopt gives 4 * dims. */
  std::optional<int> mlp_dims;
  /** Dropout probability after attention and the activation. */
  double dropout = 0.0;
  Activation activation = std::string("relu");
  /** Layer normalization before (true) or after each block. */
  bool norm_first = true;
  /** Recompute each layer in the backward pass (mx::checkpoint). */
  bool checkpoint = false;
};

/**
 * A transformer encoder layer: self-attention and an MLP, each with a
 * residual connection and layer normalization. Children: "attention",
 * "ln1", "ln2", "linear1", "linear2", "dropout1", "dropout2". Inputs: x
 * (B, L, dims) and an optional mask.
 */
class TransformerEncoderLayer : public Module {
 public:
  /** Creates the layer; options.checkpoint is ignored here. */
  TransformerEncoderLayer(
      int dims,
      int num_heads,
      const TransformerOptions& options = {});

  std::string type_name() const override {
    return "TransformerEncoderLayer";
  }

  std::vector<std::string> input_names() const override {
    return {"x", "mask"};
  }

  std::vector<mx::array> forward(const Inputs& inputs) override;

  /** Returns the layer's output; a cache makes the attention incremental. */
  mx::array forward(
      const mx::array& x,
      const std::optional<mx::array>& mask,
      KVCache* cache = nullptr);

  /** Applies the MLP activation. */
  mx::array activate(const mx::array& x);

  bool norm_first() const {
    return norm_first_;
  }

 private:
  std::string activation_name_;
  bool norm_first_;
};

/** A stack of encoder layers ("layers") followed by a LayerNorm ("ln"). */
class TransformerEncoder : public Module {
 public:
  TransformerEncoder(
      int num_layers,
      int dims,
      int num_heads,
      const TransformerOptions& options = {});

  std::string type_name() const override {
    return "TransformerEncoder";
  }

  std::vector<std::string> input_names() const override {
    return {"x", "mask"};
  }

  std::vector<mx::array> forward(const Inputs& inputs) override;

  /**
   * Runs every layer and the final norm. With caches (resized to one per
   * layer when shorter), each layer's self-attention is incremental; the
   * checkpoint option applies only without caches.
   */
  mx::array forward(
      const mx::array& x,
      const std::optional<mx::array>& mask,
      std::vector<KVCache>* caches = nullptr);

  /** Gives the self-attention of every layer the same RoPE. */
  void set_rope(std::shared_ptr<RoPE> rope);

  std::vector<ModulePtr> layers() const;

  bool checkpoint() const {
    return checkpoint_;
  }

 private:
  bool checkpoint_;
};

/**
 * A transformer decoder layer: self-attention, cross-attention to the
 * encoder's output (memory) and an MLP. Children: "self_attention",
 * "cross_attention", "ln1", "ln2", "ln3", "linear1", "linear2",
 * "dropout1", "dropout2", "dropout3". Inputs: x, memory, x_mask,
 * memory_mask; the masks are optional.
 */
class TransformerDecoderLayer : public Module {
 public:
  TransformerDecoderLayer(
      int dims,
      int num_heads,
      const TransformerOptions& options = {});

  std::string type_name() const override {
    return "TransformerDecoderLayer";
  }

  std::vector<std::string> input_names() const override {
    return {"x", "memory", "x_mask", "memory_mask"};
  }

  std::vector<mx::array> forward(const Inputs& inputs) override;

  /**
   * Returns the layer's output. A cache makes the self-attention
   * incremental; the cross-attention projects the whole memory each call.
   */
  mx::array forward(
      const mx::array& x,
      const mx::array& memory,
      const std::optional<mx::array>& x_mask,
      const std::optional<mx::array>& memory_mask,
      KVCache* cache = nullptr);

 private:
  std::string activation_name_;
  bool norm_first_;
};

/** A stack of decoder layers ("layers") followed by a LayerNorm ("ln"). */
class TransformerDecoder : public Module {
 public:
  TransformerDecoder(
      int num_layers,
      int dims,
      int num_heads,
      const TransformerOptions& options = {});

  std::string type_name() const override {
    return "TransformerDecoder";
  }

  std::vector<std::string> input_names() const override {
    return {"x", "memory", "x_mask", "memory_mask"};
  }

  std::vector<mx::array> forward(const Inputs& inputs) override;

  /** Runs every layer and the final norm; caches as for the encoder. */
  mx::array forward(
      const mx::array& x,
      const mx::array& memory,
      const std::optional<mx::array>& x_mask,
      const std::optional<mx::array>& memory_mask,
      std::vector<KVCache>* caches = nullptr);

  std::vector<ModulePtr> layers() const;

 private:
  bool checkpoint_;
};

/**
 * The encoder-decoder transformer: children "encoder" and "decoder", a
 * TransformerEncoder and a TransformerDecoder unless custom modules are
 * given. A custom encoder is called with (src, src_mask), a custom decoder
 * with (tgt, memory, tgt_mask, memory_mask). Inputs: src, tgt, src_mask,
 * tgt_mask, memory_mask; the masks are optional.
 */
class Transformer : public Module {
 public:
  Transformer(
      int dims = 512,
      int num_heads = 8,
      int num_encoder_layers = 6,
      int num_decoder_layers = 6,
      const TransformerOptions& options = {},
      ModulePtr custom_encoder = nullptr,
      ModulePtr custom_decoder = nullptr);

  std::string type_name() const override {
    return "Transformer";
  }

  std::vector<std::string> input_names() const override {
    return {"src", "tgt", "src_mask", "tgt_mask", "memory_mask"};
  }

  std::vector<mx::array> forward(const Inputs& inputs) override;
};

} // namespace rmlx::nn
