// The embedding lookup table, as in MLX Python's
// mlx/nn/layers/embedding.py.
#pragma once

#include <string>

#include "rmlx/nn/module.h"

namespace rmlx::nn {

/**
 * A lookup table that maps integer indices in [0, num_embeddings) to rows of
 * a weight of shape (num_embeddings, dims), drawn from N(0, 1 / dims) with
 * MLX's default key stream, so after mx::random::seed(s) it equals MLX
 * Python's.
 */
class Embedding : public UnaryModule {
 public:
  /** Creates the table with num_embeddings rows of length dims. */
  Embedding(int num_embeddings, int dims);

  std::string type_name() const override {
    return "Embedding";
  }

  /** "10, 4", as MLX Python prints it. */
  std::string extra_repr() const override;

  /**
   * Returns the rows for integer indices x, of shape x.shape + (dims,).
   * Like MLX Python, the indices are not range checked.
   */
  mx::array forward(const mx::array& x) override;

  using UnaryModule::forward;

  /** Returns x @ weight^T, for output projections tied to the table. */
  mx::array as_linear(const mx::array& x);
};

} // namespace rmlx::nn
