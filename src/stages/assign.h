// assign: the nearest-centroid label of every vector or pixel (cluster/assignment.h, the
// same code cluster and synthesize use), for a feature file or for generator samples.
//
// Output (one HDF5 file, written by all ranks, renamed when complete):
//   labels  uint8 [N] or [N, h, w] (uint16 when K > 256): vectors, or the pixels of
//           feature maps / generator samples (at --feature-size, via the score-map route)
//   attributes: clusters file and its SHA-256, source (JSON), options (JSON), styleseg_version.
// Sample / row i lands at row i whatever the number of ranks.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "stages/feature_sources.h"

namespace styleseg::comm {
class Communicator;
}

namespace styleseg::stages {

struct AssignOptions {
  FeatureInputOptions input;
  std::string clusters;     // clusters.h5
  std::string out;          // labels.h5
  int64_t count = 0;        // items: generator samples (required), or the first rows of a file (0 = all)
  int compression = 0;
  std::string grid;         // PNG of the first label maps (maps and generators)
  int grid_count = 16;
  bool force = false;       // replace existing outputs (io/output_policy.h)
};

// Collective.
void run_assign(const AssignOptions& options, comm::Communicator& comm, const nlohmann::json& provenance);

}  // namespace styleseg::stages
