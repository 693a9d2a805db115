// Where k-means runs: the features as they are, or an affine map of them fitted on the
// fixed set, z = (x - mean) map. Whitening gives every principal direction unit variance, so
// a small part that differs from its neighbour along a direction of little variance (the
// pupil beside the iris) weighs as much as the large regions do; measured with
// `styleseg probe --variant space=...` (README, "The probe on the eye job").
//
// The map is affine and applied per pixel, so it commutes with the bilinear resize of the
// score-map route (cluster/assignment.h): maps are projected at their native resolution.
// clusters.h5 stores the centroids in the space, with the map (clusters_file.h); every
// stage that assigns pixels projects them first (Clusters::project_maps / project_vectors).
//
//   SpaceStatistics stats(D);  stats.add(rows) ...;  allreduce stats.packed();
//   SpaceMap map = fit_space(spec, stats);  map.project_vectors(x) / map.project_maps(maps)
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>

#include "cluster/feature_source.h"

namespace styleseg::comm {
class Communicator;
}

namespace styleseg::cluster {

struct SpaceSpec {
  enum class Kind {
    Raw,          // the features
    Standardize,  // each dimension to zero mean, unit variance
    Pca,          // projected on the `dims` leading principal axes (variance kept)
    Whiten,       // the same axes, each scaled to unit variance
  };
  Kind kind = Kind::Raw;
  int64_t dims = 0;  // Pca, Whiten: axes kept (0: all)

  bool is_raw() const { return kind == Kind::Raw; }
};

// "raw", "standardize", "pca[:D]", "whiten[:D]". ConfigError naming `option` otherwise.
SpaceSpec parse_space(const std::string& text, const std::string& option);
std::string to_string(const SpaceSpec& spec);

// Count, sum and sum of outer products of rows, in float64: what a fit needs, summed over
// ranks with one allreduce of packed().
class SpaceStatistics {
 public:
  explicit SpaceStatistics(int64_t dim);
  // Per call, products in float32 (a chunk's worth), added in float64.
  void add(const at::Tensor& rows);                 // [n, D], any float type and device
  void add_maps(const at::Tensor& maps);            // [B, D, h, w]: every pixel a row
  at::Tensor& packed() { return packed_; }          // float64 [1 + D + D*D] (CPU)
  const at::Tensor& packed() const { return packed_; }
  int64_t rows() const;
  int64_t dim() const { return dim_; }

 private:
  int64_t dim_;
  at::Tensor packed_;
};

struct SpaceMap {
  at::Tensor mean;  // float64 [D]; undefined for Raw
  at::Tensor map;   // float64 [D, D']

  bool is_identity() const { return !map.defined(); }
  int64_t in_dim() const { return map.size(0); }
  int64_t out_dim() const { return map.size(1); }
  // [n, D] -> [n, D'] float32 on the rows' device; the rows themselves for Raw.
  at::Tensor project_vectors(const at::Tensor& rows) const;
  // [B, D, h, w] -> [B, D', h, w] float32; the maps themselves for Raw.
  at::Tensor project_maps(const at::Tensor& maps) const;
};

// The map of `spec` from statistics of at least two rows. Principal axes are the
// eigenvectors of the covariance, largest first, each signed so that its largest component
// is positive (the same map whatever the rounding of the sums). Whitening floors the
// variances at 1e-6 of the largest, so that empty directions stay small. ConfigError when
// `dims` exceeds D or there are too few rows.
SpaceMap fit_space(const SpaceSpec& spec, const SpaceStatistics& statistics);

// Collective: the map of `spec` fitted on items [0, items) of `source` (chunk c on rank c
// mod size; maps at their native pixels), the statistics summed over ranks. Identity for raw.
SpaceMap fit_space_on(const SpaceSpec& spec, FeatureSource& source, int64_t items, comm::Communicator& comm);

// `source` seen through `map`: every chunk's vectors or maps projected (images kept).
std::unique_ptr<FeatureSource> project_source(std::unique_ptr<FeatureSource> source, SpaceMap map);

}  // namespace styleseg::cluster
