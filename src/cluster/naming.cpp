#include "cluster/naming.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <numeric>

#include "core/error.h"
#include "mpi/communicator.h"

namespace styleseg::cluster {

RegionEmbeddings::RegionEmbeddings(int64_t clusters, int64_t dim)
    : sums_(at::zeros({clusters, dim}, at::kDouble)), weights_(at::zeros({clusters}, at::kDouble)) {}

void RegionEmbeddings::add(const at::Tensor& dense, const at::Tensor& labels) {
  STYLESEG_ASSERT(dense.dim() == 4 && labels.dim() == 3 && dense.size(0) == labels.size(0),
                  "RegionEmbeddings::add: dense [B, E, h, w] and labels [B, H, W] must agree on B");
  const int64_t batch = dense.size(0), dim = dense.size(1), h = dense.size(2), w = dense.size(3);
  const int64_t big_h = labels.size(1), big_w = labels.size(2), clusters = sums_.size(0);
  STYLESEG_ASSERT(dim == sums_.size(1) && big_h % h == 0 && big_w % w == 0,
                  "RegionEmbeddings::add: the embedding width or the label map's size does not fit");
  const int64_t cell_h = big_h / h, cell_w = big_w / w;
  // Each label pixel's (cluster, location) pair, counted: [B, K, h*w] pixel counts.
  const at::Tensor lab = labels.to(dense.device(), at::kLong);
  const at::Tensor rows = at::arange(big_h, lab.options()).div(cell_h, "floor").view({1, big_h, 1});
  const at::Tensor cols = at::arange(big_w, lab.options()).div(cell_w, "floor").view({1, 1, big_w});
  const at::Tensor index = (lab * (h * w) + rows * w + cols).view({batch, -1});
  at::Tensor counts = at::zeros({batch, clusters * h * w}, dense.options().dtype(at::kFloat));
  counts.scatter_add_(1, index, at::ones_like(index, counts.options()));
  counts = counts.view({batch, clusters, h * w});
  // Unit-length embedding per location: [B, h*w, E].
  at::Tensor per_location = dense.to(at::kFloat).flatten(2).transpose(1, 2);
  per_location = per_location / per_location.norm(2, -1, true).clamp_min(1e-12);
  const at::Tensor batch_sums = at::bmm(counts, per_location).sum(0);  // [K, E]
  sums_ += batch_sums.to(at::kCPU, at::kDouble);
  weights_ += counts.sum(at::IntArrayRef{0, 2}).to(at::kCPU, at::kDouble);
}

void RegionEmbeddings::allreduce(comm::Communicator& comm) {
  at::Tensor sums = sums_.to(comm.device()).contiguous(), weights = weights_.to(comm.device()).contiguous();
  comm.allreduce(sums);
  comm.allreduce(weights);
  sums_ = sums.cpu();
  weights_ = weights.cpu();
}

at::Tensor RegionEmbeddings::means() const {
  const at::Tensor mean = sums_ / weights_.clamp_min(1.0).unsqueeze(1);
  const at::Tensor norm = mean.norm(2, 1, true);
  return at::where(norm > 0, mean / norm.clamp_min(1e-300), at::zeros_like(mean)).to(at::kFloat);
}

std::vector<std::string> ClusterNames::names() const {
  std::vector<std::string> out;
  for (const ClusterName& c : clusters) out.push_back(c.name);
  return out;
}

std::string ClusterNames::class_map() const {
  std::vector<std::string> order;
  std::map<std::string, std::string> members;
  for (size_t k = 0; k < clusters.size(); ++k) {
    const std::string& name = clusters[k].name;
    if (name.empty()) continue;
    if (!members.count(name)) order.push_back(name);
    std::string& list = members[name];
    list += (list.empty() ? "" : ",") + std::to_string(k);
  }
  std::string text;
  for (const std::string& name : order) text += (text.empty() ? "" : ";") + members[name] + ":" + name;
  return text;
}

nlohmann::json ClusterNames::to_json() const {
  nlohmann::json out = nlohmann::json::array();
  for (size_t k = 0; k < clusters.size(); ++k) {
    const ClusterName& c = clusters[k];
    out.push_back({{"cluster", k}, {"name", c.name}, {"by_hand", c.by_hand}, {"clip_name", c.clip_name},
                   {"score", c.score}, {"runner_ups", c.runner_ups}, {"margins", c.margins}});
  }
  return out;
}

ClusterNames choose_names(const at::Tensor& means, const at::Tensor& text_embeddings, const std::vector<std::string>& names,
                          const std::map<int64_t, std::string>& by_hand) {
  STYLESEG_CHECK(!names.empty() && text_embeddings.size(0) == static_cast<int64_t>(names.size()), ConfigError,
                 "naming clusters needs at least one prompt (and one embedding per prompt)");
  const int64_t clusters = means.size(0);
  for (const auto& [k, name] : by_hand)
    STYLESEG_CHECK(k >= 0 && k < clusters, ConfigError,
                   "--assign " + std::to_string(k) + "=" + name + ": there are clusters 0.." + std::to_string(clusters - 1));
  const at::Tensor text = text_embeddings.to(at::kCPU, at::kFloat);
  const at::Tensor unit_text = text / text.norm(2, 1, true).clamp_min(1e-12);
  ClusterNames result;
  result.similarity = at::matmul(means.to(at::kCPU, at::kFloat), unit_text.t()).contiguous();  // [K, P]
  const at::Tensor empty = means.to(at::kCPU).norm(2, 1) == 0;
  for (int64_t k = 0; k < clusters; ++k) {
    ClusterName c;
    std::vector<float> row(result.similarity[k].data_ptr<float>(), result.similarity[k].data_ptr<float>() + names.size());
    std::vector<size_t> order(names.size());
    std::iota(order.begin(), order.end(), 0);
    // Highest first; ties to the earlier prompt, so the result does not depend on the sort.
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return row[a] > row[b]; });
    if (!empty[k].item<bool>()) {
      c.clip_name = names[order[0]];
      c.score = row[order[0]];
      for (size_t r = 1; r < std::min<size_t>(3, order.size()); ++r) {
        c.runner_ups.push_back(names[order[r]]);
        c.margins.push_back(row[order[0]] - row[order[r]]);
      }
    }
    c.name = c.clip_name;
    if (auto it = by_hand.find(k); it != by_hand.end()) {
      c.name = it->second;
      c.by_hand = true;
    }
    result.clusters.push_back(c);
  }
  return result;
}

std::map<int64_t, std::string> parse_assignments(const std::vector<std::string>& entries, const std::string& option) {
  std::map<int64_t, std::string> out;
  for (const std::string& entry : entries) {
    const auto eq = entry.find('=');
    const std::string key = entry.substr(0, eq);
    const std::string name = eq == std::string::npos ? "" : entry.substr(eq + 1);
    const bool digits = !key.empty() && std::all_of(key.begin(), key.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
    STYLESEG_CHECK(eq != std::string::npos && digits && !name.empty() && name.find_first_of(":;,") == std::string::npos,
                   ConfigError, option + " " + entry + ": expected CLUSTER=NAME, e.g. 3=hair (a name without : ; ,)");
    const int64_t k = std::stoll(key);
    STYLESEG_CHECK(!out.count(k), ConfigError, option + ": cluster " + key + " is named twice");
    out[k] = name;
  }
  return out;
}

}  // namespace styleseg::cluster
