// Where k-means (cluster/kmeans.h) and assignment get per-pixel feature vectors from: a
// numbered sequence of items (generator samples, or rows of a file), read in chunks.
//
// Items are numbered globally, so "chunk c" (items [c * B, (c + 1) * B)) is the same data
// whatever the number of ranks; ranks split chunks (chunk c on rank c mod size), and every
// chunk is computed the same way on any rank. That is what makes 1, 2 and 4 ranks give the
// same centroids. A source never holds more than the chunk it returns.
//
// Implementations: an HDF5 dataset (below), a synthetic Gaussian mixture with known
// centres (below; tests and benchmarks), and a StyleGAN2 generator (stages/feature_sources.h).
#pragma once

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "cluster/assignment.h"

namespace styleseg::h5 {
class File;
}

namespace styleseg::cluster {

struct FeatureChunk {
  int64_t first_item = 0;
  int64_t items = 0;
  // Either vectors [n, D] (vectors_per_item of them per item, item-major), or feature maps
  // [items, D, h, w] whose pixels are those of the bilinear resize to out_size x out_size.
  at::Tensor vectors;
  at::Tensor maps;
  int64_t out_size = 0;
  at::Tensor images;  // uint8 [items, H, W, 3] when the source has pictures (generators), else undefined
  // |x|^2 of every vector ([n]) or pixel ([items, out_size, out_size]); filled on first use by
  // k-means, so chunks it keeps in memory compute them once.
  at::Tensor squared_norms;

  bool is_maps() const { return maps.defined(); }
  int64_t num_vectors() const;
  // What a chunk is made of (the vectors or the maps), and where it lives.
  const at::Tensor& data() const { return is_maps() ? maps : vectors; }
  c10::Device device() const { return data().device(); }

  // What k-means asks of a chunk, whichever form it has (maps: through the resize, never
  // materialised; cluster/assignment.h):
  // the nearest of `centroids` [K, D] to every vector, with the squared distance;
  Assignment assign(const at::Tensor& centroids);
  // the per-cluster sums [K, D] (float64) of the vectors, by those labels;
  at::Tensor label_sums(const at::Tensor& labels, int64_t num_clusters) const;
  // the vectors [m, D] at flat indices `where` (item-major; a map's pixels row by row).
  at::Tensor rows(const at::Tensor& where) const;
};

class FeatureSource {
 public:
  virtual ~FeatureSource() = default;

  // Dimensions of a feature vector.
  virtual int64_t dim() const = 0;
  // Items available; nullopt: as many as asked (a generator).
  virtual std::optional<int64_t> items() const = 0;
  // Feature vectors per item (1 for a row, out_size^2 for a feature map).
  virtual int64_t vectors_per_item() const = 0;
  // Items per chunk: the unit of work of one rank.
  virtual int64_t chunk_items() const = 0;
  // Items [first, first + count). Throws InputError for non-finite values, naming the
  // file (or generator) and the item.
  virtual FeatureChunk read(int64_t first, int64_t count) = 0;
  // Pixel grid of an item's vectors ({h, w}), or {} when items are plain vectors.
  virtual std::vector<int64_t> item_shape() const = 0;
  // What the data is, for provenance attributes and messages.
  virtual nlohmann::json describe() const = 0;
};

// Throws InputError naming `where` and the first item with a NaN or an infinity.
void check_finite(const at::Tensor& values, int64_t first_item, int64_t vectors_per_item, const std::string& where);

// An HDF5 dataset of float vectors [N, D] or feature maps [N, C, h, w] (each pixel a
// vector; read as vectors, item-major, row-major pixels). `chunk_items` 0 picks 16384 rows
// of vectors or 8 maps. Throws InputError naming the file and dataset when missing or of
// another shape.
std::unique_ptr<FeatureSource> open_h5_features(const std::string& path, const std::string& dataset,
                                                int64_t chunk_items = 0);

// A mixture of `clusters` Gaussians in `dim` dimensions with known centres, item i drawn
// from (seed, i) alone: component k with probability proportional to weight_k (weights
// fall geometrically from 1 to 1/`imbalance`), centre_k + `spread` * N(0, I). Centres are
// drawn from N(0, I) * `separation`. `count` 0: unbounded.
struct MixtureSpec {
  int64_t clusters = 8;
  int64_t dim = 16;
  int64_t count = 100000;
  double spread = 1.0;
  double separation = 10.0;
  double imbalance = 1.0;
  uint64_t seed = 0;
  int64_t chunk_items = 16384;
};
class MixtureSource : public FeatureSource {
 public:
  explicit MixtureSource(const MixtureSpec& spec);
  int64_t dim() const override { return spec_.dim; }
  std::optional<int64_t> items() const override;
  int64_t vectors_per_item() const override { return 1; }
  int64_t chunk_items() const override { return spec_.chunk_items; }
  FeatureChunk read(int64_t first, int64_t count) override;
  std::vector<int64_t> item_shape() const override { return {}; }
  nlohmann::json describe() const override;

  const at::Tensor& centres() const { return centres_; }  // float32 [clusters, dim]
  const at::Tensor& weights() const { return weights_; }  // float64 [clusters], sum 1
  // The component item i was drawn from.
  int64_t component(int64_t item) const;

 private:
  int64_t component_of(double uniform) const;
  MixtureSpec spec_;
  at::Tensor centres_;
  at::Tensor weights_;
  std::vector<double> cumulative_;
};

}  // namespace styleseg::cluster
