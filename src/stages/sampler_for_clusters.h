// The generator sampler that draws masks of existing clusters (synthesize, name): at the layer
// the clusters were made from, checked against them.
#pragma once

#include <memory>
#include <string>

#include "sampling/sampler.h"

namespace styleseg::cluster {
struct Clusters;
}
namespace styleseg::comm {
class Communicator;
}

namespace styleseg::stages {

// The sampler of `options.checkpoint` at the layer `clusters` were made from, features at
// their native resolution (masks come from resizing score maps), checked: the clusters
// must come from this generator (SHA-256) and match the layer's width. For the stages
// that draw masks (synthesize, name); `command` names the stage in errors. Collective
// (rank 0 hashes the checkpoint).
std::unique_ptr<sampling::Sampler> sampler_for_clusters(const sampling::SamplerOptions& options, const cluster::Clusters& clusters,
                                                        const std::string& clusters_path, const std::string& command,
                                                        comm::Communicator& comm);

}  // namespace styleseg::stages
