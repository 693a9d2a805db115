// SHA-256 (FIPS 180-4): checksums of model files, datasets and outputs, so a run can
// record what it read and a later run can tell whether an input changed.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace styleseg {

// Lowercase hex SHA-256 of a file, read in blocks of `buffer_bytes` (streaming: memory use
// does not grow with the file). Throws InputError naming the file when it cannot be opened
// or read.
std::string sha256_file(const std::string& path, std::size_t buffer_bytes = std::size_t{1} << 20);

// Lowercase hex SHA-256 of `size` bytes at `data`.
std::string sha256_hex(const void* data, std::size_t size);

// Incremental hashing: update() any number of times with any split of the message, then
// finish() once. The result does not depend on how the message was split.
class Sha256 {
 public:
  using Digest = std::array<std::uint8_t, 32>;

  Sha256();
  void update(const void* data, std::size_t size);
  Digest finish();  // pads and returns the digest; the object must not be updated afterwards

  static std::string to_hex(const Digest& digest);

 private:
  void compress(const std::uint8_t* block);

  std::array<std::uint32_t, 8> state_;
  std::array<std::uint8_t, 64> block_{};
  std::size_t block_used_ = 0;
  std::uint64_t total_bytes_ = 0;
  bool finished_ = false;
};

}  // namespace styleseg
