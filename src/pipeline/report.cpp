#include "pipeline/report.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "cluster/clusters_file.h"
#include "dataset/class_map.h"
#include "core/error.h"
#include "core/log.h"
#include "io/atomic_output.h"
#include "io/image.h"
#include "io/visualize.h"
#include "pipeline/stage_record.h"
#include "stages/train.h"
#include "stages/train_gan.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace styleseg::pipeline {

std::string base64(const std::string& bytes) {
  static const char* digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += digits[(v >> shift) & 63];
  }
  if (i < bytes.size()) {
    const bool two = i + 1 < bytes.size();
    const uint32_t v = (uint8_t(bytes[i]) << 16) | (two ? uint8_t(bytes[i + 1]) << 8 : 0);
    out += digits[(v >> 18) & 63];
    out += digits[(v >> 12) & 63];
    out += two ? digits[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

namespace {

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

std::optional<json> read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  try {
    return json::parse(in);
  } catch (const std::exception& e) {
    log::warn("report: {} is not JSON ({}); its section is left out", path, e.what());
    return std::nullopt;
  }
}

std::string fixed(double v, int digits = 3) {
  if (!std::isfinite(v)) return "&ndash;";
  char text[32];
  std::snprintf(text, sizeof text, "%.*f", digits, v);
  return text;
}

std::string missing(const std::string& what) { return "<p class=\"missing\">Not in this job: " + escape(what) + ".</p>\n"; }

// A picture embedded as a data URI, or a line saying it is missing.
std::string figure(const std::string& path, const std::string& caption) {
  if (!fs::is_regular_file(path)) return missing(caption + " (" + path + ")");
  return "<figure><img alt=\"" + escape(caption) + "\" src=\"data:image/png;base64," + base64(read_bytes(path)) +
         "\"><figcaption>" + escape(caption) + "</figcaption></figure>\n";
}

std::string swatch(const at::Tensor& colours, int64_t k) {
  char text[64];
  std::snprintf(text, sizeof text, "<span class=\"swatch\" style=\"background:#%02x%02x%02x\"></span>", colours[k][0].item<int>(),
                colours[k][1].item<int>(), colours[k][2].item<int>());
  return text;
}

// Class names of an evaluation report ("class k" when the job gave none).
std::vector<std::string> class_names(const json& evaluation) {
  std::vector<std::string> names;
  const int64_t classes = evaluation.value("classes", 0);
  for (int64_t k = 0; k < classes; ++k)
    names.push_back(evaluation.contains("class_names") ? evaluation["class_names"][k].get<std::string>() : "class " + std::to_string(k));
  return names;
}

double iou_at(const json& evaluation, size_t k) {
  const json& v = evaluation["iou"][k];
  return v.is_number() ? v.get<double>() : NAN;
}

at::Tensor enlarge(const at::Tensor& image, int64_t factor) {
  return factor == 1 ? image : image.repeat_interleave(factor, 0).repeat_interleave(factor, 1);
}

// Rows of: real test image | ground truth | unsupervised prediction (clusters mapped to
// classes) | supervised prediction, in the class palette, with a legend under them.
at::Tensor predictions_picture(const std::string& test_dir, const std::string& unsupervised, const std::vector<int64_t>& mapping,
                               const std::string& supervised, const std::vector<std::string>& names, int64_t count) {
  const at::Tensor colours = palette(static_cast<int64_t>(names.size()));
  const at::Tensor lookup = at::full({256}, 255, at::kLong);
  for (size_t label = 0; label < mapping.size() && label < 256; ++label)
    if (mapping[label] >= 0) lookup[static_cast<int64_t>(label)] = mapping[label];
  std::vector<at::Tensor> rows;
  const auto files = image_files_in(test_dir + "/images");
  for (size_t i = 0; i < files.size() && static_cast<int64_t>(i) < count; ++i) {
    const std::string name = fs::path(files[i]).filename().string();
    const std::string stem = fs::path(files[i]).stem().string() + ".png";
    // Tiles about 128 pixels high: small images enlarged, large ones subsampled (nearest).
    const at::Tensor full = read_image(files[i]);
    const int64_t step = std::max<int64_t>(1, full.size(0) / 128);
    const at::Tensor image = full.slice(0, 0, c10::nullopt, step).slice(1, 0, c10::nullopt, step).contiguous();
    const int64_t factor = std::max<int64_t>(1, 128 / image.size(0));
    auto labels = [&](const std::string& path, bool mapped) {
      if (!fs::is_regular_file(path)) return at::full_like(image, 255);
      at::Tensor l = read_label_image(path).to(at::kLong).slice(0, 0, c10::nullopt, step).slice(1, 0, c10::nullopt, step);
      if (l.sizes() != image.sizes().slice(0, 2)) return at::full_like(image, 255);  // not the image's size
      if (mapped) l = lookup.index({l});
      return colorize_labels(l.unsqueeze(0), colours)[0];
    };
    std::vector<at::Tensor> tiles{image, labels(test_dir + "/masks/" + stem, false), labels(unsupervised + "/" + stem, true),
                                  labels(supervised + "/" + stem, false)};
    std::vector<at::Tensor> row;
    for (auto& t : tiles) {
      row.push_back(enlarge(t, factor));
      row.push_back(at::full({image.size(0) * factor, 4, 3}, 255, at::kByte));
    }
    rows.push_back(at::cat(row, 1));
    rows.push_back(at::full({4, rows.back().size(1), 3}, 255, at::kByte));
  }
  if (rows.empty()) return {};
  at::Tensor header = at::full({20, rows.front().size(1), 3}, 255, at::kByte);
  const int64_t tile = (rows.front().size(1)) / 4;
  const char* titles[] = {"image", "ground truth", "unsupervised", "supervised"};
  for (int c = 0; c < 4; ++c) draw_text(header, titles[c], static_cast<int>(c * tile + 2), 4, 1, {0, 0, 0});
  rows.insert(rows.begin(), header);
  rows.push_back(make_legend(names, colours, rows.front().size(1)));
  return stack_vertically(rows);
}

class Page {
 public:
  void heading(const std::string& text) { html_ << "<h2>" << escape(text) << "</h2>\n"; }
  void paragraph(const std::string& raw_html) { html_ << "<p>" << raw_html << "</p>\n"; }
  void raw(const std::string& raw_html) { html_ << raw_html; }
  std::string str() const { return html_.str(); }

 private:
  std::ostringstream html_;
};

// The paper's result, which the report holds a job to: unsupervised mIoU at this share of the
// supervised one overall, and per class.
constexpr double kGoalRatio = 0.98;
constexpr double kGoalClassRatio = 0.95;

// What the report reads from the workdir; a missing or unreadable file leaves its part out.
struct ReportData {
  explicit ReportData(const ReportInputs& in) : in(in), w(in.options.workdir) {
    evaluation = read_json(w.evaluation());
    supervised = read_json(w.evaluation_supervised());
    map = read_json(w.map_scores());
    if (fs::is_regular_file(w.clusters())) {
      try {
        clusters = cluster::read_clusters(w.clusters());
      } catch (const std::exception& e) {
        log::warn("report: {}; the inertia curve and pixel shares are left out", e.what());
      }
    }
  }
  bool has_stage(const std::string& name) const {
    return std::any_of(in.stages.begin(), in.stages.end(), [&](const StageSpec& s) { return s.name == name; });
  }

  const ReportInputs& in;
  const WorkdirLayout w;
  std::optional<json> evaluation, supervised, map;
  std::optional<cluster::Clusters> clusters;
  std::vector<std::string> named_classes;  // with stage name: the segmenter's classes (clusters of one name merged)
};

void headline_section(Page& page, const ReportData& d) {
  page.heading("Result");
  if (d.evaluation && d.supervised) {
    const double u = d.evaluation->value("mean_iou", NAN), s = d.supervised->value("mean_iou", NAN);
    page.paragraph("On " + std::to_string(d.evaluation->value("images", 0)) + " real test images: unsupervised mIoU <b>" +
                   fixed(u) + "</b>, supervised (same segmenter and budget, trained on the real training split with its true masks) <b>" +
                   fixed(s) + "</b>: ratio <b>" + fixed(u / s) + "</b> (goal: " + fixed(kGoalRatio, 2) + " overall, " +
                   fixed(kGoalClassRatio, 2) + " per class; " + (u / s >= kGoalRatio ? "met" : "missed") + ").");
  } else if (d.evaluation) {
    page.paragraph("Unsupervised mIoU on the real test images: <b>" + fixed(d.evaluation->value("mean_iou", NAN)) + "</b>.");
  } else {
    page.raw(missing("an evaluation on real test images with ground truth"));
  }
}

void generator_section(Page& page, const ReportData& d) {
  page.heading("Real images and the generator");
  if (d.has_stage("train-gan")) {
    page.paragraph("Trained by this job (stage train-gan) on the real training split.");
    page.raw(figure(stages::train_gan_files(d.w.gan()).curves, "GAN losses and quality figures over training"));
  } else {
    page.paragraph("Given: <code>" + escape(d.in.options.generator) + "</code>.");
  }
  page.raw(figure(d.w.real_train_picture(), "real training images with their true masks"));
}

// CLIP's names of the clusters as a table; returns the segmenter's classes.
std::vector<std::string> naming_table(Page& page, const cluster::Clusters& named) {
  const nlohmann::json& naming = named.naming;
  page.paragraph("Named by CLIP (<code>" + escape(naming.value("clip", "")) + "</code>, " +
                 escape(naming.value("clip_architecture", "")) + ") from " + std::to_string(naming.value("samples", 0)) +
                 " samples: each cluster's dense embeddings averaged, compared with the prompts in &ldquo;" +
                 escape(naming.value("template", "")) + "&rdquo;.");
  const at::Tensor colours = palette(named.num_clusters());
  std::ostringstream table;
  table << "<table><tr><th>cluster</th><th>name</th><th>CLIP's choice (cosine)</th><th>runner-ups (margin)</th></tr>\n";
  for (const auto& c : naming.value("clusters", nlohmann::json::array())) {
    table << "<tr><td>" << swatch(colours, c.value("cluster", 0)) << c.value("cluster", 0) << "</td><td>"
          << escape(c.value("name", "")) << (c.value("by_hand", false) ? " (by hand)" : "") << "</td><td>"
          << escape(c.value("clip_name", "")) << " (" << fixed(c.value("score", 0.0)) << ")</td><td>";
    const auto runners = c.value("runner_ups", std::vector<std::string>{});
    const auto margins = c.value("margins", std::vector<double>{});
    for (size_t r = 0; r < runners.size() && r < margins.size(); ++r)
      table << (r ? ", " : "") << escape(runners[r]) << " (" << fixed(margins[r]) << ")";
    table << "</td></tr>\n";
  }
  table << "</table>\n";
  page.raw(table.str());
  return dataset::ClassMap::parse(naming.value("class_map", ""), named.num_clusters()).names();
}

// The clusters, their inertia curve, CLIP's names (stage name) and the synthetic dataset.
// Sets d.named_classes.
void clusters_section(Page& page, ReportData& d) {
  page.heading("Clusters of the generator's features");
  page.raw(figure(d.w.clusters_picture(), "generated samples beside their cluster maps (legend: each cluster's pixel share)"));
  if (d.clusters && !d.clusters->inertia_history.empty()) {
    Curve inertia{"k-means inertia per iteration (" + d.clusters->algorithm + ", winning restart)", {}, d.clusters->inertia_history};
    for (size_t i = 0; i < inertia.y.size(); ++i) inertia.x.push_back(static_cast<double>(i + 1));
    write_png(d.w.report_picture("inertia"), plot_curves({inertia}));
    page.raw(figure(d.w.report_picture("inertia"), "k-means inertia over iterations"));
  }
  if (d.has_stage("name") && fs::is_regular_file(d.w.named_clusters())) {
    try {
      d.named_classes = naming_table(page, cluster::read_clusters(d.w.named_clusters()));
    } catch (const std::exception& e) {
      log::warn("report: {}; the cluster names are left out", e.what());
    }
    page.raw(figure(d.w.named_picture(), "generated samples beside their clusters, named by CLIP"));
  }
  page.raw(figure(d.w.synthetic_picture(), d.named_classes.empty()
                                               ? "the synthetic dataset: samples beside their masks (each pixel: its nearest centroid)"
                                               : "the synthetic dataset: samples beside their masks (clusters of one name merged)"));
}

void mapping_section(Page& page, const ReportData& d) {
  page.heading("Cluster to class");
  if (!d.map || !d.evaluation) {
    page.raw(missing("a labelled subset to map clusters to classes"));
    return;
  }
  const auto names = class_names(*d.evaluation);
  const auto mapping = (*d.map)["mapping"].get<std::vector<int64_t>>();
  const at::Tensor cluster_colours = palette(static_cast<int64_t>(mapping.size()));
  const at::Tensor class_colours = palette(static_cast<int64_t>(names.size()));
  page.paragraph("Fitted on " + std::to_string(d.map->value("images", 0)) +
                 " labelled real images of the training split (never the test split): " +
                 escape(d.map->value("mapping_method", "")) + ". mIoU there: " + fixed(d.map->value("mean_iou", NAN)) + ".");
  std::ostringstream table;
  // Named: the segmenter's classes are the names (their k-means shares are the clusters' above).
  table << "<table><tr><th>" << (d.named_classes.empty() ? "cluster" : "named class")
        << "</th><th>share of pixels (k-means set)</th><th>class</th></tr>\n";
  const double total = d.clusters ? d.clusters->counts.sum().item<double>() : 0;
  for (size_t k = 0; k < mapping.size(); ++k) {
    table << "<tr><td>" << swatch(cluster_colours, static_cast<int64_t>(k))
          << (k < d.named_classes.size() ? escape(d.named_classes[k]) : std::to_string(k)) << "</td><td>"
          << (d.named_classes.empty() && d.clusters && static_cast<int64_t>(k) < d.clusters->num_clusters()
                  ? fixed(100 * d.clusters->counts[static_cast<int64_t>(k)].item<double>() / total, 1) + " %"
                  : "&ndash;")
          << "</td><td>";
    if (mapping[k] >= 0) table << swatch(class_colours, mapping[k]) << escape(names[static_cast<size_t>(mapping[k])]);
    else table << "unmatched";
    table << "</td></tr>\n";
  }
  table << "</table>\n";
  page.raw(table.str());
}

void training_section(Page& page, const ReportData& d) {
  page.heading("Segmenter training");
  page.raw(figure(stages::train_files(d.w.segmenter()).curves, "unsupervised: loss and validation mIoU on held-out synthetic samples (cluster masks)"));
  if (d.has_stage("supervised"))
    page.raw(figure(stages::train_files(d.w.supervised()).curves, "supervised reference: loss and validation mIoU on held-out real images"));
}

// Per-class IoU of both models and their ratio (marked against the per-class goal).
std::string iou_table(const json& evaluation, const std::optional<json>& supervised) {
  const auto names = class_names(evaluation);
  std::ostringstream table;
  table << "<table><tr><th>class</th><th>unsupervised</th>" << (supervised ? "<th>supervised</th><th>ratio</th>" : "") << "</tr>\n";
  for (size_t k = 0; k < names.size(); ++k) {
    const double u = iou_at(evaluation, k);
    table << "<tr><td>" << escape(names[k]) << "</td><td>" << fixed(u) << "</td>";
    if (supervised) {
      const double s = iou_at(*supervised, k);
      table << "<td>" << fixed(s) << "</td><td class=\"" << (u / s >= kGoalClassRatio ? "ok" : "short") << "\">" << fixed(u / s) << "</td>";
    }
    table << "</tr>\n";
  }
  table << "<tr><th>mIoU</th><th>" << fixed(evaluation.value("mean_iou", NAN)) << "</th>";
  if (supervised)
    table << "<th>" << fixed(supervised->value("mean_iou", NAN)) << "</th><th>"
          << fixed(evaluation.value("mean_iou", NAN) / supervised->value("mean_iou", NAN)) << "</th>";
  table << "</tr></table>\n";
  return table.str();
}

void scores_section(Page& page, const ReportData& d) {
  page.heading("Per-class IoU on the real test split");
  if (!d.evaluation) {
    page.raw(missing("scores on real test images"));
    return;
  }
  page.raw(iou_table(*d.evaluation, d.supervised));
  page.heading("Confusion matrices (rows: true class, normalised; columns: predicted class)");
  page.raw("<div class=\"row\">" + figure(d.w.confusion(), "unsupervised") + figure(d.w.confusion_supervised(), "supervised") +
           "</div>");
  page.heading("Predictions on real test images");
  const std::string test_dir = d.in.options.real == "make-eyes" ? d.w.real_test() : d.in.options.real_test;
  const at::Tensor picture =
      predictions_picture(test_dir, d.w.predictions("test"), d.map ? (*d.map)["mapping"].get<std::vector<int64_t>>() : std::vector<int64_t>{},
                          d.w.predictions("supervised"), class_names(*d.evaluation), 8);
  if (picture.defined()) {
    write_png(d.w.report_picture("predictions"), picture);
    page.raw(figure(d.w.report_picture("predictions"), "image, ground truth, unsupervised (clusters mapped to classes), supervised"));
  }
}

// Each recorded stage: its time, when it finished and its exact command.
void stages_section(Page& page, const ReportData& d) {
  page.heading("Stages");
  std::ostringstream table;
  table << "<table><tr><th>stage</th><th>seconds</th><th>finished (UTC)</th><th>command</th></tr>\n";
  double total = 0;
  for (const auto& stage : d.in.stages) {
    const auto record = read_stage_record(d.w.record(stage.name));
    if (!record) continue;
    total += record->seconds;
    const std::string command = command_line(record->command, record->args);
    table << "<tr><td>" << escape(stage.name) << "</td><td>" << fixed(record->seconds, 1) << "</td><td>" << escape(record->finished)
          << "</td><td><code>" << escape(command) << "</code></td></tr>\n";
  }
  table << "<tr><th>total</th><th>" << fixed(total, 1) << "</th><th></th><th></th></tr></table>\n";
  page.raw(table.str());
}

// The self-contained page around the sections (styles inline, no scripts).
std::string html_document(const ReportData& d, const Page& page) {
  std::ostringstream html;
  const std::time_t now = std::time(nullptr);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
  html << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>styleseg report</title>\n<style>\n"
          "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}\n"
          "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}\n"
          "code{font-size:85%;word-break:break-all}img{max-width:100%;image-rendering:pixelated}figure{margin:1em 0}\n"
          "figcaption{color:#555;font-size:90%}.missing{color:#888}.row{display:flex;gap:2em}\n"
          ".swatch{display:inline-block;width:12px;height:12px;margin-right:6px;border:1px solid #444}\n"
          ".ok{background:#dfd}.short{background:#fdd}\n</style></head><body>\n"
       << "<h1>styleseg report</h1>\n<p>Job <code>" << escape(d.in.job_file) << "</code>, workdir <code>" << escape(d.w.workdir)
       << "</code>, written " << date << " by styleseg " << STYLESEG_VERSION << ".</p>\n"
       << page.str() << "</body></html>\n";
  return html.str();
}

}  // namespace

void write_report(const ReportInputs& in, const std::string& path) {
  ReportData data(in);
  Page page;
  headline_section(page, data);
  generator_section(page, data);
  clusters_section(page, data);
  mapping_section(page, data);
  training_section(page, data);
  scores_section(page, data);
  stages_section(page, data);
  write_text_file(path, html_document(data, page));
}

}  // namespace styleseg::pipeline
