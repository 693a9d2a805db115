// The files of the cluster stage, one reader and one writer each.
//
// clusters.h5 (written by `styleseg cluster`; read by assign, synthesize, name):
//   centroids  float32 [K, D'] in the cluster space (cluster/space.h; D' = D when raw)
//   space_mean float64 [D], space_map float64 [D, D']: z = (x - mean) map; only when the
//              attribute space is not "raw" (files without it are raw)
//   counts     int64   [K]     vectors of the fixed set nearest to each centroid
//   inertia    float64 [T]     per iteration of the winning restart (Lloyd: the pass's sum
//                              of squared distances; mini-batch: the batch's)
//   attributes: final_inertia (over the fixed set), iterations, converged, algorithm, init,
//   restart_inertia, fixed_vectors, vectors_processed, seconds, source (JSON: the feature
//   file and dataset, or the generator checkpoint with its SHA-256, feature layer and
//   size, truncation, noise, seed), options (JSON), styleseg_version.
//   After `styleseg name`: names (JSON array, one per cluster; "" where unnamed) and naming
//   (JSON: per-cluster name, score, runner-ups and margins, and the CLIP model, prompts,
//   template and samples used; cluster/naming.h).
//
// The k-means resume state (OUT.tmp.partial beside it), written by rank 0 after
// iterations and read back by `cluster --resume`: the KMeansState fields, and `identity`,
// the JSON of everything the run's results depend on, so a state is only resumed by the
// same job.
#pragma once

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cluster/kmeans.h"
#include "cluster/space.h"

namespace styleseg::cluster {

// The k-means result (centroids [K, D'] in the cluster space, counts, inertia over the fixed
// set and per iteration, restarts, vectors) with where it ran and how it was made.
struct Clusters : KMeansResult {
  Clusters() = default;
  explicit Clusters(KMeansResult result) : KMeansResult(std::move(result)) {}

  SpaceSpec space;                     // where k-means ran
  SpaceMap space_map;                  // features -> that space (identity when raw)
  std::string algorithm, init;         // as named on the command line (KMeansAlgorithm, KMeansInit)
  double seconds = 0;
  nlohmann::json source = nlohmann::json::object();
  nlohmann::json options = nlohmann::json::object();
  std::vector<std::string> names;      // one per cluster once named; empty before
  nlohmann::json naming;               // how they were named (null before)

  int64_t num_clusters() const { return centroids.size(0); }
  int64_t dim() const { return centroids.size(1); }  // of the cluster space
  // Dimensions of the features the clusters are of (before the space's map).
  int64_t feature_dim() const { return space_map.is_identity() ? dim() : space_map.in_dim(); }
  // Feature maps [B, D, h, w] or vectors [n, D] into the cluster space, where centroids are.
  at::Tensor project_maps(const at::Tensor& maps) const { return space_map.project_maps(maps); }
  at::Tensor project_vectors(const at::Tensor& rows) const { return space_map.project_vectors(rows); }
};

// Serial write, atomic (temporary name, then rename). Throws OutputError.
void write_clusters(const std::string& path, const Clusters& clusters);
// Throws InputError naming the file when missing, not a clusters file, or inconsistent.
Clusters read_clusters(const std::string& path);

// For stages that draw masks from a generator (synthesize, name): ConfigError naming
// `command` and both files unless the clusters are of a generator's features and that
// generator's SHA-256 is `checkpoint_sha`.
void check_made_from(const Clusters& clusters, const std::string& clusters_path, const std::string& checkpoint,
                     const std::string& checkpoint_sha, const std::string& command);

// Serial write, atomic. Throws OutputError.
void write_kmeans_state(const std::string& path, const KMeansState& state, const std::string& identity);
// The saved state; InputError when the file is not a k-means state, ConfigError naming
// the first difference when it was written by another job (identity differs).
KMeansState read_kmeans_state(const std::string& path, const std::string& identity);

}  // namespace styleseg::cluster
