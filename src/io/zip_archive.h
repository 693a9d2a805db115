// Reading zip archives as torch.save writes them (PyTorch's miniz writer: stored records,
// a top folder named after the file, zip64 past 4 GiB), and as other tools may rewrite them
// (deflated records). Written for files from strangers: every count, size and offset is
// checked against the file before it is used, and each record's CRC-32 is verified.
//
//   const ZipArchive zip(bytes, size);            // the whole file, e.g. mapped
//   for (const std::string& name : zip.names()) ...
//   std::vector<char> pkl(zip.size_of("model/data.pkl"));
//   zip.read("model/data.pkl", pkl.data());
//
// Not supported (InputError): encryption, compression other than deflate, archives split
// over several disks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace styleseg::io {

class ZipArchive {
 public:
  // Reads the central directory of `data[0, size)`, which must outlive the archive. Throws
  // InputError saying what is wrong (the caller adds the file's name).
  ZipArchive(const std::uint8_t* data, std::size_t size);

  // Record names in directory order.
  const std::vector<std::string>& names() const { return names_; }
  bool has(const std::string& name) const { return records_.count(name) != 0; }
  // Uncompressed size of a record. InputError when absent.
  std::uint64_t size_of(const std::string& name) const;
  // Writes the record's size_of(name) bytes to `out` and checks its CRC-32. InputError when
  // absent, truncated or corrupt.
  void read(const std::string& name, void* out) const;
  std::string read_string(const std::string& name) const;

 private:
  struct Record {
    std::uint16_t method = 0;  // 0 stored, 8 deflate
    std::uint32_t crc = 0;
    std::uint64_t compressed = 0, uncompressed = 0;
    std::uint64_t data_offset = 0;  // first byte of the (compressed) data
  };
  const Record& record(const std::string& name) const;
  void read_directory(std::uint64_t offset, std::uint64_t size, std::uint64_t entries);

  const std::uint8_t* data_;
  std::size_t size_;
  std::vector<std::string> names_;
  std::unordered_map<std::string, Record> records_;
};

}  // namespace styleseg::io
