// Batching of data sets for training loops.
#include "rmlx_r.h"

#include <stdexcept>
#include <vector>

namespace mx = mlx::core;

// Returns list(batch 1, batch 2, ...), each a list with one array per input:
// the rows `order` (0-based, already checked) of every input, gathered once
// and evaluated, then cut into consecutive slices of `batch_size` rows.
// Slices of an evaluated row-major array are views, so a batch costs no
// copy, where gathering every batch separately would cost one each.
[[cpp11::register]]
cpp11::list mlx_batches_(cpp11::list inputs, cpp11::integers order,
                         int batch_size, bool drop_last) {
  mx::array rows(order.begin(), mx::Shape{static_cast<int>(order.size())},
                 mx::int32);
  std::vector<mx::array> shuffled;
  for (R_xlen_t i = 0; i < inputs.size(); ++i) {
    const mx::array& x = rmlx_unwrap_array(inputs[i], "mlx_batches", "...");
    shuffled.push_back(mx::contiguous(mx::take(x, rows, 0)));
  }
  mx::eval(shuffled);

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
