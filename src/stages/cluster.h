// Stage 2, cluster: k-means over the per-pixel features of many generated samples (or of
// a feature file) finds the semantic regions. The algorithm is cluster/kmeans.h; this
// stage opens the input, saves resume states, writes clusters.h5 (cluster/clusters_file.h)
// and the preview picture.
//
// Resuming: after iterations the k-means state is saved (by rank 0, at most every
// `checkpoint_interval` seconds) to OUT.tmp.partial; `resume` continues from it (with any
// number of ranks) and refuses a state written by a different job, naming the difference.
// Without `resume` a saved state is refused (io/output_policy.h: `force` starts afresh). The
// state is removed once clusters.h5 is written.
// A stop (`time_limit`, or SIGUSR1: core/stop_request.h) saves the state after the current
// iteration and returns with `complete` false.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "cluster/kmeans.h"
#include "cluster/space.h"
#include "stages/feature_sources.h"

namespace styleseg::comm {
class Communicator;
}

namespace styleseg::stages {

struct ClusterOptions {
  FeatureInputOptions input;
  cluster::KMeansParameters kmeans;
  cluster::SpaceSpec space;           // where k-means runs (cluster/space.h), fitted on the fixed set
  std::string out;                    // clusters.h5
  std::string preview;                // PNG: samples beside their cluster maps, with a legend
  int preview_count = 8;
  bool resume = false;                // continue OUT.tmp.partial (io/output_policy.h)
  bool force = false;                 // replace existing outputs, remove a stale partial file
  double checkpoint_interval = 30;    // seconds between saved states (0: after every iteration)
  double time_limit = 0;              // seconds; > 0: save the state and stop after the iteration that passes it
};

struct ClusterSummary {
  cluster::KMeansResult result;     // (empty when stopped)
  double seconds = 0;
  bool complete = true;             // false: stopped with its state saved; --resume continues
};

// Collective: every rank calls it with the same options. `provenance` (the options that
// change results) is stored in clusters.h5 and identifies the job for --resume.
ClusterSummary run_cluster(const ClusterOptions& options, comm::Communicator& comm, const nlohmann::json& provenance);

// The preview picture: the first `count` items of `source` beside their cluster maps
// under `centroids`, with a legend of cluster index and pixel share (`counts`). Local
// (rank 0 alone). Throws ConfigError when the source has no pixels (plain vectors).
void write_cluster_preview(const std::string& path, cluster::FeatureSource& source, const at::Tensor& centroids,
                           const at::Tensor& counts, int count);

}  // namespace styleseg::stages
