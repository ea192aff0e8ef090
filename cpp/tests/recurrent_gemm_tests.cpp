// The ways of filling a PackedMatrix for packed_gemm() (set_column(),
// set_row(), set_rows() and zero_padding()), on every instruction set that
// this processor has. The layer tests run only the fastest one, and
// "packed product matches a reference product" in
// recurrent_sequence_tests.cpp packs from a source matrix only.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>
#include <vector>

#include "../src/nn/recurrent_gemm.h"

using namespace rmlx::nn::detail;

namespace {

// Returns the maximum relative error of c against (c0 if accumulate) +
// a b, computed in double, for a of m x k and b of k x n, both row-major.
double max_relative_error(
    size_t m,
    size_t k,
    size_t n,
    const std::vector<float>& a,
    const std::vector<float>& b,
    const std::vector<float>& c,
    const std::vector<float>& c0,
    bool accumulate) {
  double worst = 0.0;
  for (size_t i = 0; i < m; ++i) {
    for (size_t j = 0; j < n; ++j) {
      double expected = accumulate ? c0[i * n + j] : 0.0;
      for (size_t l = 0; l < k; ++l) {
        expected += static_cast<double>(a[i * k + l]) * b[l * n + j];
      }
      double error = std::abs(expected - c[i * n + j]);
      worst = std::max(worst, error / (1.0 + std::abs(expected)));
    }
  }
  return worst;
}

std::vector<float> random_values(size_t count, std::mt19937& rng) {
  std::normal_distribution<float> normal;
  std::vector<float> values(count);
  for (auto& v : values) {
    v = normal(rng);
  }
  return values;
}

} // namespace

TEST_CASE("packed matrix fills give equal products") {
  std::mt19937 rng(1);
  for (auto instructions :
       {GemmInstructions::kAvx512, GemmInstructions::kAvx2,
        GemmInstructions::kPortable}) {
    if (!has_gemm_instructions(instructions)) {
      continue;
    }
    // Depths across packed_gemm()'s 512-deep blocks, widths that leave a
    // partial last panel of 16 or 32 columns, and row counts around the
    // tiles' 6 and 8 rows.
    for (size_t k : {1, 5, 513, 1100}) {
      for (size_t n : {1, 4, 17, 33, 64, 100}) {
        for (size_t m : {1, 7, 13}) {
          CAPTURE(static_cast<int>(instructions));
          CAPTURE(k);
          CAPTURE(n);
          CAPTURE(m);
          auto b = random_values(k * n, rng);
          PackedMatrix from_source(b.data(), k, n, n, 1, instructions);

          // Columns in two pieces of rows, as the LSTM's forward pass packs
          // W_x, W_h and the bias.
          PackedMatrix by_column(k, n, instructions);
          std::vector<float> column(k);
          for (size_t j = 0; j < n; ++j) {
            for (size_t l = 0; l < k; ++l) {
              column[l] = b[l * n + j];
            }
            size_t half = k / 2;
            by_column.set_column(j, 0, half, column.data());
            by_column.set_column(j, half, k - half, column.data() + half);
          }
          by_column.zero_padding();

          // Rows into a larger capacity, then set_rows() to the rows used.
          PackedMatrix by_row(k + 3, n, instructions);
          for (size_t l = 0; l < k; ++l) {
            by_row.set_row(l, b.data() + l * n);
          }
          by_row.set_rows(k);

          auto a = random_values(m * k, rng);
          auto c0 = random_values(m * n, rng);
          for (const PackedMatrix* packed : {&from_source, &by_column, &by_row}) {
            for (bool accumulate : {false, true}) {
              CAPTURE(accumulate);
              std::vector<float> c = c0;
              packed_gemm(m, {a.data(), k, 1}, *packed, c.data(), n, accumulate);
              CHECK(max_relative_error(m, k, n, a, b, c, c0, accumulate) < 1e-4);
            }
          }

          if (k > 1) {
            // Fewer rows keep the first ones in place.
            by_row.set_rows(k - 1);
            auto a_short = random_values(m * (k - 1), rng);
            std::vector<float> c(m * n);
            packed_gemm(m, {a_short.data(), k - 1, 1}, by_row, c.data(), n,
                        false);
            CHECK(max_relative_error(m, k - 1, n, a_short, b, c, c0, false) <
                  1e-4);
          }
          CHECK_THROWS_AS(by_row.set_rows(k + 4), std::invalid_argument);
        }
      }
    }
  }
}
