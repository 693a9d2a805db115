// Per-pixel features for cluster and assign, from either of the two inputs a user has: a
// StyleGAN2 generator (the normal case: features of one synthesis layer of samples drawn
// from (seed, i), never stored) or an HDF5 dataset of vectors or feature maps.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>

#include "cluster/feature_source.h"
#include "sampling/sampler.h"

namespace styleseg::comm {
class Communicator;
}

namespace styleseg::stages {

struct FeatureInputOptions {
  sampling::SamplerOptions sampling;   // the generator route: checkpoint + feature layer (+ size, truncation, ...)
  std::string features;                // the file route: HDF5 file ...
  std::string dataset = "features";    // ... and dataset, float [N, D] or [N, C, h, w]
  int batch = 0;                       // items per chunk: 0 = 8 samples / maps, 16384 vectors
};

// A generator's features as a FeatureSource: item i is sample i; chunks are feature maps at
// the layer's native resolution with out_size = the feature size, so assignment takes the
// score-map route; the samples' images come along for previews.
class GeneratorFeatures final : public cluster::FeatureSource {
 public:
  GeneratorFeatures(const sampling::SamplerOptions& options, int local_rank, int64_t chunk_items, std::string checkpoint_sha256);
  int64_t dim() const override;
  std::optional<int64_t> items() const override;
  int64_t vectors_per_item() const override;
  int64_t chunk_items() const override { return chunk_items_; }
  cluster::FeatureChunk read(int64_t first, int64_t count) override;
  std::vector<int64_t> item_shape() const override;
  nlohmann::json describe() const override;
  const sampling::Sampler& sampler() const { return sampler_; }

 private:
  sampling::Sampler sampler_;
  int64_t chunk_items_;
  std::string checkpoint_sha256_;
};

// Collective (the checkpoint's SHA-256 is computed once and broadcast). Exactly one of
// --checkpoint and --features must be given (ConfigError naming `command` otherwise); the
// generator route needs --feature-layer.
std::unique_ptr<cluster::FeatureSource> open_feature_input(const FeatureInputOptions& options, comm::Communicator& comm,
                                                           const std::string& command);

}  // namespace styleseg::stages
