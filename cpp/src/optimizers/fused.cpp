#include "rmlx/optimizers/fused.h"

#include <cmath>
#include <stdexcept>

#include <mlx/backend/cpu/encoder.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

namespace rmlx::optimizers {

namespace {

// The scalars of one Adam update; see adam_step().
struct AdamScalars {
  float a;
  float c;
  float d;
  float b1;
  float b2;
  float one_minus_b1;
  float one_minus_b2;
  float eps;
};

// The update of element i, in the order of the MLX operations it replaces.
inline void adam_element(
    const float* p,
    const float* g,
    const float* m,
    const float* v,
    float* p_out,
    float* m_out,
    float* v_out,
    size_t i,
    const AdamScalars& k) {
  float gi = g[i];
  float mi = k.b1 * m[i] + k.one_minus_b1 * gi;
  float vi = k.b2 * v[i] + k.one_minus_b2 * (gi * gi);
  float pi = p[i] * k.d - (k.a * mi) / (std::sqrt(vi) * k.c + k.eps);
  m_out[i] = mi;
  v_out[i] = vi;
  p_out[i] = pi;
}

#if defined(__x86_64__) && defined(__GNUC__)
// The same update 8 floats at a time. The vector sqrt, multiply, add and
// divide round exactly as their scalar forms, and no fused multiply-add is
// used, so the results equal the scalar loop's bit for bit. The compiler
// does not vectorize the scalar loop by itself at -O2 because std::sqrt may
// set errno.
__attribute__((target("avx2"))) void adam_kernel_avx2(
    const float* p,
    const float* g,
    const float* m,
    const float* v,
    float* p_out,
    float* m_out,
    float* v_out,
    size_t size,
    const AdamScalars& k) {
  const __m256 a = _mm256_set1_ps(k.a);
  const __m256 c = _mm256_set1_ps(k.c);
  const __m256 d = _mm256_set1_ps(k.d);
  const __m256 b1 = _mm256_set1_ps(k.b1);
  const __m256 b2 = _mm256_set1_ps(k.b2);
  const __m256 one_minus_b1 = _mm256_set1_ps(k.one_minus_b1);
  const __m256 one_minus_b2 = _mm256_set1_ps(k.one_minus_b2);
  const __m256 eps = _mm256_set1_ps(k.eps);
  size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    __m256 gi = _mm256_loadu_ps(g + i);
    __m256 mi = _mm256_add_ps(
        _mm256_mul_ps(b1, _mm256_loadu_ps(m + i)),
        _mm256_mul_ps(one_minus_b1, gi));
    __m256 vi = _mm256_add_ps(
        _mm256_mul_ps(b2, _mm256_loadu_ps(v + i)),
        _mm256_mul_ps(one_minus_b2, _mm256_mul_ps(gi, gi)));
    __m256 denominator =
        _mm256_add_ps(_mm256_mul_ps(_mm256_sqrt_ps(vi), c), eps);
    __m256 pi = _mm256_sub_ps(
        _mm256_mul_ps(_mm256_loadu_ps(p + i), d),
        _mm256_div_ps(_mm256_mul_ps(a, mi), denominator));
    _mm256_storeu_ps(m_out + i, mi);
    _mm256_storeu_ps(v_out + i, vi);
    _mm256_storeu_ps(p_out + i, pi);
  }
  for (; i < size; ++i) {
    adam_element(p, g, m, v, p_out, m_out, v_out, i, k);
  }
}

// The same with the 4-wide SSE2 operations every x86-64 processor has.
void adam_kernel_sse2(
    const float* p,
    const float* g,
    const float* m,
    const float* v,
    float* p_out,
    float* m_out,
    float* v_out,
    size_t size,
    const AdamScalars& k) {
  const __m128 a = _mm_set1_ps(k.a);
  const __m128 c = _mm_set1_ps(k.c);
  const __m128 d = _mm_set1_ps(k.d);
  const __m128 b1 = _mm_set1_ps(k.b1);
  const __m128 b2 = _mm_set1_ps(k.b2);
  const __m128 one_minus_b1 = _mm_set1_ps(k.one_minus_b1);
  const __m128 one_minus_b2 = _mm_set1_ps(k.one_minus_b2);
  const __m128 eps = _mm_set1_ps(k.eps);
  size_t i = 0;
  for (; i + 4 <= size; i += 4) {
    __m128 gi = _mm_loadu_ps(g + i);
    __m128 mi = _mm_add_ps(
        _mm_mul_ps(b1, _mm_loadu_ps(m + i)), _mm_mul_ps(one_minus_b1, gi));
    __m128 vi = _mm_add_ps(
        _mm_mul_ps(b2, _mm_loadu_ps(v + i)),
        _mm_mul_ps(one_minus_b2, _mm_mul_ps(gi, gi)));
    __m128 denominator = _mm_add_ps(_mm_mul_ps(_mm_sqrt_ps(vi), c), eps);
    __m128 pi = _mm_sub_ps(
        _mm_mul_ps(_mm_loadu_ps(p + i), d),
        _mm_div_ps(_mm_mul_ps(a, mi), denominator));
    _mm_storeu_ps(m_out + i, mi);
    _mm_storeu_ps(v_out + i, vi);
    _mm_storeu_ps(p_out + i, pi);
  }
  for (; i < size; ++i) {
    adam_element(p, g, m, v, p_out, m_out, v_out, i, k);
  }
}
#endif

// The update of adam_step() over `size` contiguous floats. Outputs may alias
// their inputs (p_out with p, m_out with m, v_out with v), since element i
// is read before it is written.
void adam_kernel(
    const float* p,
    const float* g,
    const float* m,
    const float* v,
    float* p_out,
    float* m_out,
    float* v_out,
    size_t size,
    const AdamScalars& k) {
#if defined(__x86_64__) && defined(__GNUC__)
  static const bool has_avx2 = __builtin_cpu_supports("avx2");
  if (has_avx2) {
    adam_kernel_avx2(p, g, m, v, p_out, m_out, v_out, size, k);
  } else {
    adam_kernel_sse2(p, g, m, v, p_out, m_out, v_out, size, k);
  }
#else
  for (size_t i = 0; i < size; ++i) {
    adam_element(p, g, m, v, p_out, m_out, v_out, i, k);
  }
#endif
}

mx::array scalar_of(double value, const mx::array& like) {
  return mx::array(static_cast<float>(value), like.dtype());
}

// The formula of adam_step() as MLX operations, in the kernel's order.
std::vector<mx::array> adam_step_ops(
    const mx::array& p,
    const mx::array& g,
    const mx::array& m,
    const mx::array& v,
    const mx::array& a,
    const mx::array& c,
    const mx::array& d,
    double b1,
    double b2,
    double eps,
    mx::StreamOrDevice s) {
  auto m_new = mx::add(
      mx::multiply(scalar_of(b1, m), m, s),
      mx::multiply(scalar_of(1.0 - b1, g), g, s),
      s);
  auto v_new = mx::add(
      mx::multiply(scalar_of(b2, v), v, s),
      mx::multiply(scalar_of(1.0 - b2, g), mx::square(g, s), s),
      s);
  auto decayed = mx::multiply(p, mx::astype(d, p.dtype(), s), s);
  auto numerator = mx::multiply(mx::astype(a, p.dtype(), s), m_new, s);
  auto scaled = mx::multiply(mx::sqrt(v_new, s), mx::astype(c, p.dtype(), s), s);
  auto denominator = mx::add(scaled, scalar_of(eps, scaled), s);
  auto p_new = mx::subtract(decayed, mx::divide(numerator, denominator, s), s);
  return {p_new, m_new, v_new};
}

} // namespace

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
    mx::StreamOrDevice s) {
  auto stream = mx::to_stream(s);
  bool fusable = stream.device == mx::Device::cpu &&
      parameter.dtype() == mx::float32 && gradient.dtype() == mx::float32 &&
      m.dtype() == mx::float32 && v.dtype() == mx::float32 &&
      gradient.shape() == parameter.shape() &&
      m.shape() == parameter.shape() && v.shape() == parameter.shape() &&
      a.size() == 1 && c.size() == 1 && d.size() == 1;
  if (!fusable) {
    return adam_step_ops(parameter, gradient, m, v, a, c, d, b1, b2, eps, s);
  }
  auto scalar = [&](const mx::array& x) {
    return mx::reshape(mx::astype(x, mx::float32, stream), {}, stream);
  };
  // Zero-initialised state is a broadcast scalar until first written, so
  // the kernel gets row-contiguous copies. For an array that already is
  // row-contiguous, contiguous() shares its buffer.
  auto dense = [&](const mx::array& x) {
    return mx::contiguous(x, false, stream);
  };
  auto shape = parameter.shape();
  return mx::array::make_arrays(
      {shape, shape, shape},
      {mx::float32, mx::float32, mx::float32},
      std::make_shared<AdamStep>(stream, b1, b2, eps),
      {dense(parameter),
       dense(gradient),
       dense(m),
       dense(v),
       scalar(a),
       scalar(c),
       scalar(d)});
}

