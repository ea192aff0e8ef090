#include "rmlx/io.h"

#include <array>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <sstream>
#include <stdexcept>

#include <zlib.h>

namespace rmlx::io {

namespace {

bool has_suffix(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
      s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The .npy bytes of one array, read through MLX's own parser so that every
// dtype MLX writes (bfloat16 as '<V2' included) reads back the same.
class MemoryReader : public mx::io::Reader {
 public:
  MemoryReader(std::shared_ptr<const std::string> data, std::string label)
      : data_(std::move(data)), label_(std::move(label)) {}

  bool is_open() const override {
    return true;
  }
  bool good() const override {
    return position_ <= data_->size();
  }
  size_t tell() override {
    return position_;
  }
  void seek(int64_t offset, std::ios_base::seekdir way) override {
    if (way == std::ios_base::beg) {
      position_ = offset;
    } else if (way == std::ios_base::cur) {
      position_ += offset;
    } else {
      position_ = data_->size() + offset;
    }
  }
  void read(char* data, size_t n) override {
    read(data, n, position_);
    position_ += n;
  }
  void read(char* data, size_t n, size_t offset) override {
    if (offset > data_->size() || n > data_->size() - offset) {
      throw std::runtime_error("[load_npz] Truncated entry in " + label_ + ".");
    }
    std::memcpy(data, data_->data() + offset, n);
  }
  std::string label() const override {
    return label_;
  }

 private:
  std::shared_ptr<const std::string> data_;
  std::string label_;
  size_t position_ = 0;
};

class MemoryWriter : public mx::io::Writer {
 public:
  bool is_open() const override {
    return true;
  }
  bool good() const override {
    return true;
  }
  size_t tell() override {
    return position_;
  }
  void seek(int64_t offset, std::ios_base::seekdir way) override {
    if (way == std::ios_base::beg) {
      position_ = offset;
    } else if (way == std::ios_base::cur) {
      position_ += offset;
    } else {
      position_ = data_.size() + offset;
    }
  }
  void write(const char* data, size_t n) override {
    if (position_ + n > data_.size()) {
      data_.resize(position_ + n);
    }
    std::memcpy(data_.data() + position_, data, n);
    position_ += n;
  }
  std::string label() const override {
    return "memory";
  }
  const std::string& data() const {
    return data_;
  }

 private:
  std::string data_;
  size_t position_ = 0;
};

uint32_t crc32(const std::string& data) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) {
        c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      }
      t[i] = c;
    }
    return t;
  }();
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char byte : data) {
    crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8);
  }
  return crc ^ 0xFFFFFFFFu;
}

// Little-endian field access into a zip archive held in memory.
uint64_t read_le(const std::string& bytes, size_t offset, int width) {
  // Offsets come from the file, so compare without forming offset + width,
  // which wraps around for offsets near 2^64.
  if (offset > bytes.size() || size_t(width) > bytes.size() - offset) {
    throw std::runtime_error("[load_npz] The archive is truncated.");
  }
  uint64_t value = 0;
  for (int i = width - 1; i >= 0; --i) {
    value = (value << 8) | static_cast<unsigned char>(bytes[offset + i]);
  }
  return value;
}

void write_le(std::string& out, uint64_t value, int width) {
  for (int i = 0; i < width; ++i) {
    out.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
  }
}

