#include "dataset/reader.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <numeric>

#include "core/device.h"
#include "core/error.h"
#include "core/seeding.h"
#include "io/h5.h"
#include "io/h5_tensor.h"

namespace styleseg::dataset {

struct DatasetReader::Impl {
  h5::File file;
  std::mutex mutex;  // the HDF5 library is not thread-safe in Debian's build: one reader at a time
};

DatasetReader::DatasetReader(const std::string& path, bool allow_incomplete)
    : impl_(new Impl{h5::File::open(path, h5::Mode::Read), {}}), header_(read_header(impl_->file)) {
  const std::vector<uint8_t> done = impl_->file.read_all<uint8_t>("done");
  for (int64_t i = 0; i < header_.count; ++i)
    if (done[static_cast<size_t>(i)]) available_.push_back(i);
  if (!header_.complete) {
    STYLESEG_CHECK(allow_incomplete, InputError,
                   path + " is incomplete (" + std::to_string(available_.size()) + " of " + std::to_string(header_.count) +
                       " samples done): finish it with synthesize --resume, or allow incomplete datasets");
  }
  STYLESEG_CHECK(!available_.empty(), InputError, path + ": no sample is done yet");
}

DatasetReader::~DatasetReader() = default;

Batch DatasetReader::read(const std::vector<int64_t>& indices) const {
  const int64_t n = static_cast<int64_t>(indices.size()), h = header_.height, w = header_.width;
  Batch batch;
  batch.indices = at::tensor(indices, at::kLong);
  batch.images = at::empty({n, h, w, 3}, at::kByte);
  batch.masks = at::empty({n, h, w}, at::kLong);
  std::lock_guard<std::mutex> lock(impl_->mutex);
  for (int64_t j = 0; j < n; ++j) {
    const int64_t i = indices[static_cast<size_t>(j)];
    STYLESEG_CHECK(i >= 0 && i < header_.count, Error,
                   impl_->file.path() + ": sample " + std::to_string(i) + " asked for, the dataset holds " +
                       std::to_string(header_.count));
    impl_->file.read_rows("images", i, 1, batch.images[j].data_ptr(), h5::DType::U8);
    batch.masks[j].copy_(h5::read_tensor(impl_->file, "masks", i, 1)[0]);
  }
  return batch;
}

std::vector<int64_t> DatasetReader::epoch_indices(int64_t epoch, uint64_t seed, int rank, int size, bool shuffle) const {
  return shard_epoch(available_, epoch, seed, rank, size, shuffle);
}

std::vector<int64_t> shard_epoch(std::vector<int64_t> order, int64_t epoch, uint64_t seed, int rank, int size, bool shuffle) {
  if (shuffle) {
    // Fisher-Yates from (seed, epoch): the same global order on every rank.
    SampleRng rng(seed, static_cast<uint64_t>(epoch), Stream::Generic);
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.next_u64() % i]);
  }
  std::vector<int64_t> mine;
  for (size_t i = static_cast<size_t>(rank); i < order.size(); i += static_cast<size_t>(size)) mine.push_back(order[i]);
  return mine;
}

BatchLoader::BatchLoader(const DatasetReader& reader, std::vector<int64_t> order, int64_t batch_size, int prefetch,
                         BatchTransform transform)
    : reader_(reader), order_(std::move(order)), batch_size_(std::max<int64_t>(1, batch_size)),
      prefetch_(static_cast<size_t>(std::max(1, prefetch))), transform_(std::move(transform)), thread_([this] { run(); }) {}

BatchLoader::~BatchLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void BatchLoader::run() {
  // Reading and augmenting are small ops: one thread, leaving the cores to the training step.
  set_threads_of_this_thread(1);
  try {
    for (size_t start = 0; start < order_.size(); start += static_cast<size_t>(batch_size_)) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        changed_.wait(lock, [&] { return stopping_ || ready_.size() < prefetch_; });
        if (stopping_) return;
      }
      const auto end = std::min(order_.size(), start + static_cast<size_t>(batch_size_));
      Batch batch = reader_.read(std::vector<int64_t>(order_.begin() + static_cast<long>(start), order_.begin() + static_cast<long>(end)));
      if (transform_) transform_(batch, static_cast<int64_t>(start) / batch_size_);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        ready_.push_back(std::move(batch));
      }
      changed_.notify_all();
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(mutex_);
    error_ = std::current_exception();
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    finished_ = true;
  }
  changed_.notify_all();
}

std::optional<Batch> BatchLoader::next() {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return !ready_.empty() || finished_; });
  if (!ready_.empty()) {
    Batch batch = std::move(ready_.front());
    ready_.pop_front();
    lock.unlock();
    changed_.notify_all();
    return batch;
  }
  if (error_) std::rethrow_exception(error_);
  return std::nullopt;
}

}  // namespace styleseg::dataset
