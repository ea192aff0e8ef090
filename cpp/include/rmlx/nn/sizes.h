// Size arguments of the spatial layers (convolution, pooling).
#pragma once

#include <initializer_list>
#include <string>
#include <vector>

namespace rmlx::nn {

/**
 * A size argument given as one int for every spatial dimension or as one
 * value per dimension, like MLX Python's `Union[int, tuple]`. An int prints
 * as an int and a list prints as a tuple, as MLX Python prints the argument.
 * A default-constructed value is empty, which the pooling layers read as
 * "use the kernel size" for their stride.
 */
class IntOrTuple {
 public:
  IntOrTuple() = default;
  IntOrTuple(int value) : values_{value}, is_int_(true) {}
  IntOrTuple(std::initializer_list<int> values) : values_(values) {}
  IntOrTuple(std::vector<int> values) : values_(std::move(values)) {}

  /** True when the argument was a single int. */
  bool is_int() const {
    return is_int_;
  }

  /** True for a default-constructed value, which holds no size. */
  bool empty() const {
    return values_.empty();
  }

  /** Returns the values as given: one for an int, else one per dimension. */
  const std::vector<int>& values() const {
    return values_;
  }

  /**
   * Returns one value per spatial dimension: an int repeated ndim times, or
   * the list itself. Throws std::invalid_argument, naming the layer and the
   * argument, when a list does not have ndim values.
   */
  std::vector<int> expand(
      int ndim,
      const std::string& layer,
      const std::string& argument) const;

  /** Returns the argument as Python prints it: "2" or "(2, 1)". */
  std::string repr() const;

 private:
  std::vector<int> values_;
  bool is_int_ = false;
};

} // namespace rmlx::nn
