// The matrix products of the whole-sequence recurrent kernels
// (recurrent_sequence_kernels.cpp). Every step multiplies a thin matrix,
// one row per sequence, by the same weight matrix W_h. A BLAS sgemm packs
// W_h again at every call. For batch 32 and hidden size 256, OpenBLAS
// 0.3.21 reached 65 to 85 GFLOP/s on these products. The products below
// work on W_h packed once per sequence and reached about 105 GFLOP/s with
// AVX2 and 115 with AVX-512 (one core of the 2-core AMD EPYC of
// BENCHMARKS.md). They also run on any thread, so the kernels can split
// the batch between threads.
#pragma once

#include <cstddef>
#include <memory>

namespace rmlx::nn::detail {

/** The vector instructions of a packed_gemm() kernel. */
enum class GemmInstructions { kAvx512, kAvx2, kPortable };

/** Returns the fastest instructions that this processor has. */
GemmInstructions best_gemm_instructions();

/** True when this processor has `instructions`. */
bool has_gemm_instructions(GemmInstructions instructions);

/**
 * A K x N float32 matrix B stored as column panels, each K x panel_width()
 * and row-major, the last one padded with zeros: the layout that
 * packed_gemm() reads with the matrix's instructions.
 */
class PackedMatrix {
 public:
  /**
   * Packs B with element (k, n) at source[k * row_stride + n * col_stride],
   * so a row-major matrix and its transpose are both sources. The
   * instructions must be ones that this processor has.
   */
  PackedMatrix(
      const float* source,
      size_t rows,
      size_t cols,
      size_t row_stride,
      size_t col_stride,
      GemmInstructions instructions = best_gemm_instructions());

  /**
   * Allocates a matrix whose rows set_row() fills; until then their values
   * are undefined. `rows` is also the capacity that set_rows() may not
   * exceed.
   */
  PackedMatrix(
      size_t rows,
      size_t cols,
      GemmInstructions instructions = best_gemm_instructions());

  /**
   * Makes the first `rows` rows, at most the capacity, the matrix that
   * packed_gemm() multiplies. Rows keep their place and values.
   */
  void set_rows(size_t rows);

  /**
   * Stores `values` (cols() floats) as row k. Threads may set different
   * rows at the same time.
   */
  void set_row(size_t k, const float* values);

  /**
   * Stores `values` as rows [first_row, first_row + count) of column n.
   * Threads may set columns of different panels at the same time.
   */
  void set_column(size_t n, size_t first_row, size_t count, const float* values);

  /**
   * Sets the padding columns of the last panel to zero, so that the
   * products never read uninitialized floats.
   */
  void zero_padding();

  size_t rows() const {
    return rows_;
  }
  size_t cols() const {
    return cols_;
  }
  GemmInstructions instructions() const {
    return instructions_;
  }
  /** Returns the number of columns of a panel: 32 for AVX-512, else 16. */
  size_t panel_width() const {
    return instructions_ == GemmInstructions::kAvx512 ? 32 : 16;
  }
  /** Returns the first element of panel p. */
  const float* panel(size_t p) const {
    return data_.get() + p * capacity_ * panel_width();
  }

 private:
  size_t rows_;
  size_t capacity_;
  size_t cols_;
  GemmInstructions instructions_;
  std::unique_ptr<float[]> data_;
};

/**
 * A matrix operand read in place: element (r, k) is at
 * data[r * row_stride + k * col_stride].
 */
struct StridedMatrix {
  const float* data;
  size_t row_stride;
  size_t col_stride = 1;
};

/**
 * Computes C = A B, or C += A B when `accumulate`, for A of m x B.rows()
 * and C of m x B.cols() with rows ldc floats apart, with B's instructions.
 */
void packed_gemm(
    size_t m,
    StridedMatrix a,
    const PackedMatrix& b,
    float* c,
    size_t ldc,
    bool accumulate);

} // namespace rmlx::nn::detail
