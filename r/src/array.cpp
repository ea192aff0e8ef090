// Bindings for creating MLX arrays from R, converting them back, and the
// array operations behind the R methods in R/array*.R. Axis arguments arrive
// 0-based and checked: the R wrappers translate R's 1-based axes.
#include <climits>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "rmlx_r.h"

namespace mx = mlx::core;

namespace {

mx::Shape shape_from_r(const cpp11::integers& dim) {
  mx::Shape shape;
  for (int d : dim) {
    shape.push_back(d);
  }
  return shape;
}

// Returns the axes (ndim - 1, ..., 0), which reverse the axis order.
std::vector<int> reversed_axes(int ndim) {
  std::vector<int> axes(ndim);
  for (int i = 0; i < ndim; ++i) {
    axes[i] = ndim - 1 - i;
  }
  return axes;
}

// Flattens `a` to 1-D in R's column-major element order.
mx::array flatten_column_major(const mx::array& a) {
  if (a.ndim() <= 1) {
    return mx::reshape(a, {-1});
  }
  return mx::reshape(mx::transpose(a, reversed_axes(a.ndim())), {-1});
}

// Calls `visit(element, k)` for the elements of the evaluated array `a` in
// R's column-major order, k = 0, 1, ... Reading through the strides handles
// transposed, sliced and broadcast views without a copy in MLX.
template <typename T, typename Visit>
void for_each_column_major(const mx::array& a, Visit visit) {
  const T* data = a.data<T>();
  const size_t n = a.size();
  const int ndim = a.ndim();
  if (ndim == 0) {
    if (n == 1) {
      visit(data[0], size_t{0});
    }
    return;
  }
  const auto& shape = a.shape();
  const auto& strides = a.strides();
  std::vector<int64_t> index(ndim, 0);
  int64_t offset = 0;
  for (size_t k = 0; k < n; ++k) {
    visit(data[offset], k);
    for (int axis = 0; axis < ndim; ++axis) {
      if (++index[axis] < shape[axis]) {
        offset += strides[axis];
        break;
      }
      offset -= strides[axis] * (shape[axis] - 1);
      index[axis] = 0;
    }
  }
}

template <typename T, typename Out, typename Convert>
void copy_column_major(const mx::array& a, Out* out, Convert convert) {
  for_each_column_major<T>(a, [&](T value, size_t k) { out[k] = convert(value); });
}

// True when every element fits an R integer. INT_MIN is excluded because R
// uses it for NA_integer_.
template <typename T>
bool fits_r_integer(const mx::array& a) {
  bool fits = true;
  for_each_column_major<T>(a, [&fits](T value, size_t) {
    if constexpr (std::is_signed_v<T>) {
      fits = fits && static_cast<int64_t>(value) > INT_MIN &&
             static_cast<int64_t>(value) <= INT_MAX;
    } else {
      fits = fits && static_cast<uint64_t>(value) <= INT_MAX;
    }
  });
  return fits;
}

template <typename T>
SEXP integer_to_r(const mx::array& a) {
  if (fits_r_integer<T>(a)) {
    cpp11::writable::integers out(static_cast<R_xlen_t>(a.size()));
    copy_column_major<T>(a, INTEGER(out.data()),
                         [](T v) { return static_cast<int>(v); });
    return out;
  }
  cpp11::writable::doubles out(static_cast<R_xlen_t>(a.size()));
  copy_column_major<T>(a, REAL(out.data()), [](T v) { return static_cast<double>(v); });
  return out;
}

template <typename T>
SEXP float_to_r(const mx::array& a) {
  cpp11::writable::doubles out(static_cast<R_xlen_t>(a.size()));
  copy_column_major<T>(a, REAL(out.data()),
                       [](T v) { return static_cast<double>(static_cast<float>(v)); });
  return out;
}

SEXP double_to_r(const mx::array& a) {
  cpp11::writable::doubles out(static_cast<R_xlen_t>(a.size()));
  copy_column_major<double>(a, REAL(out.data()), [](double v) { return v; });
  return out;
}

SEXP bool_to_r(const mx::array& a) {
  cpp11::writable::logicals out(static_cast<R_xlen_t>(a.size()));
  copy_column_major<bool>(a, LOGICAL(out.data()),
                          [](bool v) { return v ? 1 : 0; });
  return out;
}

mx::array unary_op(const std::string& op, const mx::array& a) {
  if (op == "abs") return mx::abs(a);
  if (op == "sign") return mx::sign(a);
  if (op == "sqrt") return mx::sqrt(a);
  if (op == "floor") return mx::floor(a);
  if (op == "ceiling") return mx::ceil(a);
  if (op == "trunc") return mx::trunc(a);
  if (op == "exp") return mx::exp(a);
  if (op == "expm1") return mx::expm1(a);
  if (op == "log") return mx::log(a);
  if (op == "log2") return mx::log2(a);
  if (op == "log10") return mx::log10(a);
  if (op == "log1p") return mx::log1p(a);
  if (op == "sin") return mx::sin(a);
  if (op == "cos") return mx::cos(a);
  if (op == "tan") return mx::tan(a);
  if (op == "asin") return mx::arcsin(a);
  if (op == "acos") return mx::arccos(a);
  if (op == "atan") return mx::arctan(a);
  if (op == "sinh") return mx::sinh(a);
  if (op == "cosh") return mx::cosh(a);
  if (op == "tanh") return mx::tanh(a);
  if (op == "asinh") return mx::arcsinh(a);
  if (op == "acosh") return mx::arccosh(a);
  if (op == "atanh") return mx::arctanh(a);
  if (op == "negative") return mx::negative(a);
  if (op == "logical_not") return mx::logical_not(a);
  if (op == "isnan") return mx::isnan(a);
  if (op == "isinf") return mx::isinf(a);
  if (op == "isfinite") return mx::isfinite(a);
  throw std::invalid_argument("Unknown unary operation \"" + op + "\".");
}

mx::array binary_op(const std::string& op, const mx::array& a, const mx::array& b) {
  if (op == "+") return mx::add(a, b);
  if (op == "-") return mx::subtract(a, b);
  if (op == "*") return mx::multiply(a, b);
  if (op == "/") return mx::divide(a, b);
  if (op == "^") return mx::power(a, b);
  if (op == "%%") return mx::remainder(a, b);
  if (op == "%/%") return mx::floor_divide(a, b);
  if (op == "==") return mx::equal(a, b);
  if (op == "!=") return mx::not_equal(a, b);
  if (op == "<") return mx::less(a, b);
  if (op == "<=") return mx::less_equal(a, b);
  if (op == ">") return mx::greater(a, b);
  if (op == ">=") return mx::greater_equal(a, b);
  if (op == "&") return mx::logical_and(a, b);
  if (op == "|") return mx::logical_or(a, b);
  if (op == "maximum") return mx::maximum(a, b);
  if (op == "minimum") return mx::minimum(a, b);
  throw std::invalid_argument("Unknown binary operation \"" + op + "\".");
}

std::vector<mx::array> unwrap_list(const cpp11::list& arrays, const char* fn,
                                   const char* arg) {
  std::vector<mx::array> out;
  out.reserve(arrays.size());
  for (SEXP element : arrays) {
    out.push_back(rmlx_unwrap_array(element, fn, arg));
  }
  return out;
}

}  // namespace

