// Clusters -> classes: several clusters can become one class, and clusters can be dropped
// to the ignore label. Written as
//     "0,3:skin;1:hair;2:eyes"        (--merge; a file holds the same, one entry a line)
// Classes are numbered in the order written; clusters not named are ignored (label 255
// in uint8 masks, 65535 in uint16 ones). Without a map every cluster is its own class,
// named after the cluster ("cluster 0", ... or the names the clusters file carries).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace styleseg::dataset {

class ClassMap {
 public:
  // One class per cluster.
  static ClassMap identity(int64_t clusters, const std::vector<std::string>& names = {});
  // Throws ConfigError naming `option` for a malformed text, a cluster outside [0, K), a
  // cluster in two classes, or an empty name.
  static ClassMap parse(const std::string& text, int64_t clusters, const std::string& option = "--merge");

  int64_t num_classes() const { return static_cast<int64_t>(names_.size()); }
  int64_t num_clusters() const { return static_cast<int64_t>(class_of_cluster_.size()); }
  const std::vector<std::string>& names() const { return names_; }
  // Class of each cluster, or ignore_label().
  const std::vector<int64_t>& class_of_cluster() const { return class_of_cluster_; }
  // 255 while classes fit in uint8 (at most 255 of them), else 65535.
  int64_t ignore_label() const { return num_classes() <= 255 ? 255 : 65535; }
  bool needs_uint16() const { return num_classes() > 255; }

  // Cluster labels (int64, any shape) -> class labels (int64).
  at::Tensor apply(const at::Tensor& cluster_labels) const;
  // "0,3:skin;1:hair": the canonical text (stored in the dataset, compared on resume).
  std::string to_string() const;

 private:
  std::vector<std::string> names_;
  std::vector<int64_t> class_of_cluster_;
};

// The text of a --merge-file: its lines joined with ';' (blank lines and # comments skipped).
// Throws InputError naming the file when it cannot be read.
std::string read_merge_file(const std::string& path);

}  // namespace styleseg::dataset
