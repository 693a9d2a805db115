#include "pipeline/sweep.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "cluster/clusters_file.h"
#include "core/error.h"
#include "core/log.h"
#include "core/text.h"
#include "io/atomic_output.h"
#include "io/image.h"
#include "io/visualize.h"
#include "mpi/communicator.h"

namespace fs = std::filesystem;

namespace styleseg::pipeline {
namespace {

// What one value's job made, for the table.
struct PointResult {
  std::string value;
  bool has_clusters = false;
  int64_t clusters = 0;
  double inertia = 0, inertia_per_vector = 0;
  int iterations = 0;
  bool converged = false;
  std::vector<double> shares;  // largest first
  std::vector<int64_t> order;  // cluster index of each share
  double miou = -1;            // < 0: not evaluated
};

PointResult read_point(const RunOptions& job, const Sweep& sweep, size_t i) {
  PointResult r;
  r.value = sweep.values[i];
  const WorkdirLayout w(sweep.point_workdir(job.workdir, i));
  if (fs::exists(w.clusters())) {
    const cluster::Clusters c = cluster::read_clusters(w.clusters());
    r.has_clusters = true;
    r.clusters = c.num_clusters();
    r.inertia = c.inertia;
    r.inertia_per_vector = c.inertia / static_cast<double>(std::max<int64_t>(1, c.fixed_vectors));
    r.iterations = c.iterations;
    r.converged = c.converged;
    const at::Tensor counts = c.counts.to(at::kDouble);
    const double total = std::max(1.0, counts.sum().item<double>());
    const at::Tensor order = at::argsort(counts, /*dim=*/0, /*descending=*/true);
    for (int64_t k = 0; k < order.size(0); ++k) {
      r.order.push_back(order[k].item<int64_t>());
      r.shares.push_back(counts[r.order.back()].item<double>() / total);
    }
  }
  if (fs::exists(w.evaluation())) {
    std::ifstream in(w.evaluation());
    const nlohmann::json e = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (e.is_object() && e.contains("mean_iou") && e["mean_iou"].is_number()) r.miou = e["mean_iou"].get<double>();
  }
  return r;
}

std::string format(const char* pattern, double value) {
  char text[64];
  std::snprintf(text, sizeof text, pattern, value);
  return text;
}

std::string shares_text(const PointResult& r, const std::string& separator) {
  std::string text;
  for (size_t k = 0; k < r.shares.size(); ++k)
    text += (k ? separator : "") + std::to_string(r.order[k]) + ":" + format("%.1f%%", 100.0 * r.shares[k]);
  return text;
}

// One bar per value: its clusters' pixel shares, largest first, in the cluster palette,
// labelled with the value.
at::Tensor share_bars(const std::vector<PointResult>& points, const std::string& option) {
  const int64_t width = 720, label_width = 160, bar_height = 22, gap = 6;
  int64_t max_k = 1;
  for (const auto& p : points) max_k = std::max(max_k, p.clusters);
  const at::Tensor colours = palette(max_k);
  at::Tensor image = at::full({gap + static_cast<int64_t>(points.size()) * (bar_height + gap) + 20, width, 3}, 255, at::kByte);
  draw_text(image, "pixel shares per cluster, largest first (" + option + ")", 4, 2, 1, {0, 0, 0});
  int64_t y = 20;
  for (const auto& p : points) {
    draw_text(image, p.value, 4, static_cast<int>(y + 5), 1, {0, 0, 0});
    int64_t x = label_width;
    for (size_t k = 0; k < p.shares.size(); ++k) {
      const int64_t end = k + 1 == p.shares.size() ? width - 4
                                                   : std::min<int64_t>(width - 4, x + static_cast<int64_t>(p.shares[k] * (width - 4 - label_width) + 0.5));
      if (end > x) image.slice(0, y, y + bar_height).slice(1, x, end).copy_(colours[p.order[k]].expand({bar_height, end - x, 3}));
      x = end;
    }
    if (!p.has_clusters) draw_text(image, "(no clusters.h5)", static_cast<int>(label_width), static_cast<int>(y + 5), 1, {160, 0, 0});
    y += bar_height + gap;
  }
  return image;
}

}  // namespace

std::string Sweep::override_of(size_t i) const { return option() + "=" + values.at(i); }

std::string Sweep::point_workdir(const std::string& workdir, size_t i) const {
  return WorkdirLayout(workdir).path(override_of(i));
}

Sweep parse_sweep(const std::string& spec, const std::string& option) {
  const auto dot = spec.find('.'), eq = spec.find('=');
  STYLESEG_CHECK(dot != std::string::npos && eq != std::string::npos && dot > 0 && dot + 1 < eq, ConfigError,
                 option + " '" + spec + "': expected SECTION.KEY=V1,V2,..., e.g. cluster.clusters=8,12,16");
  Sweep sweep{spec.substr(0, dot), spec.substr(dot + 1, eq - dot - 1), {}};
  std::set<std::string> seen;
  for (const std::string& part : split(spec.substr(eq + 1), ',')) {
    const std::string value = trim(part);
    STYLESEG_CHECK(!value.empty() && value.find('/') == std::string::npos, ConfigError,
                   option + " '" + spec + "': values must be non-empty and free of '/' (each names a folder)");
    STYLESEG_CHECK(seen.insert(value).second, ConfigError, option + " '" + spec + "': value '" + value + "' is given twice");
    sweep.values.push_back(value);
  }
  STYLESEG_CHECK(!sweep.values.empty(), ConfigError, option + " '" + spec + "': no values");
  return sweep;
}

RunOptions sweep_point(const RunOptions& job, const Sweep& sweep, size_t i) {
  RunOptions point = job;
  point.workdir = sweep.point_workdir(job.workdir, i);
  point.set.push_back(sweep.override_of(i));  // after the job's own --set: it wins
  return point;
}

bool sweep_point_complete(const RunOptions& job, const Sweep& sweep, size_t i) {
  const RunOptions point = sweep_point(job, sweep, i);
  const WorkdirLayout w(point.workdir);
  const auto stages = plan_stages(point);
  return std::all_of(stages.begin(), stages.end(), [&](const StageSpec& s) { return fs::exists(w.record(s.name)); });
}

int run_sweep(const RunSettings& settings, const Sweep& sweep, int index, comm::Communicator& comm,
              const CommandRunner& run_command) {
  STYLESEG_CHECK(index < static_cast<int>(sweep.values.size()), ConfigError,
                 "run: --sweep-index " + std::to_string(index) + ": the sweep has " + std::to_string(sweep.values.size()) +
                     " values (0 to " + std::to_string(sweep.values.size() - 1) + ")");
  for (size_t i = 0; i < sweep.values.size(); ++i) {
    if (index >= 0 && static_cast<size_t>(index) != i) continue;
    RunSettings point = settings;
    point.options = sweep_point(settings.options, sweep, i);
    log::info("sweep {} of {}: {} in {}", i + 1, sweep.values.size(), sweep.override_of(i), point.options.workdir);
    const int code = run_job(point, comm, run_command);
    if (code != 0) return code;
  }
  if (comm.rank() == 0) {
    std::vector<std::string> missing;
    for (size_t i = 0; i < sweep.values.size(); ++i)
      if (!sweep_point_complete(settings.options, sweep, i)) missing.push_back(sweep.values[i]);
    if (missing.empty()) {
      const std::string table = write_sweep_table(settings.options, sweep);
      log::info("sweep complete: {}/sweep.md, sweep.csv, sweep.png\n{}", settings.options.workdir, table);
    } else {
      log::info("sweep: {} of {} values still running or to run (the last to finish writes the table)", missing.size(),
                sweep.values.size());
    }
  }
  comm.barrier();
  return 0;
}

std::string write_sweep_table(const RunOptions& job, const Sweep& sweep) {
  std::vector<PointResult> points;
  for (size_t i = 0; i < sweep.values.size(); ++i) points.push_back(read_point(job, sweep, i));
  const bool any_miou = std::any_of(points.begin(), points.end(), [](const PointResult& p) { return p.miou >= 0; });

  std::string csv = sweep.option() + ",clusters,inertia,inertia_per_vector,iterations,converged,pixel_shares" +
                    (any_miou ? ",test_miou" : "") + "\n";
  std::string md = "| " + sweep.option() + " | clusters | inertia | per vector | iterations | pixel shares (cluster:share, largest first) |" +
                   (any_miou ? " test mIoU |" : "") + "\n|---|---|---|---|---|---|" + (any_miou ? "---|" : "") + "\n";
  for (const auto& p : points) {
    const std::string miou = p.miou >= 0 ? format("%.4f", p.miou) : "";
    if (!p.has_clusters) {
      csv += p.value + ",,,,,," + (any_miou ? "," + miou : "") + "\n";
      md += "| " + p.value + " | (no clusters.h5) | | | | |" + (any_miou ? " " + miou + " |" : "") + "\n";
      continue;
    }
    const std::string inertia = format("%.6g", p.inertia), per_vector = format("%.6g", p.inertia_per_vector);
    csv += p.value + "," + std::to_string(p.clusters) + "," + inertia + "," + per_vector + "," + std::to_string(p.iterations) + "," +
           (p.converged ? "true" : "false") + "," + shares_text(p, " ") + (any_miou ? "," + miou : "") + "\n";
    md += "| " + p.value + " | " + std::to_string(p.clusters) + " | " + inertia + " | " + per_vector + " | " +
          std::to_string(p.iterations) + (p.converged ? " (converged)" : "") + " | " + shares_text(p, ", ") + " |" +
          (any_miou ? " " + miou + " |" : "") + "\n";
  }
  const WorkdirLayout w(job.workdir);
  write_text_file(w.sweep_file("csv"), csv);
  write_text_file(w.sweep_file("md"), md);

  // The picture: inertia per vector against the value (its index when not numeric), then the bars.
  Curve curve{"k-means inertia per vector against " + sweep.option(), {}, {}};
  std::vector<double> x;
  for (const auto& p : points) {
    char* end = nullptr;
    const double value = std::strtod(p.value.c_str(), &end);
    if (!end || *end != '\0') break;
    x.push_back(value);
  }
  const bool numeric = x.size() == points.size();
  for (size_t i = 0; i < points.size(); ++i) {
    if (!points[i].has_clusters) continue;
    curve.x.push_back(numeric ? x[i] : static_cast<double>(i));
    curve.y.push_back(points[i].inertia_per_vector);
  }
  std::vector<at::Tensor> panels;
  if (curve.x.size() >= 2) panels.push_back(plot_curves({curve}));
  panels.push_back(share_bars(points, sweep.option()));
  write_png(w.sweep_file("png"), stack_vertically(panels));
  return md;
}

}  // namespace styleseg::pipeline
