#include "recurrent_gemm.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "rmlx/nn/recurrent_sequence.h"

// The tiles below need fused multiply-add to reach their speed, so let GCC
// contract a * b + c even where the language standard mode would not.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=fast")
#endif

#if defined(__x86_64__) && defined(__GNUC__)
#define RMLX_GEMM_X86 1
#else
#define RMLX_GEMM_X86 0
#endif

namespace rmlx::nn::detail {

namespace {

// Lanes floats, loaded and stored without alignment and allowed to alias
// float data. Templates take the lane count rather than the type, because
// a vector type passed as a template argument loses these attributes.
template <int Lanes>
struct VectorOf {
  typedef float type
      __attribute__((vector_size(Lanes * sizeof(float)), aligned(4),
                     may_alias));
};

// C[0:Rows, 0:cols] (+)= A[0:Rows, :] panel, for one panel of B, 2 * Lanes
// columns wide. The accumulators stay in registers, so Rows is a template argument
// and the loops over rows are unrolled.
template <int Lanes, int Rows>
[[gnu::always_inline]] inline void multiply_tile(
    size_t inner,
    StridedMatrix a,
    const float* panel,
    float* c,
    size_t ldc,
    size_t cols,
    bool accumulate) {
  using Vec = typename VectorOf<Lanes>::type;
  constexpr size_t kLanes = Lanes;
  constexpr size_t kWidth = 2 * kLanes;
  Vec low[Rows];
  Vec high[Rows];
#pragma GCC unroll 16
  for (int r = 0; r < Rows; ++r) {
    low[r] = Vec{};
    high[r] = Vec{};
  }
  for (size_t k = 0; k < inner; ++k) {
    Vec b_low = *reinterpret_cast<const Vec*>(panel + k * kWidth);
    Vec b_high = *reinterpret_cast<const Vec*>(panel + k * kWidth + kLanes);
#pragma GCC unroll 16
    for (int r = 0; r < Rows; ++r) {
      float value = a.data[r * a.row_stride + k * a.col_stride];
      low[r] += value * b_low;
      high[r] += value * b_high;
    }
  }
  if (cols == kWidth) {
#pragma GCC unroll 16
    for (int r = 0; r < Rows; ++r) {
      Vec* out = reinterpret_cast<Vec*>(c + r * ldc);
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
  // The last panel of a matrix whose width is not a multiple of kWidth.
  for (int r = 0; r < Rows; ++r) {
    float row[kWidth];
    *reinterpret_cast<Vec*>(row) = low[r];
    *reinterpret_cast<Vec*>(row + kLanes) = high[r];
    float* out = c + r * ldc;
    for (size_t j = 0; j < cols; ++j) {
      out[j] = accumulate ? out[j] + row[j] : row[j];
    }
  }
}

// Runs multiply_tile for the last `rest` rows, fewer than Rows + 1.
template <int Lanes, int Rows>
[[gnu::always_inline]] inline void multiply_rest(
    size_t rest,
    size_t inner,
    StridedMatrix a,
    const float* panel,
    float* c,
    size_t ldc,
    size_t cols,
    bool accumulate) {
  if constexpr (Rows > 0) {
    if (rest == Rows) {
      multiply_tile<Lanes, Rows>(inner, a, panel, c, ldc, cols, accumulate);
      return;
    }
    multiply_rest<Lanes, Rows - 1>(
        rest, inner, a, panel, c, ldc, cols, accumulate);
  }
}

// The depth of a block of the inner dimension. A block of A of the
// products over all N * L rows (hundreds of rows, 512 deep) then stays in
// the 1 MiB level-2 cache while every panel of B passes by.
constexpr size_t kInnerBlock = 512;

// packed_gemm() with tiles of up to MaxRows rows and panels of 2 * Lanes
// columns, over blocks of the inner dimension.
template <int Lanes, int MaxRows>
[[gnu::always_inline]] inline void multiply_panels(
    size_t m,
    StridedMatrix a,
    const PackedMatrix& b,
    float* c,
    size_t ldc,
    bool accumulate) {
  constexpr size_t kWidth = 2 * Lanes;
  size_t panels = (b.cols() + kWidth - 1) / kWidth;
  if (b.rows() == 0 && !accumulate) {
    // A product over an empty inner dimension is zero.
    for (size_t r = 0; r < m; ++r) {
      std::fill_n(c + r * ldc, b.cols(), 0.0f);
    }
  }
  for (size_t k0 = 0; k0 < b.rows(); k0 += kInnerBlock) {
    size_t depth = std::min(kInnerBlock, b.rows() - k0);
    // Later blocks add to what the earlier ones wrote.
    bool add = accumulate || k0 > 0;
    const float* a_block = a.data + k0 * a.col_stride;
    for (size_t p = 0; p < panels; ++p) {
      const float* panel = b.panel(p) + k0 * kWidth;
      size_t first = p * kWidth;
      size_t cols = std::min(kWidth, b.cols() - first);
      size_t r = 0;
      for (; r + MaxRows <= m; r += MaxRows) {
        StridedMatrix rows = {a_block + r * a.row_stride, a.row_stride,
                              a.col_stride};
        multiply_tile<Lanes, MaxRows>(
            depth, rows, panel, c + r * ldc + first, ldc, cols, add);
      }
      StridedMatrix rest = {a_block + r * a.row_stride, a.row_stride,
                            a.col_stride};
      multiply_rest<Lanes, MaxRows - 1>(
          m - r, depth, rest, panel, c + r * ldc + first, ldc, cols, add);
    }
  }
}

// The tile sizes fill the vector registers: 2 * MaxRows accumulators plus
// two vectors of B and one value of A, in the 32 registers of AVX-512 and
// the 16 of AVX2.
#if RMLX_GEMM_X86
__attribute__((target("avx512f,avx2,fma"))) void gemm_avx512(
    size_t m,
    StridedMatrix a,
    const PackedMatrix& b,
    float* c,
    size_t ldc,
    bool accumulate) {
  multiply_panels<16, 8>(m, a, b, c, ldc, accumulate);
}

__attribute__((target("avx2,fma"))) void gemm_avx2(
    size_t m,
    StridedMatrix a,
    const PackedMatrix& b,
    float* c,
    size_t ldc,
    bool accumulate) {
  multiply_panels<8, 6>(m, a, b, c, ldc, accumulate);
}
#endif

void gemm_portable(
    size_t m,
    StridedMatrix a,
    const PackedMatrix& b,
    float* c,
    size_t ldc,
    bool accumulate) {
  multiply_panels<8, 6>(m, a, b, c, ldc, accumulate);
}

} // namespace

bool has_gemm_instructions(GemmInstructions instructions) {
#if RMLX_GEMM_X86
  __builtin_cpu_init();
  switch (instructions) {
    case GemmInstructions::kAvx512:
      return __builtin_cpu_supports("avx512f");
    case GemmInstructions::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case GemmInstructions::kPortable:
      return true;
  }
  return false;
#else
  return instructions == GemmInstructions::kPortable;
#endif
}

GemmInstructions best_gemm_instructions() {
  static const GemmInstructions best = [] {
    for (auto instructions : {GemmInstructions::kAvx512,
                              GemmInstructions::kAvx2}) {
      if (has_gemm_instructions(instructions)) {
        return instructions;
      }
    }
    return GemmInstructions::kPortable;
  }();
  return best;
}

PackedMatrix::PackedMatrix(
    const float* source,
    size_t rows,
    size_t cols,
    size_t row_stride,
    size_t col_stride,
    GemmInstructions instructions)
    : rows_(rows), capacity_(rows), cols_(cols), instructions_(instructions) {
  size_t panel_cols = panel_width();
  size_t panels = (cols + panel_cols - 1) / panel_cols;
  data_.reset(new float[panels * rows * panel_cols]);
  for (size_t p = 0; p < panels; ++p) {
    size_t first = p * panel_cols;
    size_t width = std::min(panel_cols, cols - first);
    float* out = data_.get() + p * rows * panel_cols;
    for (size_t k = 0; k < rows; ++k) {
      float* out_row = out + k * panel_cols;
      const float* in = source + k * row_stride + first * col_stride;
      for (size_t j = 0; j < width; ++j) {
        out_row[j] = in[j * col_stride];
      }
      std::fill(out_row + width, out_row + panel_cols, 0.0f);
    }
  }
}

PackedMatrix::PackedMatrix(
    size_t rows,
    size_t cols,
    GemmInstructions instructions)
    : rows_(rows), capacity_(rows), cols_(cols), instructions_(instructions) {
  size_t panels = (cols + panel_width() - 1) / panel_width();
  data_.reset(new float[panels * rows * panel_width()]);
}

void PackedMatrix::set_rows(size_t rows) {
  if (rows > capacity_) {
    throw std::invalid_argument(
        "[PackedMatrix::set_rows] Expected at most " +
        std::to_string(capacity_) + " rows but received " +
        std::to_string(rows) + ".");
  }
  rows_ = rows;
}

void PackedMatrix::set_row(size_t k, const float* values) {
  size_t panel_cols = panel_width();
  for (size_t first = 0; first < cols_; first += panel_cols) {
    size_t width = std::min(panel_cols, cols_ - first);
    float* out = data_.get() + (first / panel_cols) * capacity_ * panel_cols +
        k * panel_cols;
    std::copy_n(values + first, width, out);
    std::fill(out + width, out + panel_cols, 0.0f);
  }
}

void PackedMatrix::set_column(
    size_t n,
    size_t first_row,
    size_t count,
    const float* values) {
  size_t panel_cols = panel_width();
  float* out = data_.get() + (n / panel_cols) * capacity_ * panel_cols +
      first_row * panel_cols + n % panel_cols;
  for (size_t k = 0; k < count; ++k) {
    out[k * panel_cols] = values[k];
  }
}

void PackedMatrix::zero_padding() {
  size_t panel_cols = panel_width();
  size_t used = cols_ % panel_cols;
  if (used == 0) {
    return;
  }
  float* last = data_.get() + (cols_ / panel_cols) * capacity_ * panel_cols;
  for (size_t k = 0; k < capacity_; ++k) {
    std::fill(last + k * panel_cols + used, last + (k + 1) * panel_cols, 0.0f);
  }
}

void packed_gemm(
    size_t m,
    StridedMatrix a,
    const PackedMatrix& b,
    float* c,
    size_t ldc,
    bool accumulate) {
  switch (b.instructions()) {
#if RMLX_GEMM_X86
    case GemmInstructions::kAvx512:
      gemm_avx512(m, a, b, c, ldc, accumulate);
      return;
    case GemmInstructions::kAvx2:
      gemm_avx2(m, a, b, c, ldc, accumulate);
      return;
#endif
    default:
      gemm_portable(m, a, b, c, ldc, accumulate);
  }
}

} // namespace rmlx::nn::detail

namespace rmlx::nn::detail {

bool packed_product(
    const std::string& instructions,
    size_t m,
    size_t k,
    size_t n,
    const float* a,
    const float* b,
    float* c,
    bool accumulate,
    bool a_transposed) {
  GemmInstructions chosen;
  if (instructions == "avx512") {
    chosen = GemmInstructions::kAvx512;
  } else if (instructions == "avx2") {
    chosen = GemmInstructions::kAvx2;
  } else if (instructions == "portable") {
    chosen = GemmInstructions::kPortable;
  } else {
    throw std::invalid_argument(
        "[packed_product] Expected instructions 'avx512', 'avx2' or "
        "'portable' but received '" + instructions + "'.");
  }
  if (!has_gemm_instructions(chosen)) {
    return false;
  }
  PackedMatrix packed(b, k, n, n, 1, chosen);
  StridedMatrix a_matrix = a_transposed ? StridedMatrix{a, 1, m}
                                        : StridedMatrix{a, k, 1};
  packed_gemm(m, a_matrix, packed, c, n, accumulate);
  return true;
}

} // namespace rmlx::nn::detail
