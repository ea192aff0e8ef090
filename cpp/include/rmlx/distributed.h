// Data-parallel training on MLX's distributed engine: joining the group of
// processes and averaging gradients over it. The collective operations
// themselves (all_sum, all_gather, send, recv) are MLX's, in
// mlx/distributed/ops.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <mlx/mlx.h>

#include "rmlx/nn/module.h"

namespace rmlx::distributed {

namespace mx = mlx::core;

/** The default of average_gradients' all_reduce_size: 32 MiB, as in MLX
 * Python's nn.average_gradients. */
constexpr int64_t default_all_reduce_size = int64_t{32} * 1024 * 1024;

/**
 * Joins the group of all processes of a distributed run and returns it, like
 * mx::distributed::init. `backend` is "any", "ring", "mpi" or "nccl" (CUDA
 * builds of MLX only). "any" tries the ring backend (configured by the
 * MLX_RANK and MLX_HOSTFILE environment variables), then MPI. When no backend can start, a non-strict call returns
 * a group of size 1 in which the collective operations return their input,
 * and a strict call throws std::runtime_error.
 *
 * The ring backend waits without limit for a peer that never starts (MLX
 * 0.32.4 blocks in accept()). With `timeout_seconds` > 0 the join runs on a
 * separate thread, and the call throws std::runtime_error naming the rank and
 * MLX_HOSTFILE when it has not finished in time. NOTE: the waiting thread
 * cannot be cancelled and stays blocked, and MLX's backend cache is not
 * thread safe, so the process should exit after that error rather than call
 * init again. `timeout_seconds` <= 0 waits as long as MLX does.
 */
mx::distributed::Group init(
    const std::string& backend = "any",
    bool strict = false,
    double timeout_seconds = 0);

/**
 * Averages gradients over the processes of `group` (the group that init()
 * returns when `group` is empty), with the semantics of MLX Python's
 * nn.average_gradients: each gradient becomes the sum over the group divided
 * by its size. To send few large messages, gradients are flattened and
 * concatenated in their order into chunks that close once they reach
 * `all_reduce_size` bytes, and each chunk is reduced with one all_sum. With
 * `all_reduce_size` <= 0, or when the gradients have different dtypes, each
 * gradient is reduced on its own. In a group of size 1 the gradients are
 * returned unchanged. Every process must pass gradients with the same names,
 * shapes and dtypes in the same order. The result is lazy.
 */
nn::NamedArrays average_gradients(
    const nn::NamedArrays& gradients,
    std::optional<mx::distributed::Group> group = std::nullopt,
    int64_t all_reduce_size = default_all_reduce_size);

/**
 * Splits arrays of the given sizes in bytes into consecutive chunks for
 * average_gradients: a chunk closes as soon as its total reaches
 * `all_reduce_size`. Returns the indices of each chunk's arrays.
 */
std::vector<std::vector<size_t>> reduction_chunks(
    const std::vector<size_t>& nbytes,
    int64_t all_reduce_size);

} // namespace rmlx::distributed
