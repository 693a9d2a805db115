// Stage 4, name: CLIP names the clusters ("Segmentation in Style" section 2.4). Ranks split
// N generated samples (sample i is the same image on any number of ranks, stages/sampler.h);
// for each, the dense CLIP embeddings of the image (models/clip/model.h: a dilated ResNet
// tower, output stride 8 or 16) and the cluster masks (nearest centroid,
// cluster/assignment.h, at the CLIP input's size) give per-cluster embedding sums
// (cluster/naming.h); an allreduce adds them up, and each cluster's mean embedding is
// compared with the prompts' text embeddings ("This is a photo of a {}.").
//
// Results: the names, scores and margins to the two runner-up prompts are written into the
// clusters file (cluster/clusters_file.h, atomically), the table is logged, and on request
// a class map for `synthesize --merge-file` (clusters of one name merged) and a PNG of
// samples with their clusters and names. `assign` ("3=hair") fixes names by hand.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "cluster/naming.h"
#include "sampling/sampler.h"

namespace styleseg::comm {
class Communicator;
}

namespace styleseg::stages {

struct NameOptions {
  sampling::SamplerOptions sampling;  // the generator the clusters were made from (the layer comes from the clusters)
  std::string clusters;            // clusters.h5 of `styleseg cluster`
  std::string out;                 // the clusters with names (never `clusters` itself: io/output_policy.h)
  std::string clip;                // CLIP model (RN50.pt ... RN50x64.pt; a ViT works at its patch stride)
  std::string vocab;               // bpe_simple_vocab_16e6.txt.gz
  std::string prompts;             // "hair,skin,eyes"
  std::string prompts_file;        // one prompt a line (# comments), or a JSON array of strings
  std::string prompt_template = "This is a photo of a {}.";
  bool truncate = false;           // cut prompts longer than CLIP's context instead of failing
  int64_t samples = 64;
  int batch = 4;
  int output_stride = 0;           // of the dense embeddings: 8 or 16 (ResNet), the patch (ViT); 0: the finest
  int clip_size = 0;               // side of the CLIP input (0: the model's resolution)
  std::string clip_precision = "float32";  // float32 | bfloat16 (GPU)
  std::vector<std::string> assign; // "3=hair": names fixed by hand
  std::string merge_file;          // write the class map (clusters of one name merged) here
  std::string png;                 // samples beside their named clusters
  int png_count = 8;
  bool force = false;              // replace existing outputs
};

struct NameSummary {
  cluster::ClusterNames names;
  std::vector<double> pixel_share;  // of each cluster, over the samples
  double seconds = 0;
};

// Collective.
NameSummary name_clusters(const NameOptions& options, comm::Communicator& comm, const nlohmann::json& provenance);

// The prompts of --prompts (comma-separated) or --prompts-file (JSON array, or one a line
// with # comments); ConfigError / InputError naming the option or file.
std::vector<std::string> read_prompts(const std::string& list, const std::string& file);

}  // namespace styleseg::stages
