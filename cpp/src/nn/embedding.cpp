#include "rmlx/nn/embedding.h"

#include <cmath>
#include <sstream>
#include <stdexcept>

#include "layer_utils.h"

namespace rmlx::nn {

Embedding::Embedding(int num_embeddings, int dims) {
  if (num_embeddings <= 0 || dims <= 0) {
    std::ostringstream msg;
    msg << "[Embedding] Expected positive num_embeddings and dims but "
        << "received num_embeddings=" << num_embeddings << " and dims=" << dims
        << ".";
    throw std::invalid_argument(msg.str());
  }
  float scale = static_cast<float>(std::sqrt(1.0 / dims));
  register_parameter(
      "weight", mx::random::normal({num_embeddings, dims}, 0.0f, scale));
}

std::string Embedding::extra_repr() const {
  const auto& weight = param("weight");
  std::ostringstream os;
  os << weight.shape(0) << ", " << weight.shape(1);
  return os.str();
}

mx::array Embedding::forward(const mx::array& x) {
  if (!mx::issubdtype(x.dtype(), mx::integer)) {
    std::ostringstream msg;
    msg << "[Embedding] Expected integer indices but received dtype "
        << x.dtype() << ".";
    throw std::invalid_argument(msg.str());
  }
  return mx::take(param("weight"), x, 0);
}

mx::array Embedding::as_linear(const mx::array& x) {
  return mx::matmul(x, mx::transpose(param("weight")));
}

} // namespace rmlx::nn
