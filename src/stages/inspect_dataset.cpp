#include "stages/inspect_dataset.h"

#include <ATen/ATen.h>

#include <cstdio>
#include <sstream>

#include "core/error.h"
#include "dataset/reader.h"
#include "io/image.h"
#include "io/visualize.h"

namespace styleseg::stages {

std::string inspect_dataset(const InspectDatasetOptions& o) {
  const dataset::DatasetReader reader(o.path, /*allow_incomplete=*/true);
  const dataset::DatasetHeader& h = reader.header();
  const std::vector<int64_t>& done = reader.available();
  std::ostringstream out;
  out << "dataset:     " << o.path << "\n"
      << "samples:     " << h.count << " of " << h.width << "x" << h.height << " pixels, " << done.size() << " done"
      << (h.complete ? " (complete)" : " (INCOMPLETE: synthesize --resume continues it)") << "\n"
      << "masks:       " << (h.mask_uint16 ? "uint16" : "uint8") << ", ignore label " << h.ignore_label << "\n";

  // Class pixel shares over (up to) share_samples done samples, evenly spread.
  const int64_t n = static_cast<int64_t>(done.size());
  const int64_t taken = o.share_samples > 0 ? std::min(n, o.share_samples) : n;
  at::Tensor counts = at::zeros({static_cast<int64_t>(h.classes.size()) + 1}, at::kLong);
  for (int64_t k = 0; k < taken; k += 64) {
    std::vector<int64_t> indices;
    for (int64_t j = k; j < std::min(taken, k + 64); ++j) indices.push_back(done[static_cast<size_t>(j * n / taken)]);
    const at::Tensor masks = reader.read(indices).masks.reshape({-1});
    const at::Tensor known = masks.clamp_max(static_cast<int64_t>(h.classes.size()));  // ignore -> last bin
    counts += at::bincount(known, {}, counts.size(0));
  }
  const double total = std::max<double>(1.0, counts.sum().item<double>());
  out << "classes:     " << h.classes.size() << " (pixel shares over " << taken << " samples)\n";
  std::vector<std::string> entries;
  for (size_t c = 0; c < h.classes.size(); ++c) {
    char line[256];
    std::snprintf(line, sizeof line, "  %3zu  %-24s %6.2f%%", c, h.classes[c].c_str(),
                  100.0 * counts[static_cast<int64_t>(c)].item<double>() / total);
    out << line << "\n";
    char entry[128];
    std::snprintf(entry, sizeof entry, "%s %.1f%%", h.classes[c].c_str(), 100.0 * counts[static_cast<int64_t>(c)].item<double>() / total);
    entries.push_back(entry);
  }
  char ignored[128];
  std::snprintf(ignored, sizeof ignored, "  ---  %-24s %6.2f%%", "(ignored)", 100.0 * counts[-1].item<double>() / total);
  out << ignored << "\n";
  out << "provenance:\n";
  for (const char* key : {"checkpoint", "checkpoint_sha256", "clusters", "clusters_sha256", "feature_layer", "class_map",
                          "seed", "truncation", "noise", "styleseg_version"})
    if (h.attributes.contains(key)) out << "  " << key << ": " << h.attributes.at(key).dump() << "\n";

  if (!o.grid.empty()) {
    std::vector<int64_t> first(done.begin(), done.begin() + std::min<int64_t>(n, o.grid_count));
    const dataset::Batch batch = reader.read(first);
    write_png(o.grid, make_segmentation_preview(batch.images, batch.masks, colour_table(h.palette), entries));
    out << "grid:        " << o.grid << " (" << first.size() << " samples beside their masks)\n";
  }
  return out.str();
}

}  // namespace styleseg::stages
