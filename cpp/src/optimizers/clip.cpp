#include "rmlx/optimizers/clip.h"

#include "optimizer_utils.h"

namespace rmlx::optimizers {

ClippedGradients clip_grad_norm(const NamedArrays& gradients, double max_norm) {
  detail::check_non_negative("clip_grad_norm", "max_norm", max_norm);
  if (gradients.empty()) {
    return {{}, mx::array(0.0f)};
  }
  std::optional<mx::array> sum_of_squares;
  for (const auto& [name, gradient] : gradients) {
    auto g = gradient.dtype() == mx::float16
        ? mx::astype(gradient, mx::float32)
        : gradient;
    auto squares = mx::sum(mx::square(g));
    sum_of_squares = sum_of_squares ? mx::add(*sum_of_squares, squares) : squares;
  }
  auto total_norm = mx::sqrt(*sum_of_squares);
  auto scale = mx::minimum(
      mx::divide(
          detail::weak_scalar(max_norm, total_norm),
          mx::add(total_norm, detail::weak_scalar(1e-6, total_norm))),
      detail::weak_scalar(1.0, total_norm));

  ClippedGradients out{{}, total_norm};
  out.gradients.reserve(gradients.size());
  for (const auto& [name, gradient] : gradients) {
    auto scaled = mx::multiply(gradient, scale);
    if (mx::issubdtype(gradient.dtype(), mx::floating)) {
      scaled = mx::astype(scaled, gradient.dtype());
    }
    out.gradients.emplace_back(name, scaled);
  }
  return out;
}

} // namespace rmlx::optimizers
