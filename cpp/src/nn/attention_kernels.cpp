#include "attention_kernels.h"

#include <dlfcn.h>

#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <mlx/primitives.h>

#include "recurrent_kernels.h"

namespace rmlx::nn::detail {

namespace {

// cblas_sgemm as the BLAS that MLX calls defines it, found in the process's
// global scope (see parallel.cpp for why that is MLX's BLAS too).
using SgemmFn = void (*)(
    int layout,
    int trans_a,
    int trans_b,
    int m,
    int n,
    int k,
    float alpha,
    const float* a,
    int lda,
    const float* b,
    int ldb,
    float beta,
    float* c,
    int ldc);
constexpr int kRowMajor = 101;
constexpr int kNoTrans = 111;
constexpr int kTrans = 112;

SgemmFn sgemm() {
  static const SgemmFn fn =
      reinterpret_cast<SgemmFn>(dlsym(RTLD_DEFAULT, "cblas_sgemm"));
  return fn;
}

// The kind of mask input: none, a float mask added to the scores, or a 0/1
// mask whose zeros replace the scores by the lowest float32.
enum class MaskKind { none, additive, keep };

// Sizes of one attention: q (B, Lq, H, D), k (B, Lk, H, D), v (B, Lk, H, Dv).
struct AttentionSizes {
  int batch = 0;
  int heads = 0;
  int q_len = 0;
  int kv_len = 0;
  int dims = 0;
  int value_dims = 0;

  bool operator==(const AttentionSizes&) const = default;

