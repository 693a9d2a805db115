#include "stages/feature_sources.h"

#include <ATen/ATen.h>

#include "core/error.h"
#include "core/sha256.h"
#include "mpi/communicator.h"

namespace styleseg::stages {

GeneratorFeatures::GeneratorFeatures(const sampling::SamplerOptions& options, int local_rank, int64_t chunk_items,
                                     std::string checkpoint_sha256)
    : sampler_(options, local_rank), chunk_items_(chunk_items > 0 ? chunk_items : 8),
      checkpoint_sha256_(std::move(checkpoint_sha256)) {
  STYLESEG_CHECK(sampler_.feature_layer().has_value(), ConfigError, "--feature-layer is required with --checkpoint");
}

int64_t GeneratorFeatures::dim() const { return sampler_.feature_layer()->channels; }

std::optional<int64_t> GeneratorFeatures::items() const {
  if (sampler_.latent_rows() > 0) return sampler_.latent_rows();
  return std::nullopt;
}

int64_t GeneratorFeatures::vectors_per_item() const { return sampler_.feature_size() * sampler_.feature_size(); }

std::vector<int64_t> GeneratorFeatures::item_shape() const { return {sampler_.feature_size(), sampler_.feature_size()}; }

cluster::FeatureChunk GeneratorFeatures::read(int64_t first, int64_t count) {
  sampling::SampleBatch batch = sampler_.make(first, count, /*resize_features=*/false);
  cluster::check_finite(batch.features, first, 1, "generator " + sampler_.options().checkpoint + " features");
  cluster::FeatureChunk chunk;
  chunk.first_item = first;
  chunk.items = count;
  chunk.maps = batch.features;
  chunk.out_size = sampler_.feature_size();
  chunk.images = batch.images;
  return chunk;
}

nlohmann::json GeneratorFeatures::describe() const {
  const sampling::SamplerOptions& o = sampler_.options();
  const stylegan2::FeatureLayer& layer = *sampler_.feature_layer();
  return {{"kind", "generator"}, {"checkpoint", o.checkpoint}, {"checkpoint_sha256", checkpoint_sha256_},
          {"generator", sampler_.describe()}, {"feature_layer", o.feature_layer},
          {"feature_layer_rosinality", layer.rosinality_name}, {"feature_layer_nvlabs", layer.nvlabs_name},
          {"feature_size", sampler_.feature_size()}, {"native_size", layer.resolution}, {"seed", o.seed},
          {"truncation", o.truncation}, {"noise", o.noise}, {"feature_noise", o.feature_noise},
          {"feature_normalize", o.feature_normalize},
          {"mixing_crossover", o.mixing_crossover},
          {"latents", o.latents}};
}

std::unique_ptr<cluster::FeatureSource> open_feature_input(const FeatureInputOptions& o, comm::Communicator& comm,
                                                           const std::string& command) {
  const bool from_generator = !o.sampling.checkpoint.empty();
  const bool from_file = !o.features.empty();
  STYLESEG_CHECK(from_generator != from_file, ConfigError,
                 command + ": give either --checkpoint (with --feature-layer) or --features (with --dataset)");
  STYLESEG_CHECK(o.batch >= 0, ConfigError, command + ": --batch must be >= 0");
  if (from_file) return cluster::open_h5_features(o.features, o.dataset, o.batch);
  validate(o.sampling, command);
  STYLESEG_CHECK(!o.sampling.feature_layer.empty(), ConfigError, command + ": --feature-layer is required with --checkpoint");
  const std::string sha = comm::decide_on_root(comm, [&] { return sha256_file(o.sampling.checkpoint); });
  return std::make_unique<GeneratorFeatures>(o.sampling, comm.local_rank(), o.batch, sha);
}

}  // namespace styleseg::stages
