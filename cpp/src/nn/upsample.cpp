// A port of the index and weight formulas of MLX 0.32.4's
// python/mlx/nn/layers/upsample.py. Python float scalars next to float32
// arrays are rounded to float32 here as MLX Python rounds them, and the
// operations run in the same order, so the outputs match MLX Python's.
#include "rmlx/nn/upsample.h"

#include <cmath>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <utility>

#include "layer_utils.h"

namespace rmlx::nn {

namespace {

// Sample indices (uint32, clipped to the axis) and their weights along one
// spatial axis. Indices have shape (M,), and weights have the shape
// (1, ..., M, ..., 1, 1) that broadcasts against (N, spatial..., C).
struct Tap {
  mx::array index;
  mx::array weight;
};
using Taps = std::vector<Tap>;
using TapsFn = std::function<Taps(int size, double scale, bool align_corners,
                                  int axis, int dims)>;

mx::array f32(double value) {
  return mx::array(static_cast<float>(value));
}

// The output size int(scale * n) of an axis of size n.
int output_size(int size, double scale) {
  return static_cast<int>(scale * size);
}

// Reshapes a (M,) vector to (1, ..., M, ..., 1) with M at `axis` of `dims`.
mx::array along_axis(const mx::array& values, int axis, int dims) {
  mx::Shape shape(dims, 1);
  shape[axis] = -1;
  return mx::reshape(values, shape);
}

mx::array as_index(const mx::array& indices, int size) {
  return mx::astype(
      mx::clip(indices, f32(0), f32(size - 1)), mx::uint32);
}

// The input coordinate of each output position, as float32 of shape (M,).
mx::array scaled_indices(int size, double scale, bool align_corners) {
  int out = output_size(size, scale);
  mx::array positions = mx::arange(out, mx::float32);
  if (align_corners) {
    double step = static_cast<double>(size - 1) / std::max(out - 1, 1);
    return mx::multiply(positions, f32(step));
  }
  double step = 1.0 / scale;
  double start = ((out - 1) * step - size + 1) / 2;
  return mx::subtract(mx::multiply(positions, f32(step)), f32(start));
}

mx::array nearest_indices(int size, double scale) {
  int out = output_size(size, scale);
  mx::array indices = mx::arange(out, mx::float32);
  double ratio = static_cast<double>(size) / out;
  if (out > size) {
    indices = mx::subtract(
        mx::multiply(mx::add(indices, f32(0.5)), f32(ratio)), f32(0.5));
    indices = mx::round(indices);
  } else {
    indices = mx::multiply(indices, f32(ratio));
  }
  return mx::astype(indices, mx::uint32);
}

Taps linear_taps(int size, double scale, bool align_corners, int axis,
                 int dims) {
  mx::array indices = mx::clip(
      scaled_indices(size, scale, align_corners), f32(0), f32(size - 1));
  mx::array left = mx::floor(indices);
  mx::array right = mx::ceil(indices);
  mx::array weight = mx::expand_dims(
      along_axis(mx::subtract(indices, left), axis, dims), -1);
  return {
      {mx::astype(left, mx::uint32), mx::subtract(f32(1), weight)},
      {mx::astype(right, mx::uint32), weight}};
}

// Keys' cubic kernel for |distance| <= 1 and 1 < |distance| <= 2.
mx::array cubic_inner(const mx::array& x, double a) {
  mx::array t = mx::subtract(mx::multiply(f32(a + 2.0), x), f32(a + 3.0));
  return mx::add(mx::multiply(mx::multiply(t, x), x), f32(1));
}

mx::array cubic_outer(const mx::array& x, double a) {
  mx::array t = mx::add(mx::multiply(mx::subtract(x, f32(5)), x), f32(8));
  return mx::multiply(mx::subtract(mx::multiply(t, x), f32(4)), f32(a));
}

Taps cubic_taps(int size, double scale, bool align_corners, int axis,
                int dims) {
  // a = -0.75 as in OpenCV and PyTorch's bicubic. Taps beyond the border
  // repeat the edge sample.
  const double a = -0.75;
  mx::array indices = scaled_indices(size, scale, align_corners);
  mx::array left1 = mx::floor(indices);
  mx::array right1 = mx::floor(mx::add(indices, f32(1)));
  mx::array left2 = mx::subtract(left1, f32(1));
  mx::array right2 = mx::add(right1, f32(1));

  auto weight = [&](const mx::array& grid, bool inner) {
    mx::array distance = mx::abs(mx::subtract(indices, grid));
    mx::array w = inner ? cubic_inner(distance, a) : cubic_outer(distance, a);
    return mx::expand_dims(along_axis(w, axis, dims), -1);
  };
  return {
      {as_index(left1, size), weight(left1, true)},
      {as_index(right1, size), weight(right1, true)},
      {as_index(left2, size), weight(left2, false)},
      {as_index(right2, size), weight(right2, false)}};
}

// Antialiased taps: when downsampling the kernel widens by 1 / scale, taps
// outside the axis get weight 0 and the weights are renormalized.
Taps antialiased_taps(
    int size, double scale, bool align_corners, int axis, int dims,
    const std::function<mx::array(const mx::array&)>& kernel,
    double kernel_radius) {
  mx::array indices = scaled_indices(size, scale, align_corners);
  double inv_scale = scale < 1 ? 1.0 / scale : 1.0;
  int num_taps = static_cast<int>(std::ceil(kernel_radius * inv_scale)) + 1;

  std::vector<mx::array> tap_indices;
  std::vector<mx::array> tap_weights;
  for (int k = -num_taps + 1; k < num_taps; ++k) {
    mx::array index = mx::add(mx::floor(indices), f32(k));
    mx::array distance =
        mx::divide(mx::abs(mx::subtract(indices, index)), f32(inv_scale));
    mx::array inside = mx::logical_and(
        mx::greater_equal(index, f32(0)), mx::less(index, f32(size)));
    tap_indices.push_back(index);
    tap_weights.push_back(mx::where(inside, kernel(distance), f32(0)));
  }
  mx::array total = tap_weights[0];
  for (size_t i = 1; i < tap_weights.size(); ++i) {
    total = mx::add(total, tap_weights[i]);
  }
  total = mx::where(mx::greater(total, f32(0)), total, f32(1));

  Taps taps;
  for (size_t i = 0; i < tap_indices.size(); ++i) {
    mx::array w = mx::divide(tap_weights[i], total);
    taps.push_back({as_index(tap_indices[i], size),
                    mx::expand_dims(along_axis(w, axis, dims), -1)});
  }
  return taps;
}

mx::array triangle_kernel(const mx::array& x) {
  return mx::maximum(mx::subtract(f32(1), x), f32(0));
}

// Keys' kernel with a = -0.5 (PIL's), which MLX uses with antialias.
mx::array antialias_cubic_kernel(const mx::array& x) {
  const double a = -0.5;
  return mx::where(
      mx::less_equal(x, f32(1)),
      cubic_inner(x, a),
      mx::where(mx::less_equal(x, f32(2)), cubic_outer(x, a), f32(0)));
}

Taps linear_antialiased_taps(int size, double scale, bool align_corners,
                             int axis, int dims) {
  return antialiased_taps(
      size, scale, align_corners, axis, dims, triangle_kernel, 1.0);
}

Taps cubic_antialiased_taps(int size, double scale, bool align_corners,
                            int axis, int dims) {
  return antialiased_taps(
      size, scale, align_corners, axis, dims, antialias_cubic_kernel, 2.0);
}

mx::array upsample_nearest(const mx::array& x,
                           const std::vector<double>& scales) {
  int dims = static_cast<int>(scales.size());
  bool whole = true;
  for (double s : scales) {
    whole = whole && s == std::trunc(s);
  }
  if (whole) {
    // Repeat each element by broadcasting a new axis after every spatial axis.
    mx::Shape shape = x.shape();
    mx::Shape expanded = {shape[0]};
    mx::Shape repeated = {shape[0]};
    mx::Shape result = {shape[0]};
    for (int d = 0; d < dims; ++d) {
      int factor = static_cast<int>(scales[d]);
      expanded.insert(expanded.end(), {shape[d + 1], 1});
      repeated.insert(repeated.end(), {shape[d + 1], factor});
      result.push_back(shape[d + 1] * factor);
    }
    expanded.push_back(shape.back());
    repeated.push_back(shape.back());
    result.push_back(shape.back());
    return mx::reshape(
        mx::broadcast_to(mx::reshape(x, expanded), repeated), result);
  }
  mx::array out = x;
  for (int d = 0; d < dims; ++d) {
    out = mx::take(out, nearest_indices(x.shape(d + 1), scales[d]), d + 1);
  }
  return out;
}

// Sums the product of one tap per axis over every combination of taps, the
// last axis varying fastest, as itertools.product orders them.
mx::array interpolate(const mx::array& x, const std::vector<double>& scales,
                      const TapsFn& taps_fn, bool align_corners) {
  int dims = static_cast<int>(scales.size());
  std::vector<Taps> taps;
  for (int d = 0; d < dims; ++d) {
    taps.push_back(taps_fn(x.shape(d + 1), scales[d], align_corners, d, dims));
  }

  std::optional<mx::array> result;
  std::vector<size_t> choice(dims, 0);
  while (true) {
    mx::array sample = x;
    std::optional<mx::array> weight;
    for (int d = 0; d < dims; ++d) {
      const Tap& tap = taps[d][choice[d]];
      sample = mx::take(sample, tap.index, d + 1);
      weight = weight ? mx::multiply(*weight, tap.weight) : tap.weight;
    }
    mx::array term = mx::multiply(*weight, sample);
    result = result ? mx::add(*result, term) : term;

    int d = dims - 1;
    while (d >= 0 && ++choice[d] == taps[d].size()) {
      choice[d] = 0;
      --d;
    }
    if (d < 0) {
      break;
    }
  }
  return *result;
}

// Interpolates one spatial axis at a time.
mx::array interpolate_separable(const mx::array& x,
                                const std::vector<double>& scales,
                                const TapsFn& taps_fn, bool align_corners) {
  int dims = static_cast<int>(scales.size());
  mx::array out = x;
  for (int d = 0; d < dims; ++d) {
    std::optional<mx::array> sum;
    for (const Tap& tap :
         taps_fn(x.shape(d + 1), scales[d], align_corners, d, dims)) {
      mx::array sample = mx::multiply(mx::take(out, tap.index, d + 1),
                                      tap.weight);
      sum = sum ? mx::add(*sum, sample) : sample;
    }
    out = *sum;
  }
  return out;
}

std::string scale_repr(const std::vector<double>& scales, bool single) {
  if (single) {
    return detail::python_float_repr(scales[0]);
  }
  std::string out = "(";
  for (size_t i = 0; i < scales.size(); ++i) {
    out += (i ? ", " : "") + detail::python_float_repr(scales[i]);
  }
  return out + (scales.size() == 1 ? ",)" : ")");
}

} // namespace

Upsample::Upsample(double scale_factor, std::string mode, bool align_corners,
                   bool antialias)
    : scale_factor_{scale_factor},
      single_scale_(true),
      mode_(std::move(mode)),
      align_corners_(align_corners),
      antialias_(antialias) {
  validate();
}

Upsample::Upsample(std::vector<double> scale_factor, std::string mode,
                   bool align_corners, bool antialias)
    : scale_factor_(std::move(scale_factor)),
      single_scale_(false),
      mode_(std::move(mode)),
      align_corners_(align_corners),
      antialias_(antialias) {
  validate();
}

void Upsample::validate() {
  if (mode_ != "nearest" && mode_ != "linear" && mode_ != "cubic") {
    throw std::invalid_argument(
        "[Upsample] Unsupported mode '" + mode_ +
        "'. Expected 'nearest', 'linear' or 'cubic'.");
  }
  if (antialias_ && mode_ == "nearest") {
    throw std::invalid_argument(
        "[Upsample] antialias=True is not supported in 'nearest' mode.");
  }
  if (antialias_ && align_corners_) {
    throw std::invalid_argument(
        "[Upsample] antialias=True with align_corners=True is not "
        "supported. Use align_corners=False for antialiased interpolation.");
  }
  if (scale_factor_.empty()) {
    throw std::invalid_argument(
        "[Upsample] Expected at least one scale factor.");
  }
  // NOTE: MLX Python does not check the scale. It fails or returns empty
  // arrays at call time for scales that are not finite and positive.
  for (double s : scale_factor_) {
    if (!(std::isfinite(s) && s > 0)) {
      throw std::invalid_argument(
          "[Upsample] Expected finite, positive scale factors but got " +
          scale_repr(scale_factor_, single_scale_) + ".");
    }
  }
}

std::string Upsample::extra_repr() const {
  std::string out = "scale_factor=" + scale_repr(scale_factor_, single_scale_) +
      ", mode='" + mode_ + "', align_corners=" +
      detail::python_bool(align_corners_);
  if (antialias_) {
    out += ", antialias=True";
  }
  return out;
}

mx::array Upsample::forward(const mx::array& x) {
  int dims = static_cast<int>(x.ndim()) - 2;
  if (dims <= 0) {
    throw std::invalid_argument(
        "[Upsample] Expected an input (N, spatial..., C) with at least 3 "
        "dimensions but received shape " +
        detail::shape_string(x.shape()) + ".");
  }
  std::vector<double> scales = scale_factor_;
  if (single_scale_) {
    scales.assign(dims, scale_factor_[0]);
  } else if (static_cast<int>(scales.size()) != dims) {
    throw std::invalid_argument(
        "[Upsample] One scale per spatial dimension is required but "
        "scale_factor=" + scale_repr(scale_factor_, false) +
        " and the input " + detail::shape_string(x.shape()) + " has " +
        std::to_string(dims) + " spatial dimensions.");
  }
  for (int d = 0; d < dims; ++d) {
    if (output_size(x.shape(d + 1), scales[d]) < 1) {
      std::ostringstream msg;
      msg << "[Upsample] scale_factor " << detail::python_float_repr(scales[d])
          << " leaves no output along spatial axis " << d + 1 << " of size "
          << x.shape(d + 1) << ".";
      throw std::invalid_argument(msg.str());
    }
  }

  if (mode_ == "nearest") {
    return upsample_nearest(x, scales);
  }
  if (mode_ == "linear") {
    if (antialias_) {
      return interpolate_separable(x, scales, linear_antialiased_taps, false);
    }
    if (!align_corners_) {
      return interpolate_separable(x, scales, linear_taps, false);
    }
    return interpolate(x, scales, linear_taps, true);
  }
  if (antialias_) {
    return interpolate_separable(x, scales, cubic_antialiased_taps, false);
  }
  return interpolate(x, scales, cubic_taps, align_corners_);
}

} // namespace rmlx::nn