constexpr uint32_t kLocalHeader = 0x04034b50;
constexpr uint32_t kCentralHeader = 0x02014b50;
constexpr uint32_t kEndOfCentral = 0x06054b50;
constexpr uint32_t kZip64Locator = 0x07064b50;
constexpr uint32_t kZip64End = 0x06064b50;
constexpr uint32_t kMax32 = 0xFFFFFFFFu;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::runtime_error("[load_npz] Could not open '" + path + "'.");
  }
  return std::string(
      std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

struct CentralDirectory {
  uint64_t entries;
  uint64_t offset;
};

CentralDirectory find_central_directory(
    const std::string& bytes,
    const std::string& path) {
  if (bytes.size() < 22) {
    throw std::runtime_error(
        "[load_npz] '" + path + "' is not a zip archive (too short).");
  }
  // The end record is the last 22 bytes unless a comment (at most 65535
  // bytes) follows it.
  size_t lowest = bytes.size() > 22 + 65535 ? bytes.size() - 22 - 65535 : 0;
  for (size_t at = bytes.size() - 22 + 1; at-- > lowest;) {
    if (read_le(bytes, at, 4) != kEndOfCentral) {
      continue;
    }
    CentralDirectory directory{read_le(bytes, at + 10, 2),
                               read_le(bytes, at + 16, 4)};
    bool zip64 = directory.entries == 0xFFFF || directory.offset == kMax32;
    if (zip64 && at >= 20 && read_le(bytes, at - 20, 4) == kZip64Locator) {
      uint64_t end64 = read_le(bytes, at - 20 + 8, 8);
      if (read_le(bytes, end64, 4) != kZip64End) {
        throw std::runtime_error(
            "[load_npz] '" + path + "' has an invalid zip64 end record.");
      }
      directory.entries = read_le(bytes, end64 + 32, 8);
      directory.offset = read_le(bytes, end64 + 48, 8);
    }
    return directory;
  }
  throw std::runtime_error(
      "[load_npz] '" + path + "' is not a zip archive (no end record).");
}

// The zip compression methods that numpy and MLX write: 0 stores an entry
// as it is, 8 deflates it.
constexpr uint64_t kStored = 0;
constexpr uint64_t kDeflated = 8;

// Decompresses the raw deflate stream of one zip entry, which must expand
// to exactly `size` bytes.
std::string inflate_entry(
    const std::string& bytes,
    size_t offset,
    uint64_t compressed_size,
    uint64_t size,
    const std::string& name,
    const std::string& path) {
  auto fail = [&](const std::string& why) {
    return std::runtime_error(
        "[load_npz] Entry '" + name + "' of '" + path +
        "' could not be decompressed: " + why + ".");
  };
  if (compressed_size > std::numeric_limits<uInt>::max() ||
      size > std::numeric_limits<uInt>::max()) {
    throw fail("entries over 4 GiB are not supported");
  }
  std::string out(size, '\0');
  z_stream stream{};
  // Negative window bits: a raw deflate stream without zlib's header, as
  // zip stores it.
  if (inflateInit2(&stream, -MAX_WBITS) != Z_OK) {
    throw fail("zlib could not start");
  }
  stream.next_in = reinterpret_cast<Bytef*>(
      const_cast<char*>(bytes.data() + offset));
  stream.avail_in = static_cast<uInt>(compressed_size);
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(size);
  int status = inflate(&stream, Z_FINISH);
  uLong produced = stream.total_out;
  inflateEnd(&stream);
  if (status != Z_STREAM_END || produced != size) {
    throw fail(
        "the data is damaged or does not expand to its recorded size");
  }
  return out;
}

} // namespace

