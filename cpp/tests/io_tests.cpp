// Weights files: .npz written by MLX Python and numpy, and round trips
// (tools/fixtures/make_io_fixtures.py).
#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "rmlx/io.h"
#include "rmlx/nn/linear.h"
#include "test_utils.h"

using rmlx::test::arrays_equal;
namespace io = rmlx::io;
namespace mx = mlx::core;
namespace nn = rmlx::nn;

namespace {

std::string fixture_path(const std::string& name) {
  return std::string(RMLX_FIXTURE_DIR) + "/" + name;
}

std::string temporary_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / name).string();
}

const mx::array& find(const nn::NamedArrays& arrays, const std::string& name) {
  for (const auto& [key, value] : arrays) {
    if (key == name) {
      return value;
    }
  }
  throw std::out_of_range("No array named '" + name + "'.");
}

} // namespace

TEST_CASE("npz from MLX Python and numpy loads") {
  auto reference = io::load_arrays(fixture_path("io_reference.safetensors"));
  CHECK(reference.metadata.at("generator") ==
        "tools/fixtures/make_io_fixtures.py");

  for (const char* file :
       {"io_mlx.npz",
        "io_numpy.npz",
        "io_mlx_compressed.npz",
        "io_numpy_compressed.npz"}) {
    CAPTURE(file);
    auto loaded = io::load_arrays(fixture_path(file));
    CHECK(loaded.metadata.empty());
    for (const auto& [name, expected] : reference.arrays) {
      if (std::string(file).starts_with("io_numpy") && name == "bfloat16") {
        continue;
      }
      CAPTURE(name);
      CHECK(arrays_equal(find(loaded.arrays, name), expected));
    }
  }
}

TEST_CASE("npz and safetensors round trip every dtype") {
  auto reference =
      io::load_arrays(fixture_path("io_reference.safetensors")).arrays;
  for (const char* extension : {".npz", ".safetensors"}) {
    CAPTURE(extension);
    std::string path = temporary_path(std::string("rmlx_io") + extension);
    io::Metadata metadata;
    if (std::string(extension) == ".safetensors") {
      metadata["note"] = "round trip";
    }
    io::save_arrays(path, reference, metadata);
    auto loaded = io::load_arrays(path);
    for (const auto& [name, expected] : reference) {
      CAPTURE(name);
      CHECK(arrays_equal(find(loaded.arrays, name), expected));
    }
    if (!metadata.empty()) {
      CHECK(loaded.metadata.at("note") == "round trip");
    }
    std::remove(path.c_str());
  }
}

TEST_CASE("weights file errors") {
  nn::NamedArrays arrays = {{"a", mx::zeros({2})}};
  CHECK_THROWS_AS(
      io::save_arrays(temporary_path("rmlx_io.bin"), arrays),
      std::invalid_argument);
  CHECK_THROWS_AS(
      io::save_arrays(temporary_path("rmlx_io.npz"), arrays, {{"k", "v"}}),
      std::invalid_argument);
  CHECK_THROWS_AS(
      io::load_arrays(temporary_path("rmlx_io.txt")), std::invalid_argument);
  CHECK_THROWS_AS(
      io::load_npz(fixture_path("io_reference.safetensors")),
      std::runtime_error);
}

TEST_CASE("module weights in npz") {
  mx::random::seed(3);
  nn::Linear layer(3, 2);
  std::string path = temporary_path("rmlx_linear.npz");
  layer.save_weights(path);
  nn::Linear other(3, 2);
  other.load_weights(path, true);
  CHECK(arrays_equal(other.param("weight"), layer.param("weight")));
  CHECK(arrays_equal(other.param("bias"), layer.param("bias")));
  std::remove(path.c_str());
}

TEST_CASE("load_weights lists every mismatch") {
  nn::Linear layer(3, 2);
  nn::NamedArrays weights = {
      {"weight", mx::zeros({3, 2})}, {"extra", mx::zeros({1})}};
  try {
    layer.load_weights(weights, true);
    FAIL("load_weights accepted mismatched weights");
  } catch (const std::invalid_argument& e) {
    std::string message = e.what();
    CHECK(message.find("'bias'") != std::string::npos);
    CHECK(message.find("'extra'") != std::string::npos);
    CHECK(message.find("'weight' (expected (2, 3), received (3, 2))") !=
          std::string::npos);
  }
}
