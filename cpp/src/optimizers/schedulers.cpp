#include "rmlx/optimizers/schedulers.h"

#include <numbers>
#include <sstream>
#include <stdexcept>
#include <string>

namespace rmlx::optimizers {

namespace {

void check_at_least_one(const char* function, const char* name, int64_t value) {
  if (value < 1) {
    std::ostringstream msg;
    msg << "[" << function << "] " << name << " must be at least 1, but got "
        << value << ".";
    throw std::invalid_argument(msg.str());
  }
}

// A Python float next to a uint64 step array: both become float32, as in
// MLX's type promotion of weak scalars.
mx::array as_float(double value) {
  return mx::array(static_cast<float>(value));
}

mx::array as_step(uint64_t value) {
  return mx::array(value, mx::uint64);
}

} // namespace

Schedule exponential_decay(double init, double decay_rate) {
  return [init, decay_rate](const mx::array& step) {
    auto decay = mx::power(as_float(decay_rate), mx::astype(step, mx::float32));
    return mx::multiply(as_float(init), decay);
  };
}

Schedule step_decay(double init, double decay_rate, int64_t step_size) {
  check_at_least_one("step_decay", "step_size", step_size);
  return [init, decay_rate, step_size](const mx::array& step) {
    auto steps = mx::astype(step, mx::uint64);
    auto periods = mx::floor_divide(steps, as_step(step_size));
    auto decay =
        mx::power(as_float(decay_rate), mx::astype(periods, mx::float32));
    return mx::multiply(as_float(init), decay);
  };
}

Schedule cosine_decay(double init, int64_t decay_steps, double end) {
  check_at_least_one("cosine_decay", "decay_steps", decay_steps);
  return [init, decay_steps, end](const mx::array& step) {
    auto s = mx::minimum(mx::astype(step, mx::uint64), as_step(decay_steps));
    auto angle = mx::multiply(
        as_float(std::numbers::pi / static_cast<double>(decay_steps)),
        mx::astype(s, mx::float32));
    auto decay = mx::multiply(
        as_float(0.5), mx::add(as_float(1.0), mx::cos(angle)));
    return mx::add(as_float(end), mx::multiply(decay, as_float(init - end)));
  };
}

Schedule linear_schedule(double init, double end, int64_t steps) {
  check_at_least_one("linear_schedule", "steps", steps);
  return [init, end, steps](const mx::array& step) {
    auto s = mx::minimum(mx::astype(step, mx::uint64), as_step(steps));
    auto slope = as_float((end - init) / static_cast<double>(steps));
    return mx::add(
        mx::multiply(mx::astype(s, mx::float32), slope), as_float(init));
  };
}

Schedule join_schedules(
    std::vector<Schedule> schedules,
    std::vector<int64_t> boundaries) {
  if (schedules.empty()) {
    throw std::invalid_argument(
        "[join_schedules] At least one schedule is required.");
  }
  if (boundaries.size() + 1 != schedules.size()) {
    std::ostringstream msg;
    msg << "[join_schedules] " << schedules.size() << " schedules need "
        << schedules.size() - 1 << " boundaries, but got " << boundaries.size()
        << ".";
    throw std::invalid_argument(msg.str());
  }
  for (size_t i = 0; i < schedules.size(); ++i) {
    if (!schedules[i]) {
      throw std::invalid_argument(
          "[join_schedules] Schedule " + std::to_string(i) + " is empty.");
    }
  }
  for (size_t i = 0; i < boundaries.size(); ++i) {
    if (boundaries[i] < 0 || (i > 0 && boundaries[i] < boundaries[i - 1])) {
      std::ostringstream msg;
      msg << "[join_schedules] Boundaries must be non-negative and "
          << "non-decreasing, but boundary " << i << " is " << boundaries[i]
          << ".";
      throw std::invalid_argument(msg.str());
    }
  }
  return [schedules = std::move(schedules),
          boundaries = std::move(boundaries)](const mx::array& step) {
    auto steps = mx::astype(step, mx::uint64);
    auto output = schedules[0](steps);
    for (size_t i = 0; i < boundaries.size(); ++i) {
      auto boundary = as_step(boundaries[i]);
      // Steps before the boundary wrap around in the subtraction, but
      // where() discards those values.
      auto later = schedules[i + 1](mx::subtract(steps, boundary));
      output = mx::where(mx::less(steps, boundary), output, later);
    }
    return output;
  };
}

} // namespace rmlx::optimizers
