#include "stages/evaluate.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include "core/error.h"
#include "core/log.h"
#include "dataset/class_map.h"
#include "evaluate/metrics.h"
#include "io/output_policy.h"
#include "io/atomic_output.h"
#include "io/image.h"

namespace fs = std::filesystem;

namespace styleseg::stages {
namespace {

// stem -> path of the PNGs in a folder.
std::map<std::string, std::string> png_files(const std::string& folder, const char* option) {
  STYLESEG_CHECK(fs::is_directory(folder), InputError, option + std::string(" ") + folder + ": not a folder");
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::directory_iterator(folder)) {
    std::string ext = entry.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
    if (entry.is_regular_file() && ext == ".png") files[entry.path().stem().string()] = entry.path().string();
  }
  STYLESEG_CHECK(!files.empty(), InputError, option + std::string(" ") + folder + ": holds no PNG file");
  return files;
}

std::vector<int64_t> read_mapping_file(const std::string& path, int64_t labels, int64_t classes) {
  std::ifstream in(path);
  STYLESEG_CHECK(in, InputError, "--mapping " + path + ": cannot read it (expected hungarian, majority, identity or a file)");
  std::vector<int64_t> mapping(static_cast<size_t>(labels), -1);
  std::string line;
  int entries = 0;
  for (int number = 1; std::getline(in, line); ++number) {
    line = line.substr(0, line.find('#'));
    std::istringstream words(line);
    std::string extra;
    int64_t label = 0, cls = 0;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;  // blank or comment only
    STYLESEG_CHECK(words >> label >> cls && !(words >> extra) && label >= 0 && cls >= 0 && cls < classes, InputError,
                   "--mapping " + path + ":" + std::to_string(number) +
                       ": expected 'LABEL CLASS' with LABEL >= 0 and 0 <= CLASS < " + std::to_string(classes));
    ++entries;
    // A mapping fitted elsewhere may name labels these predictions never use.
    if (label < labels) mapping[static_cast<size_t>(label)] = cls;
  }
  STYLESEG_CHECK(entries > 0, InputError, "--mapping " + path + ": holds no 'LABEL CLASS' line");
  return mapping;
}

void write_mapping_file(const std::string& path, const std::vector<int64_t>& mapping, const std::string& fitted) {
  std::ostringstream text;
  text << "# LABEL CLASS (styleseg evaluate, mapping " << fitted << "); unlisted labels are unmatched\n";
  for (size_t label = 0; label < mapping.size(); ++label)
    if (mapping[label] >= 0) text << label << " " << mapping[label] << "\n";
  write_text_file(path, text.str());
}

// Row-normalised confusion as a heat map: white (0) to dark blue (1), 24 pixels a cell.
void write_confusion_png(const std::string& path, const at::Tensor& mapped) {
  const at::Tensor rows = mapped.to(at::kDouble);
  const at::Tensor share = rows / rows.sum(1, true).clamp_min(1);
  const at::Tensor cells = (1 - share).clamp(0, 1);
  at::Tensor rgb = at::stack({cells * 235 + 20, cells * 215 + 40, cells * 115 + 140}, 2).round().to(at::kByte);
  constexpr int64_t kCell = 24;
  rgb = rgb.repeat_interleave(kCell, 0).repeat_interleave(kCell, 1).contiguous();
  write_png(path, rgb);
}

// The class map for --merge: a preset, a file or the text itself.
std::optional<dataset::ClassMap> merge_map(const std::string& spec) {
  if (spec.empty()) return std::nullopt;
  std::string text;
  if (const char* preset = merge_preset(spec)) text = preset;
  else if (fs::is_regular_file(spec)) text = dataset::read_merge_file(spec);
  else text = spec;
  // Class indices below 256 are all a mask PNG can hold.
  return dataset::ClassMap::parse(text, 255, "--merge");
}

}  // namespace

const char* merge_preset(const std::string& name) {
  if (name == "celebamask-hq")
    return "0:background;1:skin;2:nose;3:eyeglasses;4,5:eyes;6,7:brows;8,9:ears;10:mouth;11:upper lip;"
           "12:lower lip;13:hair;14:hat;17:neck;18:cloth";
  if (name == "celeba-mask8")
    return "0,3,14,15,16,17,18:background;1:skin;4,5:eyes;6,7:brows;8,9:ears;2:nose;10,11,12:mouth;13:hair";
  if (name == "openeds") return "0:background;1:sclera;2:iris;3:pupil";
  return nullptr;
}