nn::NamedArrays load_npz(const std::string& path) {
  std::string bytes = read_file(path);
  CentralDirectory directory = find_central_directory(bytes, path);

  nn::NamedArrays out;
  size_t at = directory.offset;
  for (uint64_t i = 0; i < directory.entries; ++i) {
    if (read_le(bytes, at, 4) != kCentralHeader) {
      throw std::runtime_error(
          "[load_npz] '" + path + "' has an invalid central directory.");
    }
    uint64_t method = read_le(bytes, at + 10, 2);
    uint64_t crc = read_le(bytes, at + 16, 4);
    uint64_t compressed_size = read_le(bytes, at + 20, 4);
    uint64_t size = read_le(bytes, at + 24, 4);
    size_t name_length = read_le(bytes, at + 28, 2);
    size_t extra_length = read_le(bytes, at + 30, 2);
    size_t comment_length = read_le(bytes, at + 32, 2);
    uint64_t local_offset = read_le(bytes, at + 42, 4);
    std::string name = bytes.substr(at + 46, name_length);

    // Sizes and offsets that do not fit in 32 bits are in the zip64 extra
    // field, in this order, each only when its 32-bit field is all ones.
    size_t extra = at + 46 + name_length;
    size_t extra_end = extra + extra_length;
    while (extra + 4 <= extra_end) {
      uint64_t id = read_le(bytes, extra, 2);
      uint64_t length = read_le(bytes, extra + 2, 2);
      if (id == 0x0001) {
        size_t field = extra + 4;
        if (size == kMax32) {
          size = read_le(bytes, field, 8);
          field += 8;
        }
        if (compressed_size == kMax32) {
          compressed_size = read_le(bytes, field, 8);
          field += 8;
        }
        if (local_offset == kMax32) {
          local_offset = read_le(bytes, field, 8);
        }
      }
      extra += 4 + length;
    }
    at = extra_end + comment_length;

    if (method != kStored && method != kDeflated) {
      throw std::runtime_error(
          "[load_npz] Entry '" + name + "' of '" + path +
          "' uses zip compression method " + std::to_string(method) +
          "; only stored (0) and deflated (8, as numpy.savez_compressed "
          "writes) entries can be read.");
    }
    if (read_le(bytes, local_offset, 4) != kLocalHeader) {
      throw std::runtime_error(
          "[load_npz] Entry '" + name + "' of '" + path +
          "' has an invalid local header.");
    }
    size_t data_offset = local_offset + 30 + read_le(bytes, local_offset + 26, 2) +
        read_le(bytes, local_offset + 28, 2);
    uint64_t stored_size = method == kStored ? size : compressed_size;
    if (data_offset > bytes.size() ||
        stored_size > bytes.size() - data_offset) {
      throw std::runtime_error(
          "[load_npz] Entry '" + name + "' of '" + path + "' is truncated.");
    }
    auto data = std::make_shared<const std::string>(
        method == kStored
            ? bytes.substr(data_offset, size)
            : inflate_entry(bytes, data_offset, compressed_size, size,
                            name, path));
    if (crc32(*data) != crc) {
      throw std::runtime_error(
          "[load_npz] Entry '" + name + "' of '" + path +
          "' fails its CRC-32 check; the file is damaged.");
    }
    if (has_suffix(name, ".npy")) {
      name.resize(name.size() - 4);
    }
    auto reader = std::make_shared<MemoryReader>(data, path + ":" + name);
    out.emplace_back(name, mx::load(reader));
  }
  return out;
}

