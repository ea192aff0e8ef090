// Batching of data sets for training loops.
#include "rmlx_r.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace mx = mlx::core;

namespace {

// Returns the rows `order` of `x`, copied row by row into a new row-major
// array. MLX's take() computes an index for every element, which on a data
// set of 47 million floats costs several times this row-wise copy.
mx::array gather_rows(const mx::array& x, const cpp11::integers& order) {
  mx::array dense = mx::contiguous(x);
  dense.eval();
  const int n = static_cast<int>(order.size());
  const size_t row_bytes = x.shape(0) > 0 ? dense.nbytes() / x.shape(0) : 0;
  mx::Shape shape = x.shape();
  shape[0] = n;
  auto data = mx::allocator::malloc(row_bytes * n);
  auto* out = static_cast<char*>(data.buffer().raw_ptr());
  const auto* in = dense.data<char>();
  for (int i = 0; i < n; ++i) {
    std::memcpy(out + row_bytes * i, in + row_bytes * order[i], row_bytes);
  }
  return mx::array(std::move(data), shape, x.dtype());
}

} // namespace

// Returns list(batch 1, batch 2, ...), each a list with one array per input:
// the rows `order` (0-based, already checked) of every input, gathered once,
// then cut into consecutive slices of `batch_size` rows. Slices of a
// row-major array are views, so a batch costs no copy of its own.
[[cpp11::register]]
cpp11::list mlx_batches_(cpp11::list inputs, cpp11::integers order,
                         int batch_size, bool drop_last) {
  std::vector<mx::array> shuffled;
  for (R_xlen_t i = 0; i < inputs.size(); ++i) {
    const mx::array& x = rmlx_unwrap_array(inputs[i], "mlx_batches", "...");
    shuffled.push_back(gather_rows(x, order));
  }

  const int n = static_cast<int>(order.size());
  int count = drop_last ? n / batch_size : (n + batch_size - 1) / batch_size;
  cpp11::writable::list batches(count);
  for (int b = 0; b < count; ++b) {
    int start = b * batch_size;
    int stop = std::min(n, start + batch_size);
    cpp11::writable::list batch(shuffled.size());
    for (size_t i = 0; i < shuffled.size(); ++i) {
      const mx::array& x = shuffled[i];
      mx::Shape lower(x.ndim(), 0);
      mx::Shape upper = x.shape();
      lower[0] = start;
      upper[0] = stop;
      batch[i] = rmlx_wrap_array(mx::slice(x, lower, upper));
    }
    batches[b] = batch;
  }
  return batches;
}
