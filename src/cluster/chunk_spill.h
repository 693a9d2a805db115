// This rank's chunks of k-means' fixed set on local disk, for when they do not fit in its
// memory cache: otherwise every Lloyd pass reads (or, from a generator, computes) the
// features again. Meant for node-local scratch (an NVMe $TMPDIR on a cluster node):
// `cluster --scratch DIR` or STYLESEG_SCRATCH. The file is this rank's alone, written once
// on the first pass, read back sequentially on every later pass, and removed when the
// ChunkSpill is destroyed (k-means done, failed or stopped).
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

#include "cluster/feature_source.h"

namespace styleseg::cluster {

class ChunkSpill {
 public:
  // Creates a new file in `dir` (created when missing). Throws OutputError naming it.
  ChunkSpill(const std::string& dir, int rank);
  ~ChunkSpill();
  ChunkSpill(const ChunkSpill&) = delete;
  ChunkSpill& operator=(const ChunkSpill&) = delete;

  // Appends the chunk's vectors or maps (not its pictures). Throws OutputError naming the
  // file (a full scratch disk).
  void append(const FeatureChunk& chunk);
  // No more chunks: the file is complete and can be read.
  void finish();
  bool complete() const { return complete_; }
  // Every chunk in the order appended, on the device it came from. Throws InputError
  // naming the file when it cannot be read back.
  void for_each(const std::function<void(FeatureChunk&)>& visit);

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
  bool complete_ = false;
  int64_t chunks_ = 0;
  c10::Device device_ = c10::Device(c10::kCPU);
};

}  // namespace styleseg::cluster
