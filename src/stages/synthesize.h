// Stage 5, synthesize: many generated samples with their masks (each pixel: the class of
// its nearest centroid, cluster/assignment.h, the score-map route at the image size),
// written by all ranks into one HDF5 file (layout: dataset/dataset_file.h).
//
// Sharding as generate: chunk c (samples [c * batch, (c + 1) * batch)) is made by one
// rank and written collectively; sample i lands at row i and is the same whatever the
// number of ranks.
//
// Resume and integrity: the file is written as OUT.tmp.partial and renamed when every
// sample is done. Each round writes images, masks and latents, flushes them, and only then
// marks the samples done, so a job killed at any moment (one rank or all) leaves a file
// whose done samples are complete. `resume` continues it (any number of ranks; only the
// chunks with samples not done are made again) and refuses a partial file of a different
// job, naming the first difference. Without `resume` an existing partial file, or an
// existing OUT without `force`, is an error.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "sampling/sampler.h"

namespace styleseg::comm {
class Communicator;
}

namespace styleseg::stages {

struct SynthesizeOptions {
  sampling::SamplerOptions sampling;  // checkpoint, seed, truncation, noise, ... (the layer comes from the clusters)
  std::string clusters;       // clusters.h5 of `styleseg cluster` on the same generator
  std::string out;            // dataset.h5
  int64_t count = 0;
  int size = 0;               // image and mask side R (0: the generator's resolution)
  int batch = 8;
  std::string merge;          // class map "0,3:skin;1:hair" (dataset/class_map.h)
  std::string merge_file;     // the same in a file, one class a line
  bool resume = false;
  bool force = false;         // replace an existing OUT (and any partial file)
  bool no_space_check = false;  // write even when the planned size exceeds the free space
  int compression = 0;        // gzip level; > 0 gives up crash-safe resume (see dataset_file.h)
  double time_limit = 0;      // seconds; > 0: stop cleanly after the round that passes it (exit 75)
  std::string grid;           // PNG: the first samples beside their masks, with a legend of classes
  int grid_count = 8;
};

struct SynthesizeSummary {
  int64_t samples = 0;        // done (so far, when stopped)
  double seconds = 0;
  bool complete = true;
};

// Collective.
SynthesizeSummary synthesize(const SynthesizeOptions& options, comm::Communicator& comm, const nlohmann::json& provenance);

}  // namespace styleseg::stages
