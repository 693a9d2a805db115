#include "stages/sampler_for_clusters.h"

#include "cluster/clusters_file.h"
#include "core/error.h"
#include "core/sha256.h"
#include "mpi/communicator.h"

namespace styleseg::stages {

std::unique_ptr<sampling::Sampler> sampler_for_clusters(const sampling::SamplerOptions& options, const cluster::Clusters& clusters,
                                                        const std::string& clusters_path, const std::string& command,
                                                        comm::Communicator& comm) {
  const std::string checkpoint_sha = comm::decide_on_root(comm, [&] { return sha256_file(options.checkpoint); });
  cluster::check_made_from(clusters, clusters_path, options.checkpoint, checkpoint_sha, command);
  sampling::SamplerOptions at_layer = options;
  at_layer.feature_layer = clusters.source.value("feature_layer", "");
  at_layer.feature_size = 0;
  auto sampler = std::make_unique<sampling::Sampler>(at_layer, comm.local_rank());
  STYLESEG_CHECK(sampler->feature_layer()->channels == clusters.feature_dim(), InputError,
                 command + ": layer " + at_layer.feature_layer + " has " + std::to_string(sampler->feature_layer()->channels) +
                     " channels, the clusters in " + clusters_path + " are of " + std::to_string(clusters.feature_dim()));
  return sampler;
}

}  // namespace styleseg::stages