[[cpp11::register]]
SEXP as_mlx_(SEXP x, std::string dtype, bool scalar, SEXP device) {
  // A matrix or higher-dimensional array is evaluated below.
  rmlx_check_not_forked("as_mlx");
  const mx::Dtype target = rmlx_parse_dtype(dtype, "as_mlx");
  const mx::StreamOrDevice stream = rmlx_parse_stream(device, "as_mlx");

  // R stores arrays column-major. Reading R's memory as a row-major array of
  // the reversed shape and then reversing the axes keeps every element at
  // the same [i, j, ...] position.
  mx::Shape reversed;
  SEXP dim = Rf_getAttrib(x, R_DimSymbol);
  if (scalar) {
    if (Rf_xlength(x) != 1) {
      throw std::invalid_argument("as_mlx(): `x` must have exactly one element to become a 0-d array; it has " +
                                  std::to_string(Rf_xlength(x)) + ".");
    }
  } else if (Rf_isNull(dim)) {
    reversed.push_back(static_cast<int>(Rf_xlength(x)));
  } else {
    for (int i = Rf_length(dim) - 1; i >= 0; --i) {
      reversed.push_back(INTEGER(dim)[i]);
    }
  }

  auto build = [&]() -> mx::array {
    switch (TYPEOF(x)) {
      case REALSXP:
        return mx::array(REAL(x), reversed, target);
      case INTSXP:
        return mx::array(INTEGER(x), reversed, target);
      case LGLSXP:
        return mx::array(LOGICAL(x), reversed, target);
      default:
        throw std::invalid_argument(std::string("as_mlx(): cannot convert an R ") +
                                    Rf_type2char(TYPEOF(x)) + " vector.");
    }
  };
  mx::array a = build();
  if (a.ndim() > 1) {
    // Copy into row-major order now: a transposed view would make every
    // later row gather (x[index, ]) read rows that lie far apart in memory.
    a = mx::contiguous(mx::transpose(a, reversed_axes(a.ndim()), stream),
                       false, stream);
    a.eval();
  }
  return rmlx_wrap_array(std::move(a));
}

