#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdlib>
#include <string>

#include <mlx/mlx.h>

namespace mx = mlx::core;

// The suite runs on the CPU unless RMLX_TEST_DEVICE=gpu selects the GPU.
int main(int argc, char** argv) {
  const char* device = std::getenv("RMLX_TEST_DEVICE");
  if (device != nullptr && std::string(device) == "gpu" &&
      mx::is_available(mx::Device::gpu)) {
    mx::set_default_device(mx::Device::gpu);
  } else {
    mx::set_default_device(mx::Device::cpu);
  }
  doctest::Context context;
  context.applyCommandLine(argc, argv);
  return context.run();
}