void save_npz(const std::string& path, const nn::NamedArrays& arrays) {
  if (arrays.size() >= 0xFFFF) {
    throw std::invalid_argument(
        "[save_npz] An .npz file contains fewer than 65535 arrays; use "
        ".safetensors for more.");
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) {
    throw std::runtime_error("[save_npz] Could not open '" + path + "'.");
  }

  // Each entry is stored uncompressed with a fixed 1980-01-01 timestamp,
  // so the same arrays always give the same bytes.
  const uint64_t dos_time = 0;
  const uint64_t dos_date = (1 << 5) | 1;
  std::string central;
  uint64_t offset = 0;
  for (const auto& [name, array] : arrays) {
    MemoryWriter npy;
    mx::save(std::shared_ptr<mx::io::Writer>(&npy, [](auto*) {}), array);
    const std::string& data = npy.data();
    std::string entry_name = name + ".npy";
    if (data.size() >= kMax32 || offset >= kMax32) {
      throw std::invalid_argument(
          "[save_npz] Arrays over 4 GiB in total are not supported in .npz; "
          "use .safetensors.");
    }
    uint32_t crc = crc32(data);

    std::string header;
    write_le(header, kLocalHeader, 4);
    write_le(header, 20, 2); // version needed: 2.0
    write_le(header, 0, 2); // flags
    write_le(header, 0, 2); // method: stored
    write_le(header, dos_time, 2);
    write_le(header, dos_date, 2);
    write_le(header, crc, 4);
    write_le(header, data.size(), 4);
    write_le(header, data.size(), 4);
    write_le(header, entry_name.size(), 2);
    write_le(header, 0, 2); // extra length
    header += entry_name;
    out.write(header.data(), header.size());
    out.write(data.data(), data.size());

    write_le(central, kCentralHeader, 4);
    write_le(central, 20, 2); // version made by
    write_le(central, 20, 2); // version needed
    write_le(central, 0, 2);
    write_le(central, 0, 2);
    write_le(central, dos_time, 2);
    write_le(central, dos_date, 2);
    write_le(central, crc, 4);
    write_le(central, data.size(), 4);
    write_le(central, data.size(), 4);
    write_le(central, entry_name.size(), 2);
    write_le(central, 0, 2); // extra length
    write_le(central, 0, 2); // comment length
    write_le(central, 0, 2); // disk number
    write_le(central, 0, 2); // internal attributes
    write_le(central, 0, 4); // external attributes
    write_le(central, offset, 4);
    central += entry_name;
    offset += header.size() + data.size();
  }
  if (offset >= kMax32) {
    throw std::invalid_argument(
        "[save_npz] Arrays over 4 GiB in total are not supported in .npz; "
        "use .safetensors.");
  }

  std::string end;
  write_le(end, kEndOfCentral, 4);
  write_le(end, 0, 2);
  write_le(end, 0, 2);
  write_le(end, arrays.size(), 2);
  write_le(end, arrays.size(), 2);
  write_le(end, central.size(), 4);
  write_le(end, offset, 4);
  write_le(end, 0, 2); // comment length
  out.write(central.data(), central.size());
  out.write(end.data(), end.size());
  out.close();
  if (!out) {
    throw std::runtime_error("[save_npz] Could not write '" + path + "'.");
  }
}

ArraysFile load_arrays(const std::string& path) {
  ArraysFile file;
  if (has_suffix(path, ".safetensors")) {
    auto [arrays, metadata] = mx::load_safetensors(path);
    file.arrays.assign(arrays.begin(), arrays.end());
    file.metadata = std::move(metadata);
  } else if (has_suffix(path, ".npz")) {
    file.arrays = load_npz(path);
  } else if (has_suffix(path, ".npy")) {
    file.arrays.emplace_back("arr_0", mx::load(path));
  } else {
    throw std::invalid_argument(
        "[load] Expected a .safetensors, .npz or .npy file but received '" +
        path + "'.");
  }
  return file;
}

void save_arrays(
    const std::string& path,
    const nn::NamedArrays& arrays,
    const Metadata& metadata) {
  bool safetensors = has_suffix(path, ".safetensors");
  bool npz = has_suffix(path, ".npz");
  if (!safetensors && !npz) {
    throw std::invalid_argument(
        "[save] Expected a path ending in .safetensors or .npz but received '" +
        path + "'.");
  }
  if (npz && !metadata.empty()) {
    throw std::invalid_argument(
        "[save] Only .safetensors files store metadata; '" + path +
        "' is an .npz file.");
  }

  // Write beside the target and rename, so a failed write never leaves a
  // truncated file in place of an existing one.
  std::string temporary =
      path + (safetensors ? ".partial.safetensors" : ".partial.npz");
  try {
    if (safetensors) {
      std::unordered_map<std::string, mx::array> named;
      for (const auto& [name, a] : arrays) {
        named.insert_or_assign(name, a);
      }
      Metadata with_format = metadata;
      with_format.emplace("format", "mlx");
      mx::save_safetensors(temporary, named, with_format);
    } else {
      save_npz(temporary, arrays);
    }
  } catch (...) {
    std::remove(temporary.c_str());
    throw;
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    std::remove(temporary.c_str());
    throw std::runtime_error(
        "[save] Could not move the written file to '" + path + "'.");
  }
}

} // namespace rmlx::io
