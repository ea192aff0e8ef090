// The matrix products of the whole-sequence recurrent kernels
// (recurrent_sequence_kernels.cpp). Every step multiplies a thin matrix,
// one row per sequence, by the same weight matrix W_h. A BLAS sgemm packs
// W_h again at every call. For batch 32 and hidden size 256, OpenBLAS
// 0.3.21 reached 65 to 85 GFLOP/s on these products, and the ones below,
// on W_h packed once per sequence, about 105 (one core of the 2-core AMD
// EPYC of BENCHMARKS.md). They also run on any thread, so the kernels can
// split the batch between threads.
#pragma once

#include <cstddef>
#include <vector>

namespace rmlx::nn::detail {

/** The number of columns of a panel of PackedMatrix. */
inline constexpr size_t kPanelWidth = 16;

/**
 * A K x N float32 matrix B stored as column panels of kPanelWidth columns,
 * each K x kPanelWidth and row-major, the last one padded with zeros: the
 * layout that packed_gemm() reads.
 */
class PackedMatrix {
 public:
  /**
   * Packs B with element (k, n) at source[k * row_stride + n * col_stride],
   * so a row-major matrix and its transpose are both sources.
   */
  PackedMatrix(
      const float* source,
      size_t rows,
      size_t cols,
      size_t row_stride,
      size_t col_stride);

  size_t rows() const {
    return rows_;
  }
  size_t cols() const {
    return cols_;
  }
  /** Returns the first element of panel p, columns [16 p, 16 p + 16). */
  const float* panel(size_t p) const {
    return data_.data() + p * rows_ * kPanelWidth;
  }

 private:
  size_t rows_;
  size_t cols_;
  std::vector<float> data_;
};

/**
 * Computes C = A B, or C += A B when `accumulate`, for A of m x B.rows()
 * with rows lda floats apart and C of m x B.cols() with rows ldc floats
 * apart.
 */
void packed_gemm(
    size_t m,
    const float* a,
    size_t lda,
    const PackedMatrix& b,
    float* c,
    size_t ldc,
    bool accumulate);

} // namespace rmlx::nn::detail
