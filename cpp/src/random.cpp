#include "rmlx/random.h"

namespace rmlx::random {

namespace {

// The innermost active scope's key; thread-local like MLX's own stream.
thread_local std::optional<mx::array> scoped_key;

} // namespace

mx::array next_key() {
  if (!scoped_key) {
    return mx::random::KeySequence::default_().next();
  }
  auto [next, subkey] = mx::random::split(*scoped_key);
  scoped_key = next;
  return subkey;
}

void seed(uint64_t seed) {
  mx::random::seed(seed);
}

KeyScope::KeyScope(mx::array key) : previous_(scoped_key) {
  scoped_key = std::move(key);
}

KeyScope::~KeyScope() {
  scoped_key = previous_;
}

mx::array KeyScope::key() const {
  return *scoped_key;
}

} // namespace rmlx::random