  // Offsets of head h of batch b in q (or k), in v and in the scores.
  size_t qk_offset(int b, int h, int len) const {
    return (static_cast<size_t>(b) * len * heads + h) * dims;
  }
  size_t v_offset(int b, int h, int len) const {
    return (static_cast<size_t>(b) * len * heads + h) * value_dims;
  }
  size_t scores_offset(int b, int h) const {
    return (static_cast<size_t>(b) * heads + h) * q_len * kv_len;
  }
};

AttentionSizes sizes_of(const mx::array& q, const mx::array& k,
                        const mx::array& v) {
  AttentionSizes s;
  s.batch = q.shape(0);
  s.q_len = q.shape(1);
  s.heads = q.shape(2);
  s.dims = q.shape(3);
  s.kv_len = k.shape(1);
  s.value_dims = v.shape(3);
  return s;
}

// Turns each row of `scores` (rows x cols) into its softmax, after adding
// or applying the (rows x cols) mask.
RMLX_CELL_KERNEL void softmax_rows(
    float* __restrict scores,
    const float* __restrict mask,
    MaskKind kind,
    int rows,
    int cols) {
  constexpr float kLowest = std::numeric_limits<float>::lowest();
  for (int r = 0; r < rows; ++r) {
    float* __restrict row = scores + static_cast<size_t>(r) * cols;
    const float* __restrict m =
        mask ? mask + static_cast<size_t>(r) * cols : nullptr;
    if (kind == MaskKind::additive) {
      for (int c = 0; c < cols; ++c) {
        row[c] += m[c];
      }
    } else if (kind == MaskKind::keep) {
      for (int c = 0; c < cols; ++c) {
        row[c] = m[c] != 0.0f ? row[c] : kLowest;
      }
    }
    float peak = -std::numeric_limits<float>::infinity();
    for (int c = 0; c < cols; ++c) {
      peak = row[c] > peak ? row[c] : peak;
    }
    // The exponentials in a loop of their own, which vectorizes, and the
    // sum in another, since a float sum keeps its order.
    for (int c = 0; c < cols; ++c) {
      row[c] = exp_approx(row[c] - peak);
    }
    float total = 0.0f;
    for (int c = 0; c < cols; ++c) {
      total += row[c];
    }
    float inverse = 1.0f / total;
    for (int c = 0; c < cols; ++c) {
      row[c] *= inverse;
    }
  }
}

// dS = P * (dP - rowsum(dP * P)), in place of dP, for rows x cols. Where
// a keep mask is 0 the score was replaced, so its gradient is 0.
RMLX_CELL_KERNEL void softmax_backward_rows(
    const float* __restrict probs,
    const float* __restrict keep,
    float* __restrict grad,
    int rows,
    int cols) {
  for (int r = 0; r < rows; ++r) {
    const float* __restrict p = probs + static_cast<size_t>(r) * cols;
    float* __restrict g = grad + static_cast<size_t>(r) * cols;
    float dot = 0.0f;
    for (int c = 0; c < cols; ++c) {
      dot += g[c] * p[c];
    }
    for (int c = 0; c < cols; ++c) {
      g[c] = p[c] * (g[c] - dot);
    }
    if (keep != nullptr) {
      const float* __restrict m = keep + static_cast<size_t>(r) * cols;
      for (int c = 0; c < cols; ++c) {
        g[c] = m[c] != 0.0f ? g[c] : 0.0f;
      }
    }
  }
}

void attention_forward(
    const float* q,
    const float* k,
    const float* v,
    const float* mask,
    MaskKind kind,
    float scale,
    float* out,
    float* probs,
    const AttentionSizes& s) {
  auto gemm = sgemm();
  int qk_stride = s.heads * s.dims;
  int v_stride = s.heads * s.value_dims;
  for (int b = 0; b < s.batch; ++b) {
    for (int h = 0; h < s.heads; ++h) {
      float* p = probs + s.scores_offset(b, h);
      // S = scale q k^T: (Lq, D) x (D, Lk).
      gemm(kRowMajor, kNoTrans, kTrans, s.q_len, s.kv_len, s.dims, scale,
           q + s.qk_offset(b, h, s.q_len), qk_stride,
           k + s.qk_offset(b, h, s.kv_len), qk_stride, 0.0f, p, s.kv_len);
      softmax_rows(p, mask, kind, s.q_len, s.kv_len);
      // O = P v: (Lq, Lk) x (Lk, Dv).
      gemm(kRowMajor, kNoTrans, kNoTrans, s.q_len, s.value_dims, s.kv_len,
           1.0f, p, s.kv_len, v + s.v_offset(b, h, s.kv_len), v_stride, 0.0f,
           out + s.v_offset(b, h, s.q_len), v_stride);
    }
  }
}

void attention_backward(
    const float* q,
    const float* k,
    const float* v,
    const float* probs,
    const float* grad_out,
    const float* keep,
    float scale,
    float* grad_q,
    float* grad_k,
    float* grad_v,
    const AttentionSizes& s) {
  auto gemm = sgemm();
  int qk_stride = s.heads * s.dims;
  int v_stride = s.heads * s.value_dims;
  std::vector<float> grad_scores(static_cast<size_t>(s.q_len) * s.kv_len);
  for (int b = 0; b < s.batch; ++b) {
    for (int h = 0; h < s.heads; ++h) {
      const float* p = probs + s.scores_offset(b, h);
      const float* g = grad_out + s.v_offset(b, h, s.q_len);
      // dV = P^T dO: (Lk, Lq) x (Lq, Dv).
      gemm(kRowMajor, kTrans, kNoTrans, s.kv_len, s.value_dims, s.q_len,
           1.0f, p, s.kv_len, g, v_stride, 0.0f,
           grad_v + s.v_offset(b, h, s.kv_len), v_stride);
      // dP = dO v^T: (Lq, Dv) x (Dv, Lk), then dS in its place.
      gemm(kRowMajor, kNoTrans, kTrans, s.q_len, s.kv_len, s.value_dims,
           1.0f, g, v_stride, v + s.v_offset(b, h, s.kv_len), v_stride, 0.0f,
           grad_scores.data(), s.kv_len);
      softmax_backward_rows(p, keep, grad_scores.data(), s.q_len, s.kv_len);
      // dQ = scale dS k: (Lq, Lk) x (Lk, D).
      gemm(kRowMajor, kNoTrans, kNoTrans, s.q_len, s.dims, s.kv_len, scale,
           grad_scores.data(), s.kv_len, k + s.qk_offset(b, h, s.kv_len),
           qk_stride, 0.0f, grad_q + s.qk_offset(b, h, s.q_len), qk_stride);
      // dK = scale dS^T q: (Lk, Lq) x (Lq, D).
      gemm(kRowMajor, kTrans, kNoTrans, s.kv_len, s.dims, s.q_len, scale,
           grad_scores.data(), s.kv_len, q + s.qk_offset(b, h, s.q_len),
           qk_stride, 0.0f, grad_k + s.qk_offset(b, h, s.kv_len), qk_stride);
    }
  }
}

/**
 * The gradients of HeadAttention, dq, dk and dv. Its inputs are q, k, v,
 * the probabilities P and the output's cotangent, then the mask when it is
 * a keep mask.
 */
class HeadAttentionGrad : public mx::Primitive {
 public:
  HeadAttentionGrad(mx::Stream stream, float scale, AttentionSizes sizes)
      : mx::Primitive(stream), scale_(scale), sizes_(sizes) {}