void AdamStep::eval_cpu(
    const std::vector<mx::array>& inputs,
    std::vector<mx::array>& outputs) {
  for (int i = 0; i < 4; ++i) {
    if (!inputs[i].flags().row_contiguous) {
      throw std::runtime_error(
          "[AdamStep] Expected row-contiguous inputs; adam_step() makes them.");
    }
  }
  // Write in place when an input buffer is no longer needed elsewhere, as
  // MLX's own elementwise kernels do: parameter, m and v feed outputs 0-2.
  const int donor[3] = {0, 2, 3};
  for (int k = 0; k < 3; ++k) {
    const auto& in = inputs[donor[k]];
    if (in.is_donatable() && in.nbytes() == outputs[k].nbytes()) {
      outputs[k].copy_shared_buffer(in);
    } else {
      outputs[k].set_data(mx::allocator::malloc(outputs[k].nbytes()));
    }
  }
  auto& encoder = mx::cpu::get_command_encoder(stream());
  for (const auto& in : inputs) {
    encoder.set_input_array(in);
  }
  for (auto& out : outputs) {
    encoder.set_output_array(out);
  }
  encoder.dispatch([p = inputs[0].data<float>(),
                    g = inputs[1].data<float>(),
                    m = inputs[2].data<float>(),
                    v = inputs[3].data<float>(),
                    a_ptr = inputs[4].data<float>(),
                    c_ptr = inputs[5].data<float>(),
                    d_ptr = inputs[6].data<float>(),
                    p_out = outputs[0].data<float>(),
                    m_out = outputs[1].data<float>(),
                    v_out = outputs[2].data<float>(),
                    size = outputs[0].size(),
                    b1 = b1_,
                    b2 = b2_,
                    one_minus_b1 = one_minus_b1_,
                    one_minus_b2 = one_minus_b2_,
                    eps = eps_]() {
    AdamScalars k{
        *a_ptr, *c_ptr, *d_ptr, b1, b2, one_minus_b1, one_minus_b2, eps};
    adam_kernel(p, g, m, v, p_out, m_out, v_out, size, k);
  });
}

void AdamStep::eval_gpu(
    const std::vector<mx::array>& inputs,
    std::vector<mx::array>& outputs) {
  throw std::runtime_error("[AdamStep] NYI: the GPU (adam_step() uses MLX "
                           "operations there instead).");
}

bool AdamStep::is_equivalent(const mx::Primitive& other) const {
  const auto& o = static_cast<const AdamStep&>(other);
  return b1_ == o.b1_ && b2_ == o.b2_ && one_minus_b1_ == o.one_minus_b1_ &&
      one_minus_b2_ == o.one_minus_b2_ && eps_ == o.eps_;
}

std::vector<mx::Shape> AdamStep::output_shapes(
    const std::vector<mx::array>& inputs) {
  return {inputs[0].shape(), inputs[0].shape(), inputs[0].shape()};
}

} // namespace rmlx::optimizers