[[cpp11::register]]
SEXP as_r_(SEXP x) {
  mx::array a = rmlx_unwrap_array(x, "as.array", "x");
  a.eval();
  cpp11::sexp out;
  switch (a.dtype()) {
    case mx::bool_:
      out = bool_to_r(a);
      break;
    case mx::uint8:
      out = integer_to_r<uint8_t>(a);
      break;
    case mx::uint16:
      out = integer_to_r<uint16_t>(a);
      break;
    case mx::uint32:
      out = integer_to_r<uint32_t>(a);
      break;
    case mx::uint64:
      out = integer_to_r<uint64_t>(a);
      break;
    case mx::int8:
      out = integer_to_r<int8_t>(a);
      break;
    case mx::int16:
      out = integer_to_r<int16_t>(a);
      break;
    case mx::int32:
      out = integer_to_r<int32_t>(a);
      break;
    case mx::int64:
      out = integer_to_r<int64_t>(a);
      break;
    case mx::float16:
      out = float_to_r<mx::float16_t>(a);
      break;
    case mx::bfloat16:
      out = float_to_r<mx::bfloat16_t>(a);
      break;
    case mx::float32:
      out = float_to_r<float>(a);
      break;
    case mx::float64:
      out = double_to_r(a);
      break;
    default:
      throw std::invalid_argument("as.array(): converting MLX dtype " +
                                  rmlx_dtype_name(a.dtype()) +
                                  " to R is not supported.");
  }
  if (a.ndim() >= 1) {
    cpp11::writable::integers dim(a.ndim());
    for (int i = 0; i < a.ndim(); ++i) {
      dim[i] = a.shape(i);
    }
    out.attr(R_DimSymbol) = dim;
  }
  return out;
}

[[cpp11::register]]
std::string mlx_dtype_(SEXP x) {
  return rmlx_dtype_name(rmlx_unwrap_array(x, "mlx_dtype", "x").dtype());
}

[[cpp11::register]]
cpp11::integers mlx_shape_(SEXP x) {
  const mx::array& a = rmlx_unwrap_array(x, "mlx_shape", "x");
  cpp11::writable::integers out(a.ndim());
  for (int i = 0; i < a.ndim(); ++i) {
    out[i] = a.shape(i);
  }
  return out;
}

[[cpp11::register]]
double mlx_size_(SEXP x) {
  return static_cast<double>(rmlx_unwrap_array(x, "length", "x").size());
}

[[cpp11::register]]
SEXP mlx_astype_(SEXP x, std::string dtype) {
  const mx::array& a = rmlx_unwrap_array(x, "mlx_astype", "x");
  return rmlx_wrap_array(mx::astype(a, rmlx_parse_dtype(dtype, "mlx_astype")));
}

[[cpp11::register]]
void mlx_eval_(cpp11::list arrays) {
  mx::eval(unwrap_list(arrays, "mlx_eval", "..."));
}

[[cpp11::register]]
SEXP mlx_unary_(std::string op, SEXP x) {
  return rmlx_wrap_array(unary_op(op, rmlx_unwrap_array(x, op.c_str(), "x")));
}

