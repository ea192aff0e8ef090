#include "rmlx/distributed.h"

#include <chrono>
#include <cstdlib>
#include <future>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace rmlx::distributed {

namespace {

std::string environment_value(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? "(unset)" : value;
}

void check_backend(const std::string& backend) {
  if (backend != "any" && backend != "ring" && backend != "mpi" &&
      backend != "nccl") {
    std::ostringstream msg;
    msg << "[distributed::init] backend must be \"any\", \"ring\", \"mpi\" "
        << "or \"nccl\", but is \"" << backend << "\".";
    throw std::invalid_argument(msg.str());
  }
}

// Averages each gradient with its own all_sum.
nn::NamedArrays average_each(
    const nn::NamedArrays& gradients,
    const mx::distributed::Group& group) {
  auto size = static_cast<float>(group.size());
  nn::NamedArrays out;
  out.reserve(gradients.size());
  for (const auto& [name, gradient] : gradients) {
    auto sum = mx::distributed::all_sum(gradient, group);
    out.emplace_back(name, mx::divide(sum, mx::array(size, gradient.dtype())));
  }
  return out;
}

} // namespace

mx::distributed::Group init(
    const std::string& backend,
    bool strict,
    double timeout_seconds) {
  check_backend(backend);
  if (timeout_seconds <= 0) {
    return mx::distributed::init(strict, backend);
  }

  // The promise outlives this call when the join times out, because the
  // detached thread still holds it.
  auto joined = std::make_shared<std::promise<mx::distributed::Group>>();
  auto result = joined->get_future();
  std::thread([joined, backend, strict] {
    try {
      joined->set_value(mx::distributed::init(strict, backend));
    } catch (...) {
      joined->set_exception(std::current_exception());
    }
  }).detach();

  auto limit = std::chrono::duration<double>(timeout_seconds);
  if (result.wait_for(limit) == std::future_status::timeout) {
    std::ostringstream msg;
    msg << "[distributed::init] Timed out after " << timeout_seconds
        << " s waiting for the other processes to join (MLX_RANK="
        << environment_value("MLX_RANK")
        << ", MLX_HOSTFILE=" << environment_value("MLX_HOSTFILE")
        << "). Check that every rank started and can reach the addresses "
        << "in the host file.";
    throw std::runtime_error(msg.str());
  }
  return result.get();
}

std::vector<std::vector<size_t>> reduction_chunks(
    const std::vector<size_t>& nbytes,
    int64_t all_reduce_size) {
  std::vector<std::vector<size_t>> chunks;
  std::vector<size_t> chunk;
  int64_t chunk_bytes = 0;
  for (size_t i = 0; i < nbytes.size(); ++i) {
    chunk.push_back(i);
    chunk_bytes += static_cast<int64_t>(nbytes[i]);
    if (chunk_bytes >= all_reduce_size) {
      chunks.push_back(std::move(chunk));
      chunk.clear();
      chunk_bytes = 0;
    }
  }
  if (!chunk.empty()) {
    chunks.push_back(std::move(chunk));
  }
  return chunks;
}

nn::NamedArrays average_gradients(
    const nn::NamedArrays& gradients,
    std::optional<mx::distributed::Group> group,
    int64_t all_reduce_size) {
  auto members = group ? *group : mx::distributed::init();
  if (members.size() == 1 || gradients.empty()) {
    return gradients;
  }

  auto dtype = gradients.front().second.dtype();
  bool same_dtype = true;
  for (const auto& [name, gradient] : gradients) {
    same_dtype = same_dtype && gradient.dtype() == dtype;
  }
  if (all_reduce_size <= 0 || !same_dtype) {
    return average_each(gradients, members);
  }

  std::vector<size_t> nbytes;
  nbytes.reserve(gradients.size());
  for (const auto& [name, gradient] : gradients) {
    nbytes.push_back(gradient.nbytes());
  }

  auto size = mx::array(static_cast<float>(members.size()), dtype);
  nn::NamedArrays out;
  out.reserve(gradients.size());
  for (const auto& chunk : reduction_chunks(nbytes, all_reduce_size)) {
    // Concatenate the chunk's gradients, reduce once, and cut the result at
    // the offsets where each gradient started.
    std::vector<mx::array> flat;
    mx::Shape offsets;
    int offset = 0;
    for (auto i : chunk) {
      flat.push_back(mx::reshape(gradients[i].second, {-1}));
      offset += static_cast<int>(gradients[i].second.size());
      offsets.push_back(offset);
    }
    offsets.pop_back();
    auto sum = mx::distributed::all_sum(mx::concatenate(flat), members);
    auto reduced = mx::divide(sum, size);
    auto pieces = offsets.empty() ? std::vector<mx::array>{reduced}
                                  : mx::split(reduced, offsets);
    for (size_t j = 0; j < chunk.size(); ++j) {
      const auto& [name, gradient] = gradients[chunk[j]];
      out.emplace_back(name, mx::reshape(pieces[j], gradient.shape()));
    }
  }
  return out;
}

} // namespace rmlx::distributed
