// Pieces shared by the recurrent kernels of recurrent_cell.cpp,
// recurrent_sequence.cpp and recurrent_sequence_kernels.cpp, and by the
// attention and layer normalization kernels: checks, allocation and errors
// for their primitives, and float32 exp, sigmoid and tanh written to
// vectorize. Include this header after every other one, because its
// pragma applies to everything below it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <mlx/backend/cpu/encoder.h>
#include <mlx/mlx.h>

#include "rmlx/nn/custom_kernels.h"

namespace rmlx::nn::detail {

namespace mx = mlx::core;

/** Throws std::runtime_error naming `op` unless `a` is row-contiguous float32. */
inline void check_float32_contiguous(const char* op, const mx::array& a) {
  if (a.dtype() != mx::float32 || !a.flags().row_contiguous) {
    throw std::runtime_error(
        std::string("[") + op +
        "] Expected row-contiguous float32 inputs; the functions that build "
        "this primitive make them.");
  }
}

/** Returns x as a row-contiguous float32 array. */
inline mx::array dense_float32(const mx::array& x, mx::Stream stream) {
  return mx::contiguous(mx::astype(x, mx::float32, stream), false, stream);
}

/** Allocates every output and registers the arrays with the CPU encoder. */
inline mx::cpu::CommandEncoder& prepare(
    const char* op,
    mx::Stream stream,
    const std::vector<mx::array>& inputs,
    std::vector<mx::array>& outputs) {
  for (const auto& in : inputs) {
    check_float32_contiguous(op, in);
  }
  auto& encoder = mx::cpu::get_command_encoder(stream);
  for (const auto& in : inputs) {
    encoder.set_input_array(in);
  }
  for (auto& out : outputs) {
    out.set_data(mx::allocator::malloc(out.nbytes()));
    encoder.set_output_array(out);
  }
  return encoder;
}

/** Throws the std::runtime_error of a primitive `op` evaluated off the CPU. */
[[noreturn]] inline void throw_cpu_only(const char* op) {
  throw std::runtime_error(std::string("[") + op + "] Runs on the CPU only.");
}

/**
 * Throws std::runtime_error for a transform that the kernel `op` lacks,
 * such as "A second derivative of attention", and names the way back to
 * MLX's operations, which have it.
 */
[[noreturn]] inline void throw_not_implemented(
    const char* op,
    const char* what) {
  throw std::runtime_error(
      std::string("[") + op + "] " + what +
      " is not implemented. Turn the custom kernels off with "
      "set_custom_kernels_enabled(false) (mlx_custom_kernels(FALSE) in R) "
      "to use MLX's operations instead.");
}

/**
 * True when the custom kernels are enabled, the stream is the CPU's and
 * every array is float32.
 */
inline bool fusable(mx::Stream stream, const std::vector<mx::array>& arrays) {
  if (!custom_kernels_enabled() || stream.device != mx::Device::cpu) {
    return false;
  }
  return std::all_of(arrays.begin(), arrays.end(), [](const mx::array& a) {
    return a.dtype() == mx::float32;
  });
}

} // namespace rmlx::nn::detail

// The loops below are written to vectorize, but GCC's -O2 (what R builds
// with) only vectorizes loops that need no scalar remainder. It also keeps
// a branch around each division that could raise a floating-point
// exception flag unless no-trapping-math declares that no code reads the
// flags, which changes no computed value. Functions defined
// before the pragma, such as std::bit_cast and std::fabs, are no longer
// inlined into those after it, so the kernels use GCC's builtins.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("vect-cost-model=dynamic", "no-trapping-math")
#endif

// Each kernel marked RMLX_CELL_KERNEL is compiled for AVX2 and for the
// SSE2 baseline and picked at load time. Neither uses fused multiply-add,
// so both give the same bits.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define RMLX_CELL_KERNEL __attribute__((target_clones("avx2", "default")))
#else
#define RMLX_CELL_KERNEL
#endif

namespace rmlx::nn::detail {

// exp(x) for float32, written with selects and no calls so that loops
// over it vectorize. x = n ln2 + r with |r| <= ln2 / 2 (ln2 split in two so
// that n ln2 is exact), e^r from its Taylor polynomial of degree 7 (the
// truncation error is below 1e-8 relative), and 2^n applied as two powers
// of two so that results may fall into the subnormal range. Overflows to
// inf above 88.72 and gives 0 below -103.9, as std::exp; NaN stays NaN.
inline float exp_approx(float x) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2High = 0.693145751953125f;
  constexpr float kLn2Low = 1.428606765330187045e-06f;
  // 1.5 * 2^23: adding it rounds to an integer held in the low mantissa bits.
  constexpr float kRoundShift = 12582912.0f;
  float clamped = x < -104.0f ? -104.0f : x;
  clamped = clamped > 89.0f ? 89.0f : clamped;
  float shifted = clamped * kLog2e + kRoundShift;
  float n = shifted - kRoundShift;
  std::int32_t k = __builtin_bit_cast(std::int32_t, shifted) -
      __builtin_bit_cast(std::int32_t, kRoundShift);
  float r = clamped - n * kLn2High;
  r = r - n * kLn2Low;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  std::int32_t k_half = k >> 1;
  float scale_a = __builtin_bit_cast(float, (k_half + 127) << 23);
  float scale_b = __builtin_bit_cast(float, (k - k_half + 127) << 23);
  return p * scale_a * scale_b;
}

inline float sigmoid_approx(float x) {
  return 1.0f / (1.0f + exp_approx(-x));
}

// tanh(x) as tanh(|x|) with x's sign. For |x| < 0.55 the polynomial
// |x| + |x| u q(u) with u = x^2, fitted by least squares in double
// precision to tanh on [0, 0.55] (fit error under 0.06 ulp). Above, it is
// 1 - 2 / (e^{2|x|} + 1), where the subtraction loses at most one bit
// because the result is at least 0.5. Gives +-1 for large |x|, keeps the sign of zero, NaN stays NaN.
inline float tanh_approx(float x) {
  float magnitude = __builtin_fabsf(x);
  float u = x * x;
  float q = -0.006272563710808754f;
  q = q * u + 0.021070225164294243f;
  q = q * u - 0.05385185778141022f;
  q = q * u + 0.13332580029964447f;
  q = q * u - 0.33333316445350647f;
  float small = magnitude + magnitude * (u * q);
  float large = 1.0f - 2.0f / (exp_approx(2.0f * magnitude) + 1.0f);
  // A bitwise select: GCC 12 turns a conditional expression here into a
  // branch around the division and then does not vectorize the loop.
  std::int32_t use_small = -static_cast<std::int32_t>(magnitude < 0.55f);
  float result = __builtin_bit_cast(
      float,
      (__builtin_bit_cast(std::int32_t, small) & use_small) |
          (__builtin_bit_cast(std::int32_t, large) & ~use_small));
  return __builtin_copysignf(result, x);
}
} // namespace rmlx::nn::detail
