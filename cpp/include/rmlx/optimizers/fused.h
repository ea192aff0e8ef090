// Fused optimizer updates: one MLX primitive with its own CPU kernel in
// place of the dozen elementwise operations of an Adam step.
#pragma once

#include <vector>

#include <mlx/mlx.h>
#include <mlx/primitives.h>

namespace rmlx::optimizers {

namespace mx = mlx::core;

/**
 * Returns {new parameter, new m, new v} of one Adam step:
 *   m' = b1 m + (1 - b1) g,  v' = b2 v + (1 - b2) g^2,
 *   p' = p d - (a m') / (sqrt(v') c + eps).
 * The scalar a is the learning rate, or lr / (1 - b1^t) with bias
 * correction. c is 1, or 1 / sqrt(1 - b2^t) with bias correction, and d is
 * 1, or AdamW's 1 - lr * weight_decay. They are arrays so that they may
 * change from step to step inside a compiled function. For float32 arrays
 * of one shape on the CPU this is a single primitive. Otherwise the same
 * formula runs as MLX operations in the same order, so both give the same
 * numbers. Like MLX Python, 1 - b1 and 1 - b2 are computed in double
 * precision and then rounded to float32.
 */
std::vector<mx::array> adam_step(
    const mx::array& parameter,
    const mx::array& gradient,
    const mx::array& m,
    const mx::array& v,
    const mx::array& a,
    const mx::array& c,
    const mx::array& d,
    double b1,
    double b2,
    double eps,
    mx::StreamOrDevice s = {});

/** The primitive behind adam_step(); it has no derivatives. */
class AdamStep : public mx::Primitive {
 public:
  AdamStep(mx::Stream stream, double b1, double b2, double eps)
      : mx::Primitive(stream),
        b1_(static_cast<float>(b1)),
        b2_(static_cast<float>(b2)),
        one_minus_b1_(static_cast<float>(1.0 - b1)),
        one_minus_b2_(static_cast<float>(1.0 - b2)),
        eps_(static_cast<float>(eps)) {}

  void eval_cpu(
      const std::vector<mx::array>& inputs,
      std::vector<mx::array>& outputs) override;
  void eval_gpu(
      const std::vector<mx::array>& inputs,
      std::vector<mx::array>& outputs) override;

  const char* name() const override {
    return "AdamStep";
  }
  bool is_equivalent(const mx::Primitive& other) const override;
  std::vector<mx::Shape> output_shapes(
      const std::vector<mx::array>& inputs) override;

 private:
  float b1_;
  float b2_;
  float one_minus_b1_;
  float one_minus_b2_;
  float eps_;
};

} // namespace rmlx::optimizers