  void eval_cpu(const std::vector<mx::array>& inputs,
                std::vector<mx::array>& outputs) override {
    auto& encoder = prepare(name(), stream(), inputs, outputs);
    encoder.dispatch([q = inputs[0].data<float>(),
                      k = inputs[1].data<float>(),
                      v = inputs[2].data<float>(),
                      probs = inputs[3].data<float>(),
                      grad_out = inputs[4].data<float>(),
                      keep = inputs.size() > 5 ? inputs[5].data<float>()
                                               : nullptr,
                      grad_q = outputs[0].data<float>(),
                      grad_k = outputs[1].data<float>(),
                      grad_v = outputs[2].data<float>(),
                      scale = scale_,
                      sizes = sizes_]() {
      attention_backward(q, k, v, probs, grad_out, keep, scale, grad_q,
                         grad_k, grad_v, sizes);
    });
  }

  void eval_gpu(const std::vector<mx::array>&,
                std::vector<mx::array>&) override {
    throw_cpu_only(name());
  }

  std::vector<mx::array> vjp(const std::vector<mx::array>&,
                             const std::vector<mx::array>&,
                             const std::vector<int>&,
                             const std::vector<mx::array>&) override {
    throw_not_implemented(name(), "A second derivative of attention");
  }

  const char* name() const override {
    return "HeadAttentionGrad";
  }

  bool is_equivalent(const mx::Primitive& other) const override {
    const auto& o = static_cast<const HeadAttentionGrad&>(other);
    return scale_ == o.scale_ && sizes_ == o.sizes_;
  }

 private:
  float scale_;
  AttentionSizes sizes_;
};

/**
 * Attention over heads in (B, L, H, D) layout. Its inputs are q, k, v and
 * the (Lq, Lk) mask as float32 when there is one. Its outputs are the
 * attention (B, Lq, H, Dv) and the probabilities P (B, H, Lq, Lk), which
 * the gradient reuses.
 */
class HeadAttention : public mx::Primitive {
 public:
  HeadAttention(mx::Stream stream, float scale, MaskKind kind,
                AttentionSizes sizes)
      : mx::Primitive(stream), scale_(scale), kind_(kind), sizes_(sizes) {}

  void eval_cpu(const std::vector<mx::array>& inputs,
                std::vector<mx::array>& outputs) override {
    auto& encoder = prepare(name(), stream(), inputs, outputs);
    encoder.dispatch([q = inputs[0].data<float>(),
                      k = inputs[1].data<float>(),
                      v = inputs[2].data<float>(),
                      mask = inputs.size() > 3 ? inputs[3].data<float>()
                                               : nullptr,
                      out = outputs[0].data<float>(),
                      probs = outputs[1].data<float>(),
                      scale = scale_,
                      kind = kind_,
                      sizes = sizes_]() {
      attention_forward(q, k, v, mask, kind, scale, out, probs, sizes);
    });
  }

  void eval_gpu(const std::vector<mx::array>&,
                std::vector<mx::array>&) override {
    throw_cpu_only(name());
  }

  std::vector<mx::array> vjp(const std::vector<mx::array>& primals,
                             const std::vector<mx::array>& cotangents,
                             const std::vector<int>& argnums,
                             const std::vector<mx::array>& outputs) override {
    auto s = stream();
    // The cotangent of P, cotangents[1], is ignored because P is internal.
    // The only array built from it is HeadAttentionGrad's output, which
    // raises an error when differentiated.
    const auto& probs = outputs[1];
    auto grad_out = dense_float32(cotangents[0], s);
    std::vector<mx::array> inputs = {
        primals[0], primals[1], primals[2], probs, grad_out};
    if (kind_ == MaskKind::keep) {
      inputs.push_back(primals[3]);
    }
    auto grads = mx::array::make_arrays(
        {primals[0].shape(), primals[1].shape(), primals[2].shape()},
        {mx::float32, mx::float32, mx::float32},
        std::make_shared<HeadAttentionGrad>(s, scale_, sizes_),
        inputs);
    std::vector<mx::array> result;
    for (int arg : argnums) {
      if (arg < 3) {
        result.push_back(grads[arg]);
      } else {
        result.push_back(mask_grad(primals, grad_out));
      }
    }
    return result;
  }

  std::vector<mx::array> jvp(const std::vector<mx::array>&,
                             const std::vector<mx::array>&,
                             const std::vector<int>&) override {
    throw_not_implemented(name(), "A forward derivative of attention");
  }

  std::pair<std::vector<mx::array>, std::vector<int>> vmap(
      const std::vector<mx::array>&,
      const std::vector<int>&) override {
    throw_not_implemented(name(), "vmap of attention");
  }

  const char* name() const override {
    return "HeadAttention";
  }

  bool is_equivalent(const mx::Primitive& other) const override {
    const auto& o = static_cast<const HeadAttention&>(other);
    return scale_ == o.scale_ && kind_ == o.kind_ && sizes_ == o.sizes_;
  }

