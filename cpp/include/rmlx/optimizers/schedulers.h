// Learning-rate schedules of MLX Python's mlx.optimizers.schedulers. Each
// returns a Schedule, a function of the step count (a uint64 array, 0
// before the first update) that is elementwise, so it also evaluates a
// whole vector of steps at once.
#pragma once

#include <vector>

#include "rmlx/optimizers/optimizers.h"

namespace rmlx::optimizers {

/** init * decay_rate^step. */
Schedule exponential_decay(double init, double decay_rate);

/**
 * init * decay_rate^floor(step / step_size). Throws std::invalid_argument
 * when step_size < 1.
 */
Schedule step_decay(double init, double decay_rate, int64_t step_size);

/**
 * end + (init - end) (1 + cos(pi min(step, decay_steps) / decay_steps)) / 2,
 * constant at `end` after decay_steps. Throws std::invalid_argument when
 * decay_steps < 1.
 */
Schedule cosine_decay(double init, int64_t decay_steps, double end = 0.0);

/**
 * init + min(step, steps) (end - init) / steps, constant at `end` after
 * `steps`. Throws std::invalid_argument when steps < 1.
 */
Schedule linear_schedule(double init, double end, int64_t steps);

/**
 * Runs schedules[0] until boundaries[0], then schedules[1] on the steps
 * counted from boundaries[0], and so on. Needs one boundary fewer than
 * schedules; throws std::invalid_argument otherwise, for an empty or null
 * schedule, or for boundaries that are negative or decrease (MLX Python
 * accepts the last two).
 */
Schedule join_schedules(
    std::vector<Schedule> schedules,
    std::vector<int64_t> boundaries);

} // namespace rmlx::optimizers
