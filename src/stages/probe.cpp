#include "stages/probe.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <numeric>
#include <sstream>

#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/seeding.h"
#include "io/output_policy.h"
#include "io/atomic_output.h"
#include "io/image.h"
#include "io/visualize.h"
#include "models/segmenter/model_file.h"
#include "models/segmenter/predict.h"
#include "mpi/communicator.h"

namespace styleseg::stages {
namespace {

// Samples labelled by the reference, with their features on the CPU.
struct LabelledBatch {
  at::Tensor images;        // uint8 [n, H, W, 3]
  at::Tensor features;      // float32 [n, D, h, w]
  at::Tensor grid_labels;   // int64 [n, h, w]: the reference's class at each feature pixel
  at::Tensor image_labels;  // int64 [n, H, W]
};

// Label maps [n, H, W] sampled at the centres of an h x w grid (nearest, either way).
at::Tensor labels_at(const at::Tensor& labels, int64_t h, int64_t w) {
  auto centres = [](int64_t out, int64_t in) {
    return ((at::arange(out, at::kDouble) + 0.5) * (static_cast<double>(in) / out)).floor().to(at::kLong).clamp_max(in - 1);
  };
  return labels.index_select(1, centres(h, labels.size(1))).index_select(2, centres(w, labels.size(2)));
}

LabelledBatch label_batch(const sampling::Sampler& sampler, segmenter::LoadedModel& reference, int64_t start, int64_t n) {
  const sampling::SampleBatch b = sampler.make(start, n);
  const std::vector<at::Tensor> labels =
      segmenter::predict_labels(reference.net, reference.info, b.images.unbind(0), sampler.device());
  LabelledBatch out;
  out.images = b.images;
  out.features = b.features.to(at::kFloat).cpu();
  out.image_labels = at::stack(labels).to(at::kLong).cpu();
  out.grid_labels = labels_at(out.image_labels, out.features.size(2), out.features.size(3));
  return out;
}

// Pixels as rows: features [n, D, h, w] -> [n*h*w, D], labels [n, h, w] -> [n*h*w].
at::Tensor pixel_rows(const at::Tensor& features) {
  return features.permute({0, 2, 3, 1}).reshape({-1, features.size(1)}).contiguous();
}

// The fit pixels of a sample: `count` of its `pixels`, drawn without replacement from
// (seed, sample) alone, so whatever rank makes the sample draws the same ones.
at::Tensor fit_pixel_choice(uint64_t seed, int64_t sample, int64_t pixels, int64_t count) {
  if (count >= pixels) return at::arange(pixels, at::kLong);
  std::vector<int64_t> order(static_cast<size_t>(pixels));
  std::iota(order.begin(), order.end(), int64_t{0});
  SampleRng rng(seed, static_cast<uint64_t>(sample), Stream::Generic);
  for (int64_t j = 0; j < count; ++j) {
    const auto k = j + static_cast<int64_t>(rng.next_uniform() * static_cast<double>(pixels - j));
    std::swap(order[static_cast<size_t>(j)], order[static_cast<size_t>(k)]);
  }
  return at::tensor(std::vector<int64_t>(order.begin(), order.begin() + count), at::kLong);
}

// This rank's batches of samples [first, last): batch b on rank b mod size. `round` is the
// number of samples all ranks make together while this rank makes this batch (progress).
struct MyBatch {
  int64_t start, n, round;
};
std::vector<MyBatch> my_batches(int64_t first, int64_t last, int64_t batch, comm::Communicator& comm) {
  std::vector<MyBatch> mine;
  const int64_t round = batch * comm.size();
  for (int64_t b = 0, start = first; start < last; ++b, start += batch)
    if (b % comm.size() == comm.rank()) {
      const int64_t round_start = first + (b / comm.size()) * round;
      mine.push_back({start, std::min(batch, last - start), std::min(round, last - round_start)});
    }
  return mine;
}

// Collective: the fit rows of samples [0, half), gathered on every rank in sample order.
std::pair<at::Tensor, at::Tensor> gather_fit_rows(const ProbeOptions& o, const sampling::Sampler& sampler,
                                                  segmenter::LoadedModel& reference, int64_t half, Progress& progress,
                                                  comm::Communicator& comm) {
  std::vector<at::Tensor> rows, ids;
  for (const auto& [start, n, round] : my_batches(0, half, o.batch, comm)) {
    const LabelledBatch b = label_batch(sampler, reference, start, n);
    const int64_t pixels = b.features.size(2) * b.features.size(3);
    for (int64_t i = 0; i < n; ++i) {
      const at::Tensor choice = fit_pixel_choice(o.sampling.seed, start + i, pixels, o.fit_pixels);
      const at::Tensor x = pixel_rows(b.features.narrow(0, i, 1)).index_select(0, choice);
      const at::Tensor y = b.grid_labels[i].reshape({-1}).index_select(0, choice);
      rows.push_back(at::cat({x, y.to(at::kFloat).unsqueeze(1)}, 1));  // the label rides as a last column
      ids.push_back(choice + (start + i) * pixels);
    }
    progress.advance(round);
  }
  const int64_t width = sampler.feature_layer()->channels + 1;
  const at::Tensor local_rows = rows.empty() ? at::zeros({0, width}, at::kFloat) : at::cat(rows);
  const at::Tensor local_ids = ids.empty() ? at::zeros({0}, at::kLong) : at::cat(ids);
  auto [all, all_ids] = comm::allgather_rows(comm, local_rows.to(comm.device()), local_ids.to(comm.device()));
  all = all.cpu();
  return {all.narrow(1, 0, width - 1).contiguous(), all.select(1, width - 1).round().to(at::kLong)};
}

// The picture of one variant: per score sample, the image, the reference classes, the
// k-means classes and the linear probe's classes (rank 0, local).
at::Tensor variant_picture(const ProbeOptions& o, const ProbeVariant& v, const sampling::Sampler& sampler,
                           segmenter::LoadedModel& reference, const evaluate::FeatureProbe& probe, int64_t half) {
  const int64_t n = std::min<int64_t>(o.picture_samples, o.samples - half);
  const LabelledBatch b = label_batch(sampler, reference, half, n);
  const int64_t h = b.features.size(2), w = b.features.size(3), height = b.images.size(1), width = b.images.size(2);
  const at::Tensor rows = pixel_rows(b.features);
  const at::Tensor class_of_cluster = at::tensor(probe.cluster_class(), at::kLong).clamp_min(0);
  const at::Tensor kmeans = class_of_cluster.index_select(0, probe.cluster_labels(rows)).reshape({n, h, w});
  const at::Tensor linear = probe.linear_labels(rows).reshape({n, h, w});
  const at::Tensor colours = colour_table(reference.info.palette);
  std::vector<at::Tensor> tiles;
  for (int64_t i = 0; i < n; ++i) {
    tiles.push_back(b.images[i]);
    for (const at::Tensor& labels : {b.image_labels, labels_at(kmeans, height, width), labels_at(linear, height, width)})
      tiles.push_back(colorize_labels(labels.narrow(0, i, 1), colours)[0]);
  }
  // Small samples are enlarged (nearest) so that a pupil a few pixels wide stays visible.
  const int64_t enlarge = std::max<int64_t>(1, (160 + height - 1) / height);
  const at::Tensor grid =
      make_grid(at::stack(tiles).repeat_interleave(enlarge, 1).repeat_interleave(enlarge, 2), 4, 2, 255);
  char text[200];
  std::snprintf(text, sizeof text, "%s (%s): image | reference | k-means mIoU %.3f | linear %.3f",
                v.spec.empty() ? "base" : v.spec.c_str(), v.layer.c_str(), v.report.kmeans.mean_iou,
                v.report.ceiling.mean_iou);
  at::Tensor title = at::full({24, std::max<int64_t>(grid.size(1), 8 + 6 * static_cast<int64_t>(std::strlen(text))), 3}, 255, at::kByte);
  draw_text(title, text, 4, 6, 1, {0, 0, 0});
  return stack_vertically({title, grid, make_legend(reference.info.classes, colours, grid.size(1))});
}

nlohmann::json scores_json(const evaluate::Scores& s, const std::vector<std::string>& classes) {
  nlohmann::json iou = nlohmann::json::object();
  for (size_t c = 0; c < classes.size() && c < s.iou.size(); ++c)
    iou[classes[c]] = std::isnan(s.iou[c]) ? nlohmann::json(nullptr) : nlohmann::json(s.iou[c]);
  return {{"mean_iou", s.mean_iou}, {"pixel_accuracy", s.pixel_accuracy}, {"iou", iou}};
}

nlohmann::json summary_json(const ProbeOptions& o, const ProbeSummary& summary) {
  nlohmann::json variants = nlohmann::json::array();
  for (const ProbeVariant& v : summary.variants) {
    nlohmann::json best = nlohmann::json::object();
    for (size_t c = 0; c < summary.classes.size(); ++c) {
      const evaluate::ClassMatch& m = v.report.best_cluster[c];
      best[summary.classes[c]] = {{"cluster", m.cluster}, {"precision", m.precision}, {"recall", m.recall}, {"iou", m.iou}};
    }
    variants.push_back({{"variant", v.spec}, {"layer", v.layer}, {"dim", v.dim}, {"feature_size", v.feature_size},
                        {"clusters", v.clusters}, {"cluster_space", v.space}, {"init_trials", v.init_trials},
                        {"ceiling", scores_json(v.report.ceiling, summary.classes)},
                        {"kmeans", scores_json(v.report.kmeans, summary.classes)}, {"best_cluster", best},
                        {"cluster_class", v.report.cluster_class}, {"fit_accuracy", v.report.fit_accuracy},
                        {"fit_pixels", v.report.fit_pixels}, {"score_pixels", v.report.score_pixels}});
  }
  return {{"checkpoint", o.sampling.checkpoint}, {"reference", o.reference}, {"samples", o.samples},
          {"fit_pixels_per_sample", o.fit_pixels}, {"seed", o.sampling.seed}, {"classes", summary.classes},
          {"variants", variants}};
}

void check_options(const ProbeOptions& o) {
  STYLESEG_CHECK(!o.reference.empty(), ConfigError, "probe: --reference (a segmenter model from styleseg train) is required");
  STYLESEG_CHECK(!o.sampling.checkpoint.empty(), ConfigError, "probe: --checkpoint is required");
  STYLESEG_CHECK(o.samples >= 2, ConfigError, "probe: --samples must be at least 2 (half fit, half scored)");
  STYLESEG_CHECK(o.fit_pixels >= 1, ConfigError, "probe: --fit-pixels must be positive");
  STYLESEG_CHECK(o.clusters >= 0, ConfigError, "probe: --clusters must be >= 0");
  STYLESEG_CHECK(o.batch >= 1, ConfigError, "probe: --batch must be positive");
  STYLESEG_CHECK(o.picture_samples >= 1, ConfigError, "probe: --picture-samples must be positive");
  for (const std::string& spec : o.variants.empty() ? std::vector<std::string>{""} : o.variants) (void)apply_variant(o, spec);
  if (!o.out.empty()) prepare_output_folder(std::filesystem::path(o.out).parent_path().string(), "--out " + o.out);
  if (!o.picture.empty()) prepare_output_folder(std::filesystem::path(o.picture).parent_path().string(), "--picture " + o.picture);
}

}  // namespace

VariantOptions apply_variant(const ProbeOptions& base, const std::string& spec) {
  VariantOptions v{base.sampling, base.clusters, cluster::parse_space(base.cluster_space, "--cluster-space")};
  sampling::SamplerOptions& s = v.sampling;
  std::stringstream items(spec);
  for (std::string item; std::getline(items, item, ',');) {
    if (item.empty()) continue;
    const auto equals = item.find('=');
    STYLESEG_CHECK(equals != std::string::npos, ConfigError, "--variant '" + spec + "': '" + item + "' is not key=value");
    const std::string key = item.substr(0, equals), value = item.substr(equals + 1);
    try {
      if (key == "layer") s.feature_layer = value;
      else if (key == "size") s.feature_size = std::stoi(value);
      else if (key == "normalize") s.feature_normalize = parse_name<sampling::FeatureNormalize>(value, "--variant '" + spec + "': normalize");
      else if (key == "noise") s.feature_noise = parse_name<sampling::FeatureNoise>(value, "--variant '" + spec + "': noise");
      else if (key == "truncation") s.truncation = std::stod(value);
      else if (key == "clusters") v.clusters = std::stoll(value);
      else if (key == "space") v.space = cluster::parse_space(value, "--variant '" + spec + "': space");
      else if (key == "trials") v.init_trials = std::stoi(value);
      else
        throw ConfigError("--variant '" + spec + "': unknown key '" + key +
                          "' (layer, size, normalize, noise, truncation, clusters, space, trials)");
    } catch (const std::logic_error&) {  // std::stoi / std::stod
      throw ConfigError("--variant '" + spec + "': '" + value + "' is not a number for '" + key + "'");
    }
  }
  STYLESEG_CHECK(!s.feature_layer.empty(), ConfigError,
                 "--variant '" + spec + "': no feature layer (give --feature-layer or layer= in the variant)");
  STYLESEG_CHECK(v.clusters >= 0, ConfigError, "--variant '" + spec + "': clusters must be >= 0");
  STYLESEG_CHECK(v.init_trials >= 1, ConfigError, "--variant '" + spec + "': trials must be at least 1");
  return v;
}

ProbeSummary run_probe(const ProbeOptions& o, comm::Communicator& comm) {
  check_options(o);
  OutputPlan("probe")
      .input("--checkpoint", o.sampling.checkpoint)
      .input("--reference", o.reference)
      .output("--out", o.out)
      .output("--picture", o.picture)
      .decide({false, o.force}, comm);
  segmenter::LoadedModel reference = segmenter::load_model(o.reference);
  ProbeSummary summary;
  summary.classes = reference.info.classes;
  const std::vector<std::string> specs = o.variants.empty() ? std::vector<std::string>{""} : o.variants;
  const int64_t half = o.samples / 2;
  std::vector<at::Tensor> pictures;
  for (size_t i = 0; i < specs.size(); ++i) {
    const std::string& spec = specs[i];
    const VariantOptions variant = apply_variant(o, spec);
    const sampling::Sampler sampler(variant.sampling, comm.local_rank());
    // Every variant's layers exist, before the first variant runs for minutes.
    if (i == 0)
      for (const std::string& other : specs)
        (void)sampling::resolve_feature_layers(apply_variant(o, other).sampling.feature_layer, sampler.generator().architecture());
    reference.net.to(sampler.device());
    Progress progress("probe " + (spec.empty() ? std::string("base") : spec), o.samples, comm.rank() == 0);
    auto [fit_x, fit_y] = gather_fit_rows(o, sampler, reference, half, progress, comm);
    evaluate::ProbeSettings settings;
    settings.classes = static_cast<int64_t>(summary.classes.size());
    settings.clusters = variant.clusters > 0 ? variant.clusters : settings.classes;
    settings.space = variant.space;
    settings.seed = o.sampling.seed;
    settings.init_trials = variant.init_trials;
    evaluate::FeatureProbe probe(fit_x, fit_y, settings);
    for (const auto& [start, n, round] : my_batches(half, o.samples, o.batch, comm)) {
      const LabelledBatch b = label_batch(sampler, reference, start, n);
      probe.add_scores(pixel_rows(b.features), b.grid_labels.reshape({-1}));
      progress.advance(round);
    }
    progress.finish();
    ProbeVariant v{spec, sampler.feature_layer()->rosinality_name, sampler.feature_layer()->channels, sampler.feature_size(),
                   settings.clusters, cluster::to_string(settings.space), variant.init_trials, probe.report(comm)};
    if (comm.rank() == 0 && !o.picture.empty()) pictures.push_back(variant_picture(o, v, sampler, reference, probe, half));
    summary.variants.push_back(std::move(v));
  }
  if (comm.rank() == 0) {
    std::printf("%s", probe_table(summary).c_str());
    std::fflush(stdout);
    if (!o.out.empty()) write_text_file(o.out, summary_json(o, summary).dump(2) + "\n");
    if (!o.picture.empty()) write_png(o.picture, stack_vertically(pictures));
  }
  return summary;
}

std::string probe_table(const ProbeSummary& summary) {
  std::string out;
  char line[256];
  for (const ProbeVariant& v : summary.variants) {
    std::snprintf(line, sizeof line,
                  "variant '%s': layer %s, %lld channels at %lld px; k-means K %lld in space %s%s; %lld fit pixels, %lld scored\n",
                  v.spec.c_str(), v.layer.c_str(), static_cast<long long>(v.dim), static_cast<long long>(v.feature_size),
                  static_cast<long long>(v.clusters), v.space.c_str(),
                  v.init_trials > 1 ? (", best of " + std::to_string(v.init_trials) + " starts").c_str() : "",
                  static_cast<long long>(v.report.fit_pixels), static_cast<long long>(v.report.score_pixels));
    out += line;
    std::snprintf(line, sizeof line, "  %-16s %12s %12s %8s %10s %8s\n", "class", "ceiling IoU", "k-means IoU", "cluster",
                  "precision", "recall");
    out += line;
    for (size_t c = 0; c < summary.classes.size(); ++c) {
      const evaluate::ClassMatch& m = v.report.best_cluster[c];
      std::snprintf(line, sizeof line, "  %-16s %12.3f %12.3f %8lld %10.3f %8.3f\n", summary.classes[c].c_str(),
                    v.report.ceiling.iou[c], v.report.kmeans.iou[c], static_cast<long long>(m.cluster), m.precision,
                    m.recall);
      out += line;
    }
    std::snprintf(line, sizeof line, "  %-16s %12.3f %12.3f\n", "mIoU", v.report.ceiling.mean_iou, v.report.kmeans.mean_iou);
    out += line;
  }
  return out;
}

}  // namespace styleseg::stages
