#include "recurrent_gemm.h"

#include <algorithm>

// The tiles below need fused multiply-add to reach their speed, so let GCC
// contract a * b + c even where the language standard mode would not.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=fast")
#endif

// packed_gemm() is compiled for x86-64-v3 (AVX2 with FMA) and for the
// baseline, and picked at load time. Other targets compile it once.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define RMLX_GEMM_KERNEL \
  __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define RMLX_GEMM_KERNEL
#endif

namespace rmlx::nn::detail {

namespace {

// Eight floats, loaded and stored without alignment and allowed to alias
// float data.
typedef float Vec8 __attribute__((vector_size(32), aligned(4), may_alias));

static_assert(kPanelWidth == 16, "a tile holds two Vec8 per row");

// The largest number of rows of a tile: 2 * kTileRows accumulators, one
// product of A's value and two of B's vectors fit in 16 AVX registers.
constexpr int kTileRows = 6;

// C[0:Rows, 0:cols] (+)= A[0:Rows, :] panel, for one panel of B. The
// accumulators stay in registers, so Rows is a template argument and the
// loops over rows are unrolled.
template <int Rows>
[[gnu::always_inline]] inline void multiply_tile(
    size_t inner,
    const float* a,
    size_t lda,
    const float* panel,
    float* c,
    size_t ldc,
    size_t cols,
    bool accumulate) {
  Vec8 low[Rows];
  Vec8 high[Rows];
#pragma GCC unroll 8
  for (int r = 0; r < Rows; ++r) {
    low[r] = Vec8{};
    high[r] = Vec8{};
  }
  for (size_t k = 0; k < inner; ++k) {
    Vec8 b_low = *reinterpret_cast<const Vec8*>(panel + k * kPanelWidth);
    Vec8 b_high = *reinterpret_cast<const Vec8*>(panel + k * kPanelWidth + 8);
#pragma GCC unroll 8
    for (int r = 0; r < Rows; ++r) {
      float value = a[r * lda + k];
      low[r] += value * b_low;
      high[r] += value * b_high;
    }
  }
  if (cols == kPanelWidth) {
#pragma GCC unroll 8
    for (int r = 0; r < Rows; ++r) {
      Vec8* out = reinterpret_cast<Vec8*>(c + r * ldc);
      if (accumulate) {
        out[0] += low[r];
        out[1] += high[r];
      } else {
        out[0] = low[r];
        out[1] = high[r];
      }
    }
    return;
  }
  // The last panel of a matrix whose width is not a multiple of 16.
  for (int r = 0; r < Rows; ++r) {
    float row[kPanelWidth];
    *reinterpret_cast<Vec8*>(row) = low[r];
    *reinterpret_cast<Vec8*>(row + 8) = high[r];
    float* out = c + r * ldc;
    for (size_t j = 0; j < cols; ++j) {
      out[j] = accumulate ? out[j] + row[j] : row[j];
    }
  }
}

} // namespace

PackedMatrix::PackedMatrix(
    const float* source,
    size_t rows,
    size_t cols,
    size_t row_stride,
    size_t col_stride)
    : rows_(rows), cols_(cols) {
  size_t panels = (cols + kPanelWidth - 1) / kPanelWidth;
  data_.assign(panels * rows * kPanelWidth, 0.0f);
  for (size_t p = 0; p < panels; ++p) {
    size_t first = p * kPanelWidth;
    size_t width = std::min(kPanelWidth, cols - first);
    float* out = data_.data() + p * rows * kPanelWidth;
    for (size_t k = 0; k < rows; ++k) {
      for (size_t j = 0; j < width; ++j) {
        out[k * kPanelWidth + j] =
            source[k * row_stride + (first + j) * col_stride];
      }
    }
  }
}

RMLX_GEMM_KERNEL void packed_gemm(
    size_t m,
    const float* a,
    size_t lda,
    const PackedMatrix& b,
    float* c,
    size_t ldc,
    bool accumulate) {
  size_t inner = b.rows();
  size_t panels = (b.cols() + kPanelWidth - 1) / kPanelWidth;
  for (size_t p = 0; p < panels; ++p) {
    const float* panel = b.panel(p);
    size_t first = p * kPanelWidth;
    size_t cols = std::min(kPanelWidth, b.cols() - first);
    size_t r = 0;
    for (; r + kTileRows <= m; r += kTileRows) {
      multiply_tile<kTileRows>(
          inner, a + r * lda, lda, panel, c + r * ldc + first, ldc, cols,
          accumulate);
    }
    const float* a_rest = a + r * lda;
    float* c_rest = c + r * ldc + first;
    switch (m - r) {
      case 5:
        multiply_tile<5>(inner, a_rest, lda, panel, c_rest, ldc, cols,
                         accumulate);
        break;
      case 4:
        multiply_tile<4>(inner, a_rest, lda, panel, c_rest, ldc, cols,
                         accumulate);
        break;
      case 3:
        multiply_tile<3>(inner, a_rest, lda, panel, c_rest, ldc, cols,
                         accumulate);
        break;
      case 2:
        multiply_tile<2>(inner, a_rest, lda, panel, c_rest, ldc, cols,
                         accumulate);
        break;
      case 1:
        multiply_tile<1>(inner, a_rest, lda, panel, c_rest, ldc, cols,
                         accumulate);
        break;
      default:
        break;
    }
  }
}

} // namespace rmlx::nn::detail
