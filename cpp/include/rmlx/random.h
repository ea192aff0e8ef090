// The random key stream used by layers that draw at run time (dropout).
#pragma once

#include <cstdint>
#include <optional>

#include <mlx/mlx.h>

namespace rmlx::random {

namespace mx = mlx::core;

/**
 * Returns a fresh PRNG key. Outside a KeyScope the key comes from MLX's own
 * default stream, so after mx::random::seed(s) the draws equal those of MLX
 * Python after mx.random.seed(s). Inside a KeyScope it is split from the
 * scope's key, which lets a compiled function take its key as an input.
 */
mx::array next_key();

/** Seeds MLX's default key stream. */
void seed(uint64_t seed);

/**
 * Makes next_key() split from `key` until the scope ends; scopes nest. Used
 * around code that is traced by mx::compile, where the key must be an input
 * of the compiled function for the draws to change from call to call.
 */
class KeyScope {
 public:
  explicit KeyScope(mx::array key);
  ~KeyScope();
  KeyScope(const KeyScope&) = delete;
  KeyScope& operator=(const KeyScope&) = delete;

  /** The key that the next draw would split, to carry out of the scope. */
  mx::array key() const;

 private:
  std::optional<mx::array> previous_;
};

} // namespace rmlx::random
