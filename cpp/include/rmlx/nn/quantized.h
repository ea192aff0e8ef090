// Quantized layers and whole-model quantization, as in MLX Python's
// mlx/nn/layers/quantized.py (MLX 0.32.4).
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "rmlx/nn/embedding.h"
#include "rmlx/nn/linear.h"
#include "rmlx/nn/module.h"

namespace rmlx::nn {

/**
 * Quantization settings. An unset group size or bit width takes the mode's
 * default: affine 64 and 4, mxfp4 32 and 4, nvfp4 16 and 4, mxfp8 32 and 8.
 */
struct QuantizationSpec {
  std::optional<int> group_size;
  std::optional<int> bits;
  std::string mode = "affine";
};

/** Settings with the mode's defaults filled in and every value checked. */
struct QuantizationSettings {
  int group_size;
  int bits;
  std::string mode;
};

/**
 * Fills in the mode's defaults and checks the combination against the
 * table of mx::quantize in MLX 0.32.4. Affine takes group sizes 32, 64 and
 * 128 with 1 to 6 or 8 bits. The other modes take one setting each: mxfp4
 * 32 and 4, nvfp4 16 and 4, mxfp8 32 and 8. Throws std::invalid_argument
 * starting with "[component]".
 */
QuantizationSettings resolve_quantization(
    const std::string& component,
    const QuantizationSpec& spec);

/**
 * A linear layer y = x W^T + b whose weight is stored quantized, as
 * mx::quantize packs it: "weight" (uint32, shape (output_dims,
 * input_dims * bits / 32)), "scales", "biases" (affine mode only) and the
 * optional float "bias". The parameters are frozen, as in MLX Python.
 */
class QuantizedLinear : public UnaryModule {
 public:
  /**
   * Draws a float weight from U(-k, k), k = 1 / sqrt(input_dims), as Linear
   * does, and quantizes it; the bias starts at zero. input_dims must be a
   * multiple of the group size.
   */
  QuantizedLinear(
      int input_dims,
      int output_dims,
      bool bias = true,
      const QuantizationSpec& spec = {});

  /**
   * Quantizes a Linear layer's weight and copies its bias. Like MLX
   * Python's from_linear, it first draws (and drops) a random weight, so the
   * random key stream advances as it does there.
   */
  static std::shared_ptr<QuantizedLinear> from_linear(
      const Linear& linear,
      const QuantizationSpec& spec = {});

  std::string type_name() const override {
    return "QuantizedLinear";
  }

  /** "input_dims=64, output_dims=8, bias=True, group_size=64, bits=4,
   * mode=affine", as MLX Python prints it. */
  std::string extra_repr() const override;

  /** Applies the layer to x of shape (..., input_dims). */
  mx::array forward(const mx::array& x) override;

  using UnaryModule::forward;

  /** The weight dequantized to a float matrix (output_dims, input_dims). */
  mx::array dequantized_weight() const;

  int input_dims() const;
  int output_dims() const;
  const QuantizationSettings& settings() const {
    return settings_;
  }

 private:
  QuantizationSettings settings_;
};

/**
 * An embedding table stored quantized, with the parameters "weight",
 * "scales" and "biases" (affine mode only) packed as mx::quantize packs
 * them. The parameters are frozen, as in MLX Python.
 */
class QuantizedEmbedding : public UnaryModule {
 public:
  /** Draws the table from N(0, 1 / dims), as Embedding does, and quantizes
   * it. dims must be a multiple of the group size. */
  QuantizedEmbedding(
      int num_embeddings,
      int dims,
      const QuantizationSpec& spec = {});

  /** Quantizes an Embedding's table. Like MLX Python's from_embedding, it
   * first draws (and drops) a random table. */
  static std::shared_ptr<QuantizedEmbedding> from_embedding(
      const Embedding& embedding,
      const QuantizationSpec& spec = {});

  std::string type_name() const override {
    return "QuantizedEmbedding";
  }

  /** "10, 64, group_size=64, bits=4, mode=affine". */
  std::string extra_repr() const override;

  /** Returns the dequantized rows for integer indices x, of shape
   * x.shape + (dims,). The indices are not range checked. */
  mx::array forward(const mx::array& x) override;

  using UnaryModule::forward;

  /** Returns x @ weight^T with the quantized table, for tied output layers. */
  mx::array as_linear(const mx::array& x);

  /** The table dequantized to a float matrix (num_embeddings, dims). */
  mx::array dequantized_weight() const;

  int num_embeddings() const {
    return num_embeddings_;
  }
  int dims() const {
    return dims_;
  }
  const QuantizationSettings& settings() const {
    return settings_;
  }

 protected:
  /** Stores already quantized parameters; used by from_embedding and
   * subclasses that convert an existing table. */
  void set_quantized(const mx::array& weight);

 private:
  QuantizationSettings settings_;
  int num_embeddings_;
  int dims_;
};

/**
 * Chooses the layers to quantize: receives a module's dotted path and the
 * module and returns settings for it, or nullopt to leave it as it is.
 */
using QuantizePredicate = std::function<
    std::optional<QuantizationSpec>(const std::string& path, Module& module)>;

/**
 * Returns the quantized twin of a Linear (QuantizedLinear) or an Embedding
 * (QuantizedEmbedding). Throws std::invalid_argument for other layers.
 */
ModulePtr to_quantized(Module& module, const QuantizationSpec& spec);

/**
 * Returns a float Linear or Embedding with the dequantized weight of a
 * QuantizedLinear or QuantizedEmbedding; throws for other layers.
 */
ModulePtr to_dequantized(Module& module);

/**
 * Quantizes a model in place, as MLX Python's nn.quantize does. Without a
 * predicate every leaf Linear and Embedding is replaced with `spec`; with
 * one, the leaves it selects are replaced with the settings it returns.
 * Throws, as MLX does, when a selected layer's input size is not a multiple
 * of the group size.
 */
void quantize(
    Module& model,
    const QuantizationSpec& spec = {},
    const QuantizePredicate& predicate = nullptr);

/** Replaces every QuantizedLinear and QuantizedEmbedding of a model with a
 * float Linear or Embedding containing the dequantized weights. */
void dequantize(Module& model);

/**
 * Replaces the module at a dotted path ("layers.0", "block.proj") by
 * `replacement`. Throws std::invalid_argument when no module is there.
 */
void replace_module(
    Module& root,
    const std::string& path,
    ModulePtr replacement);

} // namespace rmlx::nn
