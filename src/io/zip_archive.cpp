#include "io/zip_archive.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "core/error.h"

namespace styleseg::io {
namespace {

constexpr std::uint32_t kEndOfDirectory = 0x06054b50;
constexpr std::uint32_t kZip64EndOfDirectory = 0x06064b50;
constexpr std::uint32_t kZip64Locator = 0x07064b50;
constexpr std::uint32_t kDirectoryEntry = 0x02014b50;
constexpr std::uint32_t kLocalHeader = 0x04034b50;
constexpr std::size_t kEndOfDirectorySize = 22, kLocatorSize = 20, kZip64EndSize = 56;
constexpr std::size_t kEntrySize = 46, kLocalHeaderSize = 30;
constexpr std::uint16_t kStored = 0, kDeflated = 8;
// Deflate cannot expand data more than about 1032 times: a record that claims more is a lie
// that would make the reader allocate far beyond the file.
constexpr std::uint64_t kMaxDeflateRatio = 1032;

// Little-endian fields at `offset` of `data[0, size)`, bounds-checked.
class Cursor {
 public:
  Cursor(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  template <typename T>
  T at(std::uint64_t offset, const char* what) const {
    if (offset > size_ || size_ - offset < sizeof(T))
      throw InputError(std::string("truncated or corrupt zip archive (") + what + " beyond the end of the file)");
    T value = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) value |= static_cast<T>(static_cast<T>(data_[offset + i]) << (8 * i));
    return value;
  }
  bool fits(std::uint64_t offset, std::uint64_t length) const { return offset <= size_ && size_ - offset >= length; }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
};

// The end-of-central-directory record: the last one whose comment reaches the file's end.
std::uint64_t find_end_of_directory(const std::uint8_t* data, std::size_t size) {
  if (size < kEndOfDirectorySize) throw InputError("truncated or corrupt zip archive (no end of central directory)");
  const Cursor in(data, size);
  const std::size_t lowest = size > kEndOfDirectorySize + 0xffff ? size - kEndOfDirectorySize - 0xffff : 0;
  for (std::size_t pos = size - kEndOfDirectorySize + 1; pos-- > lowest;) {
    if (in.at<std::uint32_t>(pos, "end of directory") != kEndOfDirectory) continue;
    if (pos + kEndOfDirectorySize + in.at<std::uint16_t>(pos + 20, "comment length") <= size) return pos;
  }
  throw InputError("truncated or corrupt zip archive (no end of central directory)");
}

// An entry's zip64 extra field replaces the 32-bit fields that hold 0xffffffff, in order.
void apply_zip64_extra(const Cursor& in, std::uint64_t extra, std::uint64_t extra_end, std::uint64_t& uncompressed,
                       std::uint64_t& compressed, std::uint64_t& local_offset) {
  while (extra + 4 <= extra_end) {
    const auto id = in.at<std::uint16_t>(extra, "extra field");
    const auto length = in.at<std::uint16_t>(extra + 2, "extra field");
    std::uint64_t field = extra + 4;
    if (field + length > extra_end) throw InputError("corrupt zip archive (an extra field overruns its entry)");
    if (id == 0x0001) {
      const std::uint64_t end = field + length;
      for (std::uint64_t* value : {&uncompressed, &compressed, &local_offset}) {
        if (*value != 0xffffffffu) continue;
        if (field + 8 > end) throw InputError("corrupt zip archive (a zip64 extra field is too short)");
        *value = in.at<std::uint64_t>(field, "zip64 extra field");
        field += 8;
      }
      return;
    }
    extra = field + length;
  }
}

}  // namespace

ZipArchive::ZipArchive(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {
  const Cursor in(data, size);
  const std::uint64_t end = find_end_of_directory(data, size);
  if (in.at<std::uint16_t>(end + 4, "end of directory") != 0 || in.at<std::uint16_t>(end + 6, "end of directory") != 0)
    throw InputError("a zip archive split over several disks, which is not supported");
  std::uint64_t entries = in.at<std::uint16_t>(end + 10, "end of directory");
  std::uint64_t directory_size = in.at<std::uint32_t>(end + 12, "end of directory");
  std::uint64_t directory_offset = in.at<std::uint32_t>(end + 16, "end of directory");
  if (end >= kLocatorSize && in.at<std::uint32_t>(end - kLocatorSize, "zip64 locator") == kZip64Locator) {
    const auto zip64_end = in.at<std::uint64_t>(end - kLocatorSize + 8, "zip64 locator");
    if (in.at<std::uint32_t>(zip64_end, "zip64 end of directory") != kZip64EndOfDirectory)
      throw InputError("corrupt zip archive (the zip64 locator points at no zip64 directory end)");
    entries = in.at<std::uint64_t>(zip64_end + 32, "zip64 end of directory");
    directory_size = in.at<std::uint64_t>(zip64_end + 40, "zip64 end of directory");
    directory_offset = in.at<std::uint64_t>(zip64_end + 48, "zip64 end of directory");
  }
  read_directory(directory_offset, directory_size, entries);
}

void ZipArchive::read_directory(std::uint64_t offset, std::uint64_t size, std::uint64_t entries) {
  const Cursor in(data_, size_);
  if (!in.fits(offset, size)) throw InputError("truncated or corrupt zip archive (central directory beyond the end of the file)");
  // Each entry takes at least kEntrySize bytes: a count the directory cannot hold is a lie.
  if (entries > size / kEntrySize) throw InputError("corrupt zip archive (more entries than its central directory holds)");
  const std::uint64_t directory_end = offset + size;
  names_.reserve(static_cast<std::size_t>(entries));
  for (std::uint64_t i = 0, pos = offset; i < entries; ++i) {
    if (pos + kEntrySize > directory_end || in.at<std::uint32_t>(pos, "directory entry") != kDirectoryEntry)
      throw InputError("corrupt zip archive (central directory entry " + std::to_string(i) + " is damaged)");
    Record r;
    const auto flags = in.at<std::uint16_t>(pos + 8, "directory entry");
    r.method = in.at<std::uint16_t>(pos + 10, "directory entry");
    r.crc = in.at<std::uint32_t>(pos + 16, "directory entry");
    r.compressed = in.at<std::uint32_t>(pos + 20, "directory entry");
    r.uncompressed = in.at<std::uint32_t>(pos + 24, "directory entry");
    const std::uint64_t name_length = in.at<std::uint16_t>(pos + 28, "directory entry");
    const std::uint64_t extra_length = in.at<std::uint16_t>(pos + 30, "directory entry");
    const std::uint64_t comment_length = in.at<std::uint16_t>(pos + 32, "directory entry");
    std::uint64_t local_offset = in.at<std::uint32_t>(pos + 42, "directory entry");
    const std::uint64_t name = pos + kEntrySize, extra = name + name_length, next = extra + extra_length + comment_length;
    if (next > directory_end) throw InputError("corrupt zip archive (central directory entry " + std::to_string(i) + " overruns it)");
    apply_zip64_extra(in, extra, extra + extra_length, r.uncompressed, r.compressed, local_offset);
    std::string record_name(reinterpret_cast<const char*>(data_ + name), static_cast<std::size_t>(name_length));
    if (flags & 1) throw InputError("zip record '" + record_name + "' is encrypted, which is not supported");
    if (r.method != kStored && r.method != kDeflated)
      throw InputError("zip record '" + record_name + "' uses compression method " + std::to_string(r.method) +
                       " (only stored and deflate are read)");
    if (r.method == kStored && r.compressed != r.uncompressed)
      throw InputError("corrupt zip archive (stored record '" + record_name + "' has two different sizes)");
    // The data follows the record's local header, whose name and extra field lengths may
    // differ from the central directory's (PyTorch pads its local extra field to align data).
    if (in.at<std::uint32_t>(local_offset, "local header") != kLocalHeader)
      throw InputError("corrupt zip archive (record '" + record_name + "' has no local header)");
    r.data_offset = local_offset + kLocalHeaderSize + in.at<std::uint16_t>(local_offset + 26, "local header") +
                    in.at<std::uint16_t>(local_offset + 28, "local header");
    if (!in.fits(r.data_offset, r.compressed))
      throw InputError("truncated zip archive (record '" + record_name + "' has " + std::to_string(r.compressed) +
                       " bytes, past the end of the file)");
    if (r.method == kDeflated && r.uncompressed > kMaxDeflateRatio * r.compressed + 64)
      throw InputError("corrupt zip archive (deflated record '" + record_name + "' claims " +
                       std::to_string(r.uncompressed) + " bytes from " + std::to_string(r.compressed) + ")");
    if (!records_.emplace(record_name, r).second)
      throw InputError("corrupt zip archive (record '" + record_name + "' appears twice)");
    names_.push_back(std::move(record_name));
    pos = next;
  }
}

const ZipArchive::Record& ZipArchive::record(const std::string& name) const {
  const auto it = records_.find(name);
  if (it == records_.end()) throw InputError("zip archive has no record '" + name + "'");
  return it->second;
}

std::uint64_t ZipArchive::size_of(const std::string& name) const { return record(name).uncompressed; }

void ZipArchive::read(const std::string& name, void* out) const {
  const Record& r = record(name);
  const std::uint8_t* source = data_ + r.data_offset;
  if (r.method == kStored) {
    if (r.uncompressed > 0) std::memcpy(out, source, static_cast<std::size_t>(r.uncompressed));
  } else {
    z_stream z{};
    if (inflateInit2(&z, -MAX_WBITS) != Z_OK) throw InputError("zip record '" + name + "': cannot start inflating");
    // zlib counts in 32-bit units: feed and drain at most 1 GiB at a time. An empty record
    // still needs somewhere to point (zlib refuses a null output).
    constexpr std::uint64_t kStep = std::uint64_t{1} << 30;
    Bytef empty_output = 0;
    Bytef* const output = r.uncompressed > 0 ? static_cast<Bytef*>(out) : &empty_output;
    std::uint64_t in_done = 0, out_done = 0;
    int status = Z_OK;
    for (;;) {
      if (z.avail_in == 0 && in_done < r.compressed) {
        z.next_in = const_cast<Bytef*>(source + in_done);
        z.avail_in = static_cast<uInt>(std::min(kStep, r.compressed - in_done));
        in_done += z.avail_in;
      }
      if (z.avail_out == 0 && out_done < r.uncompressed) {
        z.next_out = output + out_done;
        z.avail_out = static_cast<uInt>(std::min(kStep, r.uncompressed - out_done));
        out_done += z.avail_out;
      }
      if (z.next_out == Z_NULL) z.next_out = output;
      status = inflate(&z, Z_NO_FLUSH);
      if (status == Z_OK) continue;  // progress was made
      const bool can_refill = (z.avail_in == 0 && in_done < r.compressed) || (z.avail_out == 0 && out_done < r.uncompressed);
      if (status == Z_BUF_ERROR && can_refill) continue;
      break;  // the end, or stuck: truncated, longer than declared, or not deflate data
    }
    const bool complete = status == Z_STREAM_END && z.total_out == r.uncompressed;
    inflateEnd(&z);
    if (!complete) throw InputError("zip record '" + name + "': corrupt deflate data");
  }
  // CRC-32 as miniz checks it: bit flips in a record are refused, not read as weights.
  uLong crc = crc32(0L, Z_NULL, 0);
  for (std::uint64_t done = 0; done < r.uncompressed;) {
    const auto step = static_cast<uInt>(std::min<std::uint64_t>(r.uncompressed - done, std::uint64_t{1} << 30));
    crc = crc32(crc, static_cast<const Bytef*>(out) + done, step);
    done += step;
  }
  if (crc != r.crc) throw InputError("zip record '" + name + "': CRC-32 mismatch (corrupt data)");
}

std::string ZipArchive::read_string(const std::string& name) const {
  std::string text(static_cast<std::size_t>(size_of(name)), '\0');
  read(name, text.data());
  return text;
}

}  // namespace styleseg::io
