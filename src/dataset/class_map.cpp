#include "dataset/class_map.h"

#include <ATen/ATen.h>

#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/text.h"

namespace styleseg::dataset {

ClassMap ClassMap::identity(int64_t clusters, const std::vector<std::string>& names) {
  ClassMap map;
  for (int64_t k = 0; k < clusters; ++k) {
    map.names_.push_back(k < static_cast<int64_t>(names.size()) ? names[static_cast<size_t>(k)] : "cluster " + std::to_string(k));
    map.class_of_cluster_.push_back(k);
  }
  return map;
}

ClassMap ClassMap::parse(const std::string& text, int64_t clusters, const std::string& option) {
  ClassMap map;
  map.class_of_cluster_.assign(static_cast<size_t>(clusters), -1);
  auto fail = [&](const std::string& why) { throw ConfigError(option + " '" + text + "': " + why); };
  for (const std::string& raw : split(text, ';')) {
    const std::string entry = trim(raw);
    if (entry.empty()) continue;
    const auto colon = entry.find(':');
    if (colon == std::string::npos) fail("entry '" + entry + "' is not CLUSTERS:NAME (e.g. 0,3:skin)");
    const std::string name = trim(entry.substr(colon + 1));
    if (name.empty()) fail("entry '" + entry + "' has no class name");
    const int64_t cls = map.num_classes();
    for (const std::string& id_text : split(entry.substr(0, colon), ',')) {
      const std::string id = trim(id_text);
      size_t used = 0;
      int64_t cluster = -1;
      try {
        cluster = std::stoll(id, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (id.empty() || used != id.size()) fail("'" + id + "' is not a cluster number");
      if (cluster < 0 || cluster >= clusters)
        fail("cluster " + id + " does not exist (the clusters file has " + std::to_string(clusters) + ": 0 to " +
             std::to_string(clusters - 1) + ")");
      if (map.class_of_cluster_[static_cast<size_t>(cluster)] >= 0)
        fail("cluster " + id + " is in two classes");
      map.class_of_cluster_[static_cast<size_t>(cluster)] = cls;
    }
    map.names_.push_back(name);
  }
  if (map.names_.empty()) fail("names no class");
  for (auto& c : map.class_of_cluster_)
    if (c < 0) c = map.ignore_label();
  return map;
}

at::Tensor ClassMap::apply(const at::Tensor& cluster_labels) const {
  const at::Tensor table = at::tensor(class_of_cluster_, at::kLong).to(cluster_labels.device());
  return table.index_select(0, cluster_labels.reshape({-1}).to(at::kLong)).reshape(cluster_labels.sizes());
}

std::string ClassMap::to_string() const {
  std::string text;
  for (int64_t c = 0; c < num_classes(); ++c) {
    std::string ids;
    for (int64_t k = 0; k < num_clusters(); ++k)
      if (class_of_cluster_[static_cast<size_t>(k)] == c) ids += (ids.empty() ? "" : ",") + std::to_string(k);
    text += (text.empty() ? "" : ";") + ids + ":" + names_[static_cast<size_t>(c)];
  }
  return text;
}

std::string read_merge_file(const std::string& path) {
  std::ifstream in(path);
  STYLESEG_CHECK(in, InputError, path + ": cannot read the merge file");
  std::string line, text;
  while (std::getline(in, line)) {
    line = trim(line.substr(0, line.find('#')));
    if (!line.empty()) text += (text.empty() ? "" : ";") + line;
  }
  return text;
}

}  // namespace styleseg::dataset