[[cpp11::register]]
SEXP mlx_binary_(std::string op, SEXP e1, SEXP e2) {
  mx::array a = rmlx_unwrap_array(e1, op.c_str(), "e1");
  mx::array b = rmlx_unwrap_array(e2, op.c_str(), "e2");
  // R's arithmetic on logicals counts (TRUE + TRUE is 2), where MLX's on
  // bool arrays is logical. R's ^ always gives a double, where MLX's on
  // integers stays integer, so 2^-1 would be 0.
  bool arithmetic = op == "+" || op == "-" || op == "*" || op == "/" ||
      op == "^" || op == "%%" || op == "%/%";
  if (arithmetic) {
    if (a.dtype() == mx::bool_) {
      a = mx::astype(a, mx::int32);
    }
    if (b.dtype() == mx::bool_) {
      b = mx::astype(b, mx::int32);
    }
  }
  bool a_integer = mx::issubdtype(a.dtype(), mx::integer);
  bool b_integer = mx::issubdtype(b.dtype(), mx::integer);
  if (op == "^" && a_integer && b_integer) {
    a = mx::astype(a, mx::float32);
    b = mx::astype(b, mx::float32);
  }
  return rmlx_wrap_array(binary_op(op, a, b));
}

[[cpp11::register]]
SEXP mlx_round_(SEXP x, int digits) {
  return rmlx_wrap_array(mx::round(rmlx_unwrap_array(x, "round", "x"), digits));
}

[[cpp11::register]]
SEXP mlx_cumulative_(std::string op, SEXP x) {
  const mx::array flat = flatten_column_major(rmlx_unwrap_array(x, op.c_str(), "x"));
  if (op == "cumsum") return rmlx_wrap_array(mx::cumsum(flat, 0));
  if (op == "cumprod") return rmlx_wrap_array(mx::cumprod(flat, 0));
  if (op == "cummax") return rmlx_wrap_array(mx::cummax(flat, 0));
  if (op == "cummin") return rmlx_wrap_array(mx::cummin(flat, 0));
  throw std::invalid_argument("Unknown cumulative operation \"" + op + "\".");
}

// Reduces over `axes` (0-based), or over all axes when `axes` is NULL.
[[cpp11::register]]
SEXP mlx_reduce_(std::string op, SEXP x, SEXP axes, bool keepdims) {
  const mx::array& a = rmlx_unwrap_array(x, ("mlx_" + op).c_str(), "x");
  std::vector<int> ax;
  if (Rf_isNull(axes)) {
    ax = std::vector<int>(a.ndim());
    for (int i = 0; i < a.ndim(); ++i) ax[i] = i;
  } else {
    cpp11::integers given(axes);
    ax.assign(given.begin(), given.end());
  }
  if (op == "sum") return rmlx_wrap_array(mx::sum(a, ax, keepdims));
  if (op == "mean") return rmlx_wrap_array(mx::mean(a, ax, keepdims));
  if (op == "prod") return rmlx_wrap_array(mx::prod(a, ax, keepdims));
  if (op == "all") return rmlx_wrap_array(mx::all(a, ax, keepdims));
  if (op == "any") return rmlx_wrap_array(mx::any(a, ax, keepdims));
  // MLX 0.32.4 throws an exception, which cpp11 turns into an R error, for
  // max and min over an empty axis.
  if (op == "max") return rmlx_wrap_array(mx::max(a, ax, keepdims));
  if (op == "min") return rmlx_wrap_array(mx::min(a, ax, keepdims));
  throw std::invalid_argument("Unknown reduction \"" + op + "\".");
}

// Returns 1-based int32 indices of the max or min along `axis` (0-based),
// or, when `axis` is NA, the 1-based column-major position in the whole array.
[[cpp11::register]]
SEXP mlx_argreduce_(std::string op, SEXP x, int axis, bool keepdims) {
  const mx::array& a = rmlx_unwrap_array(x, ("mlx_" + op).c_str(), "x");
  const bool whole = axis == NA_INTEGER;
  const mx::array source = whole ? flatten_column_major(a) : a;
  const int along = whole ? 0 : axis;
  mx::array index = op == "argmax" ? mx::argmax(source, along, keepdims && !whole)
                                   : mx::argmin(source, along, keepdims && !whole);
  if (whole && keepdims) {
    index = mx::reshape(index, mx::Shape(a.ndim(), 1));
  }
  index = mx::add(mx::astype(index, mx::int32), mx::array(1, mx::int32));
  return rmlx_wrap_array(std::move(index));
}

[[cpp11::register]]
SEXP mlx_matmul_(SEXP a, SEXP b) {
  return rmlx_wrap_array(mx::matmul(rmlx_unwrap_array(a, "%*%", "x"),
                                    rmlx_unwrap_array(b, "%*%", "y")));
}

