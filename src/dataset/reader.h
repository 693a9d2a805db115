// Reading a synthetic dataset (dataset/dataset_file.h) for training: random access by
// index, a per-epoch global shuffle split across ranks, and a background thread that
// reads the next batches while the current one is used.
//
// Every rank opens the file read-only by itself (no MPI-IO: reads need no coordination).
// An incomplete file (a synthesize run still going, or stopped) is refused unless asked
// for; then only samples marked done are used.
//
//   DatasetReader data("dataset.h5");
//   auto order = data.epoch_indices(epoch, seed, comm.rank(), comm.size());
//   BatchLoader loader(data, order, 16);
//   while (auto batch = loader.next()) train(batch->images, batch->masks);
#pragma once

#include <ATen/core/Tensor.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "dataset/dataset_file.h"

namespace styleseg::dataset {

struct Batch {
  at::Tensor indices;  // int64 [B]
  at::Tensor images;   // uint8 [B, H, W, 3]
  at::Tensor masks;    // int64 [B, H, W] (class labels; the ignore label stays as stored)
};

class DatasetReader {
 public:
  // Throws InputError naming the file: missing, not a dataset, or incomplete without
  // `allow_incomplete`.
  explicit DatasetReader(const std::string& path, bool allow_incomplete = false);
  ~DatasetReader();
  DatasetReader(const DatasetReader&) = delete;
  DatasetReader& operator=(const DatasetReader&) = delete;

  const DatasetHeader& header() const { return header_; }
  // Samples that can be read (all of a complete file; the done ones of an incomplete one).
  const std::vector<int64_t>& available() const { return available_; }

  // The samples at `indices` (any order, repeats allowed). Thread-safe.
  Batch read(const std::vector<int64_t>& indices) const;

  // This rank's samples for an epoch: the available samples in one global order (shuffled
  // from (seed, epoch) when `shuffle`), rank r taking positions r, r + size, r + 2 size, ...
  // Ranks never share a sample and together cover every available sample once.
  std::vector<int64_t> epoch_indices(int64_t epoch, uint64_t seed, int rank, int size, bool shuffle = true) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  DatasetHeader header_;
  std::vector<int64_t> available_;
};

// epoch_indices over any pool of samples (e.g. the available ones less a held-out slice).
std::vector<int64_t> shard_epoch(std::vector<int64_t> pool, int64_t epoch, uint64_t seed, int rank, int size, bool shuffle = true);

// Work done on each batch in the reading thread, after reading (augmentation): it may
// replace images and masks. `number` counts the loader's batches from 0.
using BatchTransform = std::function<void(Batch& batch, int64_t number)>;

// Batches of `batch_size` from `order`, read ahead (and transformed) by a background
// thread (`prefetch` batches at most in memory). The last batch may be smaller.
class BatchLoader {
 public:
  BatchLoader(const DatasetReader& reader, std::vector<int64_t> order, int64_t batch_size, int prefetch = 2,
              BatchTransform transform = {});
  ~BatchLoader();  // stops the thread
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // The next batch, or nullopt after the last. Rethrows an error of the reading thread.
  std::optional<Batch> next();

 private:
  void run();
  const DatasetReader& reader_;
  std::vector<int64_t> order_;
  int64_t batch_size_;
  size_t prefetch_;
  BatchTransform transform_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Batch> ready_;
  std::exception_ptr error_;
  bool finished_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace styleseg::dataset
