// Naming clusters with CLIP ("Segmentation in Style" section 2.4): each cluster's region is
// embedded densely over many images, the embeddings averaged, and the closest text prompt
// is its name.
//
//   RegionEmbeddings regions(K, E);
//   regions.add(dense, labels);            // per batch, on each rank
//   regions.allreduce(comm);               // sums and weights over every rank's samples
//   ClusterNames names = choose_names(regions.means(), text_embeddings, prompts);
//
// Averaging: each location's embedding is scaled to unit length (its direction is what
// CLIP compares), weighted by the share of the location's pixels that belong to the
// cluster, summed over locations and images, divided by the weights and scaled to unit
// length again. A cluster is thus described by where its pixels are, in proportion to how
// many there are, whatever the resolution of the masks or of the embedding map.
#pragma once

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace styleseg::comm {
class Communicator;
}

namespace styleseg::cluster {

class RegionEmbeddings {
 public:
  RegionEmbeddings(int64_t clusters, int64_t dim);

  // dense [B, E, h, w] (any device, float); labels [B, H, W] int64 in [0, K) with H, W
  // multiples of h, w (each location covers a (H/h) x (W/w) block of label pixels).
  void add(const at::Tensor& dense, const at::Tensor& labels);
  // Collective: sums and weights over every rank (each rank added its own samples).
  void allreduce(comm::Communicator& comm);

  const at::Tensor& sums() const { return sums_; }        // float64 [K, E]
  const at::Tensor& weights() const { return weights_; }  // float64 [K]: label pixels seen
  // Unit-length mean embedding per cluster, float32 [K, E]; zero rows for clusters with no pixels.
  at::Tensor means() const;

 private:
  at::Tensor sums_;
  at::Tensor weights_;
};

struct ClusterName {
  std::string name;          // clip_name, or the name given by hand; empty: no pixels
  bool by_hand = false;
  // What CLIP chose, also when a name was given by hand:
  std::string clip_name;     // the best prompt
  double score = 0;          // cosine similarity of the cluster's mean embedding and that prompt
  std::vector<std::string> runner_ups;  // the next best prompts (up to two)
  std::vector<double> margins;          // score minus each runner-up's score
};

struct ClusterNames {
  std::vector<ClusterName> clusters;
  at::Tensor similarity;     // float32 [K, P]: every cluster against every prompt

  std::vector<std::string> names() const;
  // The class map that merges clusters of the same name ("0,3:skin;1:hair", dataset/class_map.h),
  // classes in order of their first cluster; clusters without a name are left out (ignored).
  std::string class_map() const;
  nlohmann::json to_json() const;
};

// means [K, E] (unit rows, or zero for empty clusters), text_embeddings [P, E] (any
// scale), `names` [P] (what each prompt names). `by_hand` fixes names: cluster -> name.
// Throws ConfigError when there are no prompts or a by-hand cluster is outside [0, K).
ClusterNames choose_names(const at::Tensor& means, const at::Tensor& text_embeddings, const std::vector<std::string>& names,
                          const std::map<int64_t, std::string>& by_hand = {});

// "3=hair" entries -> {3: "hair"}; ConfigError naming `option` when malformed.
std::map<int64_t, std::string> parse_assignments(const std::vector<std::string>& entries, const std::string& option = "--assign");

}  // namespace styleseg::cluster