// Permutes the axes. `perm` is 0-based.
[[cpp11::register]]
SEXP mlx_transpose_(SEXP x, cpp11::integers perm) {
  std::vector<int> axes(perm.begin(), perm.end());
  return rmlx_wrap_array(mx::transpose(rmlx_unwrap_array(x, "mlx_transpose", "x"), axes));
}

// Reshapes with R's column-major element order, as `dim<-` does on an R array.
[[cpp11::register]]
SEXP mlx_reshape_(SEXP x, cpp11::integers dim) {
  const mx::array& a = rmlx_unwrap_array(x, "mlx_reshape", "x");
  mx::Shape reversed;
  for (int i = dim.size() - 1; i >= 0; --i) {
    reversed.push_back(dim[i]);
  }
  mx::array out = a.ndim() > 1 ? mx::transpose(a, reversed_axes(a.ndim())) : a;
  out = mx::reshape(out, reversed);
  if (out.ndim() > 1) {
    out = mx::transpose(out, reversed_axes(out.ndim()));
  }
  return rmlx_wrap_array(std::move(out));
}

// Reshapes with MLX's row-major element order; used where only axes of
// extent 1 are added or removed, so both orders agree.
[[cpp11::register]]
SEXP mlx_reshape_rowmajor_(SEXP x, cpp11::integers dim) {
  const mx::array& a = rmlx_unwrap_array(x, "mlx_reshape", "x");
  return rmlx_wrap_array(mx::reshape(a, shape_from_r(dim)));
}

[[cpp11::register]]
SEXP mlx_flatten_(SEXP x) {
  return rmlx_wrap_array(flatten_column_major(rmlx_unwrap_array(x, "mlx_flatten", "x")));
}

[[cpp11::register]]
SEXP mlx_concatenate_(cpp11::list arrays, int axis) {
  return rmlx_wrap_array(
      mx::concatenate(unwrap_list(arrays, "mlx_concatenate", "arrays"), axis));
}

[[cpp11::register]]
SEXP mlx_stack_(cpp11::list arrays, int axis) {
  return rmlx_wrap_array(mx::stack(unwrap_list(arrays, "mlx_stack", "arrays"), axis));
}

// Selects `indices[[k]]` (0-based, in range) along axis k; NULL keeps the
// whole axis.
[[cpp11::register]]
SEXP mlx_take_(SEXP x, cpp11::list indices) {
  mx::array out = rmlx_unwrap_array(x, "[", "x");
  for (int axis = 0; axis < indices.size(); ++axis) {
    SEXP index = indices[axis];
    if (Rf_isNull(index)) {
      continue;
    }
    cpp11::integers positions(index);
    mx::array take_at(positions.begin(), mx::Shape{static_cast<int>(positions.size())},
                      mx::int32);
    out = mx::take(out, take_at, axis);
  }
  return rmlx_wrap_array(std::move(out));
}

[[cpp11::register]]
SEXP mlx_full_(cpp11::integers dim, SEXP value, std::string dtype, SEXP device) {
  const mx::Dtype target = rmlx_parse_dtype(dtype, "mlx_full");
  const mx::StreamOrDevice stream = rmlx_parse_stream(device, "mlx_full");
  const mx::array& fill = rmlx_unwrap_array(value, "mlx_full", "value");
  return rmlx_wrap_array(mx::full(shape_from_r(dim), fill, target, stream));
}

[[cpp11::register]]
SEXP mlx_arange_(double start, double stop, double step, std::string dtype,
                 SEXP device) {
  const mx::Dtype target = rmlx_parse_dtype(dtype, "mlx_arange");
  const mx::StreamOrDevice stream = rmlx_parse_stream(device, "mlx_arange");
  return rmlx_wrap_array(mx::arange(start, stop, step, target, stream));
}

[[cpp11::register]]
double mlx_active_memory_() {
  return static_cast<double>(mx::get_active_memory());
}

[[cpp11::register]]
std::string mlx_version_() {
  return mx::version();
}

[[cpp11::register]]
bool mlx_gpu_available_() {
  return mx::is_available(mx::Device::gpu);
}

// Flattens axes start..end (0-based, inclusive) in MLX's row-major order,
// as mx.flatten does in MLX Python.
[[cpp11::register]]
SEXP mlx_flatten_axes_(SEXP x, int start, int end) {
  return rmlx_wrap_array(
      mx::flatten(rmlx_unwrap_array(x, "mlx_flatten", "x"), start, end));
}
