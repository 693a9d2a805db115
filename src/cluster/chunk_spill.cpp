#include "cluster/chunk_spill.h"

#include <ATen/ATen.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "io/atomic_output.h"

namespace fs = std::filesystem;

namespace styleseg::cluster {
namespace {

// Per chunk: this header, then the values of the vectors [n, D] or maps [items, D, h, w]
// as they were (float32, or the half types of a GPU run).
struct Header {
  int64_t first_item, items, out_size, is_maps, dtype, ndim;
  std::array<int64_t, 4> shape;
};

}  // namespace

ChunkSpill::ChunkSpill(const std::string& dir, int rank) {
  std::error_code error;
  fs::create_directories(dir, error);
  path_ = (fs::path(dir) / ("styleseg-kmeans-" + AtomicOutput::make_token() + "-rank" + std::to_string(rank) + ".chunks")).string();
  file_ = std::fopen(path_.c_str(), "w+b");
  STYLESEG_CHECK(file_, OutputError,
                 "cannot create the k-means scratch file " + path_ + ": " + std::strerror(errno) + " (--scratch / STYLESEG_SCRATCH)");
  // Removed from the folder at once: the open handle keeps the data, and a killed process
  // leaves nothing behind on the node.
  std::remove(path_.c_str());
}

ChunkSpill::~ChunkSpill() {
  if (file_) std::fclose(file_);
}

void ChunkSpill::append(const FeatureChunk& chunk) {
  const at::Tensor& data = chunk.data();
  device_ = data.device();
  const at::Tensor values = data.to(at::kCPU).contiguous();
  Header header{chunk.first_item, chunk.items, chunk.out_size, chunk.is_maps() ? 1 : 0,
                static_cast<int64_t>(values.scalar_type()), values.dim(), {0, 0, 0, 0}};
  STYLESEG_CHECK(values.dim() <= 4, OutputError, "k-means scratch: a chunk of " + std::to_string(values.dim()) + " dimensions");
  for (int64_t d = 0; d < values.dim(); ++d) header.shape[static_cast<size_t>(d)] = values.size(d);
  const size_t bytes = static_cast<size_t>(values.numel() * values.element_size());
  const bool ok = std::fwrite(&header, sizeof header, 1, file_) == 1 &&
                  (bytes == 0 || std::fwrite(values.data_ptr(), 1, bytes, file_) == bytes);
  STYLESEG_CHECK(ok, OutputError,
                 "cannot write the k-means scratch file " + path_ + ": " + std::strerror(errno) +
                     " (is the scratch disk full? --scratch picks another folder, --scratch '' none)");
  ++chunks_;
}

void ChunkSpill::finish() {
  STYLESEG_CHECK(std::fflush(file_) == 0, OutputError,
                 "cannot write the k-means scratch file " + path_ + ": " + std::strerror(errno));
  complete_ = true;
}

void ChunkSpill::for_each(const std::function<void(FeatureChunk&)>& visit) {
  std::rewind(file_);
  for (int64_t c = 0; c < chunks_; ++c) {
    Header header{};
    STYLESEG_CHECK(std::fread(&header, sizeof header, 1, file_) == 1 && header.ndim >= 1 && header.ndim <= 4, InputError,
                   "cannot read back the k-means scratch file " + path_ + " (chunk " + std::to_string(c) + ")");
    const std::vector<int64_t> shape(header.shape.begin(), header.shape.begin() + header.ndim);
    at::Tensor values = at::empty(shape, static_cast<at::ScalarType>(header.dtype));
    const size_t bytes = static_cast<size_t>(values.numel() * values.element_size());
    STYLESEG_CHECK(bytes == 0 || std::fread(values.data_ptr(), 1, bytes, file_) == bytes, InputError,
                   "cannot read back the k-means scratch file " + path_ + " (chunk " + std::to_string(c) + ")");
    FeatureChunk chunk;
    chunk.first_item = header.first_item;
    chunk.items = header.items;
    chunk.out_size = header.out_size;
    (header.is_maps ? chunk.maps : chunk.vectors) = values.to(device_);
    visit(chunk);
  }
}

}  // namespace styleseg::cluster