 private:
  // The gradient with respect to a float mask: dS summed over batches and
  // heads, from MLX operations, since a mask is rarely differentiated. A
  // keep mask (from a boolean one) gets zeros. P is recomputed here rather
  // than read from this primitive's second output, because vjp() ignores
  // that output's cotangent: a second derivative through this gradient
  // then goes through MLX's operations and stays correct.
  mx::array mask_grad(const std::vector<mx::array>& primals,
                      const mx::array& grad_out) {
    auto s = stream();
    const auto& mask = primals[3];
    if (kind_ != MaskKind::additive) {
      return mx::zeros_like(mask, s);
    }
    // q, k, v and dO as (B, H, L, D); P = softmax(scale q k^T + mask);
    // dP = dO v^T; dS = P (dP - rowsum(dP P)).
    auto heads_first = [s](const mx::array& x) {
      return mx::transpose(x, {0, 2, 1, 3}, s);
    };
    auto scores = mx::matmul(
        heads_first(primals[0]),
        mx::swapaxes(heads_first(primals[1]), -1, -2, s), s);
    scores = mx::add(mx::multiply(scores, mx::array(scale_), s), mask, s);
    auto probs = mx::softmax(scores, std::vector<int>{-1}, true, s);
    auto grad_probs = mx::matmul(
        heads_first(grad_out),
        mx::swapaxes(heads_first(primals[2]), -1, -2, s), s);
    auto dot = mx::sum(mx::multiply(grad_probs, probs, s), -1, true, s);
    auto grad_scores =
        mx::multiply(probs, mx::subtract(grad_probs, dot, s), s);
    return mx::sum(grad_scores, {0, 1}, false, s);
  }

  float scale_;
  MaskKind kind_;
  AttentionSizes sizes_;
};

// The mask without its leading axes of size 1.
mx::array squeeze_leading(const mx::array& mask, mx::Stream stream) {
  std::vector<int> axes;
  for (int i = 0; i + 2 < static_cast<int>(mask.ndim()); ++i) {
    if (mask.shape(i) == 1) {
      axes.push_back(i);
    }
  }
  return axes.empty() ? mask : mx::squeeze(mask, axes, stream);
}

} // namespace

bool head_attention_applies(
    const mx::array& q,
    const mx::array& k,
    const mx::array& v,
    const std::optional<mx::array>& mask,
    mx::Stream stream) {
  if (!fusable(stream, {q, k, v}) || sgemm() == nullptr) {
    return false;
  }
  if (q.ndim() != 4 || k.ndim() != 4 || v.ndim() != 4) {
    return false;
  }
  bool shapes_match = k.shape(0) == q.shape(0) && v.shape(0) == q.shape(0) &&
      k.shape(2) == q.shape(2) && v.shape(2) == q.shape(2) &&
      k.shape(3) == q.shape(3) && v.shape(1) == k.shape(1);
  if (!shapes_match || q.size() == 0 || k.size() == 0 || v.size() == 0) {
    return false;
  }
  if (!mask) {
    return true;
  }
  if (mask->dtype() != mx::bool_ &&
      !mx::issubdtype(mask->dtype(), mx::floating)) {
    return false;
  }
  // MLX raises an error for a mask of rank above 4 or of a dtype that does
  // not promote to float32 (float64), so those go to MLX's path too.
  if (mask->ndim() < 2 || mask->ndim() > 4 ||
      mx::promote_types(mask->dtype(), mx::float32) != mx::float32) {
    return false;
  }
  for (int i = 0; i + 2 < static_cast<int>(mask->ndim()); ++i) {
    if (mask->shape(i) != 1) {
      return false;
    }
  }
  return mask->shape(-2) == q.shape(1) && mask->shape(-1) == k.shape(1);
}

mx::array head_attention(
    const mx::array& q,
    const mx::array& k,
    const mx::array& v,
    float scale,
    const std::optional<mx::array>& mask,
    mx::Stream stream) {
  auto sizes = sizes_of(q, k, v);
  std::vector<mx::array> inputs = {
      dense_float32(q, stream), dense_float32(k, stream),
      dense_float32(v, stream)};
  MaskKind kind = MaskKind::none;
  if (mask) {
    kind = mask->dtype() == mx::bool_ ? MaskKind::keep : MaskKind::additive;
    inputs.push_back(dense_float32(squeeze_leading(*mask, stream), stream));
  }
  auto outputs = mx::array::make_arrays(
      {{sizes.batch, sizes.q_len, sizes.heads, sizes.value_dims},
       {sizes.batch, sizes.heads, sizes.q_len, sizes.kv_len}},
      {mx::float32, mx::float32},
      std::make_shared<HeadAttention>(stream, scale, kind, sizes),
      inputs);
  return outputs[0];
}

} // namespace rmlx::nn::detail