EvaluateSummary run_evaluate(const EvaluateOptions& o) {
  STYLESEG_CHECK(!o.pred.empty() && !o.gt.empty(), ConfigError, "evaluate: --pred and --gt are required");
  STYLESEG_CHECK(o.classes >= 0 && o.labels >= 0, ConfigError, "evaluate: --classes and --labels must be >= 0");
  const bool mapping_is_file = o.mapping != "hungarian" && o.mapping != "majority" && o.mapping != "identity";
  OutputPlan("evaluate")
      .input("--pred", o.pred)
      .input("--gt", o.gt)
      .input("--mapping", mapping_is_file ? o.mapping : "")
      .output("--out", o.out)
      .output("--confusion", o.confusion)
      .output("--save-mapping", o.save_mapping)
      .decide({false, o.force});
  const auto gt_files = png_files(o.gt, "--gt"), pred_files = png_files(o.pred, "--pred");
  std::vector<std::pair<std::string, std::string>> pairs;  // (pred, gt)
  std::vector<std::string> missing;
  for (const auto& [stem, path] : gt_files) {
    const auto it = pred_files.find(stem);
    if (it == pred_files.end()) missing.push_back(stem + ".png");
    else pairs.emplace_back(it->second, path);
  }
  if (!missing.empty())
    throw InputError("--pred " + o.pred + ": no prediction for " + std::to_string(missing.size()) + " ground-truth mask(s), e.g. " +
                     missing.front());

  const std::optional<dataset::ClassMap> merge = merge_map(o.merge);
  // Ground truth as scored: merged when asked (values past the map are ignored).
  auto read_gt = [&](const std::string& path) {
    at::Tensor g = read_label_image(path).to(at::kLong);
    if (!merge) return g;
    const at::Tensor known = g < merge->num_clusters();
    return at::where(known, merge->apply(g.clamp_max(merge->num_clusters() - 1)), at::full_like(g, o.ignore_label));
  };
  // Pass 1 (when not given): how many classes and labels there are.
  int64_t classes = merge ? merge->num_classes() : o.classes, labels = o.labels;
  if (classes == 0 || labels == 0) {
    int64_t max_gt = 0, max_pred = 0;
    for (const auto& [pred, gt] : pairs) {
      const at::Tensor g = read_gt(gt);
      const at::Tensor counted = g.masked_select(g != o.ignore_label);
      if (counted.numel() > 0) max_gt = std::max(max_gt, counted.max().item<int64_t>());
      max_pred = std::max(max_pred, read_label_image(pred).max().item<int64_t>());
    }
    if (classes == 0) classes = max_gt + 1;
    if (labels == 0) labels = max_pred + 1;
  }
  evaluate::Confusion confusion(classes, labels, o.ignore_label);
  for (const auto& [pred, gt] : pairs) {
    const at::Tensor p = read_label_image(pred), g = read_gt(gt);
    try {
      confusion.add(p, g);
    } catch (const InputError& e) {
      throw InputError(pred + " against " + gt + ": " + e.what() + " (" + std::to_string(p.size(0)) + "x" +
                       std::to_string(p.size(1)) + " against " + std::to_string(g.size(0)) + "x" + std::to_string(g.size(1)) + ")");
    }
  }
  std::vector<int64_t> mapping;
  std::string fitted;
  if (o.mapping == "hungarian") {
    mapping = evaluate::hungarian_mapping(confusion.counts());
    fitted = "hungarian, fitted on all " + std::to_string(confusion.counts().sum().item<int64_t>()) + " evaluated pixels";
  } else if (o.mapping == "majority") {
    mapping = evaluate::majority_mapping(confusion.counts());
    fitted = "majority, fitted on all " + std::to_string(confusion.counts().sum().item<int64_t>()) + " evaluated pixels";
  } else if (o.mapping == "identity") {
    mapping = evaluate::identity_mapping(labels, classes);
    fitted = "identity";
  } else {
    mapping = read_mapping_file(o.mapping, labels, classes);
    fitted = "file " + o.mapping;
  }
  const evaluate::Scores s = evaluate::score(confusion.counts(), mapping);

  std::printf("evaluated %zu image(s): %lld classes, %lld predicted labels, mapping %s\n", pairs.size(),
              static_cast<long long>(classes), static_cast<long long>(labels), fitted.c_str());
  for (int64_t k = 0; k < classes; ++k)
    std::printf("  class %3lld %-14s IoU %6.2f%%\n", static_cast<long long>(k),
                merge ? merge->names()[static_cast<size_t>(k)].c_str() : "", 100 * s.iou[static_cast<size_t>(k)]);
  std::printf("mIoU %.2f%%, pixel accuracy %.2f%%\n", 100 * s.mean_iou, 100 * s.pixel_accuracy);

  if (!o.out.empty()) {
    nlohmann::json report = {{"images", pairs.size()}, {"classes", classes}, {"labels", labels},
                             {"mapping", mapping}, {"mapping_method", fitted}, {"mean_iou", s.mean_iou},
                             {"pixel_accuracy", s.pixel_accuracy}, {"ignore_label", o.ignore_label}};
    nlohmann::json iou = nlohmann::json::array(), matrix = nlohmann::json::array();
    for (double v : s.iou) iou.push_back(std::isnan(v) ? nlohmann::json() : nlohmann::json(v));
    for (int64_t k = 0; k < classes; ++k) {
      nlohmann::json row = nlohmann::json::array();
      for (int64_t j = 0; j < classes; ++j) row.push_back(s.mapped[k][j].item<int64_t>());
      matrix.push_back(row);
    }
    report["iou"] = iou;
    if (merge) report["class_names"] = merge->names(), report["merge"] = merge->to_string();
    report["confusion"] = matrix;  // rows: ground truth, columns: mapped prediction
    write_text_file(o.out, report.dump(2) + "\n");
    log::info("report: {}", o.out);
  }
  if (!o.confusion.empty()) write_confusion_png(o.confusion, s.mapped);
  if (!o.save_mapping.empty()) write_mapping_file(o.save_mapping, mapping, fitted);
  EvaluateSummary summary;
  summary.mean_iou = s.mean_iou;
  summary.pixel_accuracy = s.pixel_accuracy;
  summary.images = static_cast<int64_t>(pairs.size());
  return summary;
}

}  // namespace styleseg::stages
