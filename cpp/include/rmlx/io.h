// Reading and writing named arrays in the files MLX Python uses for
// weights: .safetensors (with string metadata) and .npz (a zip archive of
// .npy files, as mx.savez and numpy.savez write them).
#pragma once

#include <string>
#include <unordered_map>

#include "rmlx/nn/module.h"

namespace rmlx::io {

namespace mx = mlx::core;

using Metadata = std::unordered_map<std::string, std::string>;

/** Arrays read from a file, in the file's order, and its metadata. */
struct ArraysFile {
  nn::NamedArrays arrays;
  Metadata metadata;
};

/**
 * Reads the arrays of a .safetensors, .npz or .npy file, chosen by the
 * extension; a .npy file gives one array named "arr_0". Only .safetensors
 * files have metadata. Throws std::invalid_argument for another extension
 * and std::runtime_error for a file that cannot be read.
 */
ArraysFile load_arrays(const std::string& path);

/**
 * Writes arrays to a .safetensors or .npz file, chosen by the extension.
 * The file is written beside `path` and renamed, so an existing file is
 * never left half-written. Metadata needs a .safetensors file; a non-empty
 * one with .npz throws std::invalid_argument.
 */
void save_arrays(
    const std::string& path,
    const nn::NamedArrays& arrays,
    const Metadata& metadata = {});

/**
 * Reads a .npz archive. Entries must be stored uncompressed, as mx.savez
 * and numpy.savez write them; numpy.savez_compressed archives throw
 * std::runtime_error. Names lose their ".npy" suffix.
 */
nn::NamedArrays load_npz(const std::string& path);

/** Writes an uncompressed .npz archive of "<name>.npy" entries. */
void save_npz(const std::string& path, const nn::NamedArrays& arrays);

} // namespace rmlx::io
