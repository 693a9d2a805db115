#include "stages/name.h"

#include "stages/embed.h"
#include "stages/sampler_for_clusters.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <iomanip>
#include <fstream>
#include <sstream>

#include "cluster/assignment.h"
#include "cluster/clusters_file.h"
#include "core/device.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/sha256.h"
#include "core/text.h"
#include "io/atomic_output.h"
#include "io/image.h"
#include "io/output_policy.h"
#include "io/visualize.h"
#include "models/clip/model.h"
#include "models/clip/preprocess.h"
#include "models/clip/tokenizer.h"
#include "mpi/communicator.h"

namespace styleseg::stages {
namespace {

void validate(const NameOptions& o) {
  validate(o.sampling, "name");
  STYLESEG_CHECK(!o.clusters.empty(), ConfigError, "name: --clusters is required");
  STYLESEG_CHECK(!o.out.empty(), ConfigError, "name: --out is required (the clusters with their names; --clusters stays as it is)");
  STYLESEG_CHECK(!o.clip.empty(), ConfigError, "name: --clip is required (a CLIP model such as RN50x64.pt)");
  STYLESEG_CHECK(!o.vocab.empty(), ConfigError, "name: --vocab is required (bpe_simple_vocab_16e6.txt.gz of OpenAI's CLIP)");
  STYLESEG_CHECK(o.prompts.empty() != o.prompts_file.empty(), ConfigError, "name: give --prompts or --prompts-file (one of them)");
  STYLESEG_CHECK(o.prompt_template.find("{}") != std::string::npos, ConfigError,
                 "name: --template '" + o.prompt_template + "' has no {} for the prompt");
  STYLESEG_CHECK(o.samples > 0, ConfigError, "name: --samples must be positive");
  STYLESEG_CHECK(o.batch > 0, ConfigError, "name: --batch must be positive");
  STYLESEG_CHECK(o.clip_size >= 0, ConfigError, "name: --clip-size must be >= 0");
  STYLESEG_CHECK(o.output_stride >= 0, ConfigError, "name: --output-stride must be >= 0");
  STYLESEG_CHECK(o.png_count > 0, ConfigError, "name: --png-count must be positive");
}

std::string with_template(const std::string& pattern, const std::string& prompt) {
  std::string out = pattern;
  out.replace(out.find("{}"), 2, prompt);
  return out;
}

// The table of names for the log: share of pixels, name, CLIP's choice with its score and
// the runner-ups' margins.
std::string table(const cluster::ClusterNames& names, const std::vector<double>& share) {
  std::ostringstream out;
  out << "cluster  pixels  name                  CLIP's choice (cosine)   runner-ups (margin)\n";
  for (size_t k = 0; k < names.clusters.size(); ++k) {
    const cluster::ClusterName& c = names.clusters[k];
    char line[256];
    std::snprintf(line, sizeof line, "%7zu  %5.1f%%  %-20s  %-15s %6.3f  ", k, 100.0 * share[k],
                  (c.name.empty() ? "(no pixels)" : c.name + (c.by_hand ? " *" : "")).c_str(), c.clip_name.c_str(), c.score);
    out << line;
    for (size_t r = 0; r < c.runner_ups.size(); ++r)
      out << "  " << c.runner_ups[r] << " (" << std::fixed << std::setprecision(3) << c.margins[r] << ")";
    out << "\n";
  }
  if (std::any_of(names.clusters.begin(), names.clusters.end(), [](const cluster::ClusterName& c) { return c.by_hand; }))
    out << "* named by hand (--assign)\n";
  return out.str();
}

}  // namespace

std::vector<std::string> read_prompts(const std::string& list, const std::string& file) {
  std::vector<std::string> prompts;
  if (!file.empty()) {
    std::ifstream in(file);
    STYLESEG_CHECK(in, InputError, file + ": cannot read the prompts file (--prompts-file)");
    std::stringstream buffer;
    buffer << in.rdbuf();
    const std::string text = buffer.str();
    if (trim(text).rfind('[', 0) == 0) {
      prompts = parse_json_strings(text, file);
    } else {
      for (const std::string& line : split(text, '\n'))
        if (!trim(line).empty() && trim(line)[0] != '#') prompts.push_back(trim(line));
    }
  } else {
    for (const std::string& item : split(list, ','))
      if (!trim(item).empty()) prompts.push_back(trim(item));
  }
  const std::string where = file.empty() ? "--prompts" : "--prompts-file " + file;
  STYLESEG_CHECK(!prompts.empty(), ConfigError, where + ": no prompts");
  for (const std::string& p : prompts)
    STYLESEG_CHECK(p.find_first_of(":;") == std::string::npos, ConfigError,
                   where + ": prompt '" + p + "' holds ':' or ';', which class maps use as separators");
  return prompts;
}

NameSummary name_clusters(const NameOptions& o, comm::Communicator& comm, const nlohmann::json& provenance) {
  validate(o);
  const auto start_time = std::chrono::steady_clock::now();
  OutputPlan("name")
      .input("--checkpoint", o.sampling.checkpoint)
      .input("--clusters", o.clusters)
      .input("--clip", o.clip)
      .input("--vocab", o.vocab)
      .input("--prompts-file", o.prompts_file)
      .output("--out", o.out)
      .output("--merge-file", o.merge_file)
      .output("--png", o.png)
      .decide({false, o.force}, comm);
  cluster::Clusters clusters = cluster::read_clusters(o.clusters);
  const std::map<int64_t, std::string> by_hand = cluster::parse_assignments(o.assign);
  const std::vector<std::string> prompts = read_prompts(o.prompts, o.prompts_file);
  const std::unique_ptr<sampling::Sampler> sampler = sampler_for_clusters(o.sampling, clusters, o.clusters, "name", comm);

  // CLIP and the prompts' embeddings (every rank: small next to the images).
  const clip::Model model = clip::load_model(o.clip, {sampler->device(), parse_precision(o.clip_precision, "--clip-precision")});
  const clip::Architecture& arch = model.architecture();
  const int64_t side = o.clip_size > 0 ? o.clip_size : arch.image_resolution;
  const int64_t stride = o.output_stride > 0 ? o.output_stride : model.output_strides().front();
  STYLESEG_CHECK(side % stride == 0, ConfigError,
                 "name: --clip-size " + std::to_string(side) + " is not a multiple of the output stride " + std::to_string(stride));
  clip::Tokenizer tokenizer(o.vocab);
  std::vector<std::string> texts;
  for (const std::string& p : prompts) texts.push_back(with_template(o.prompt_template, p));
  const at::Tensor text_embeddings = model.encode_text(tokenizer.tokenize(texts, arch.context_length, o.truncate));
  log::info("naming {} clusters with {} ({}) from {} samples at {}x{}, output stride {}: {} prompts", clusters.num_clusters(),
            o.clip, arch.describe(), o.samples, side, side, stride, prompts.size());

  // Per-cluster embedding sums: batch j on rank j mod size, a round at a time (the
  // progress bar counts every rank's samples).
  const at::Tensor centroids = clusters.centroids.to(sampler->device());
  cluster::RegionEmbeddings regions(clusters.num_clusters(), arch.embed_dim);
  const int64_t batches = (o.samples + o.batch - 1) / o.batch;
  const int64_t rounds = (batches + comm.size() - 1) / comm.size();
  Progress progress("name", o.samples, comm.rank() == 0);
  for (int64_t round = 0; round < rounds; ++round) {
    const int64_t j = round * comm.size() + comm.rank();
    const int64_t first = j * o.batch, n = j < batches ? std::min<int64_t>(o.batch, o.samples - first) : 0;
    if (n > 0) {
      const sampling::SampleBatch b = sampler->make(first, n, /*resize_features=*/false);
      const at::Tensor labels = cluster::assign_maps(clusters.project_maps(b.features), centroids, side).labels;
      const at::Tensor images = clip::preprocess_unit_images((b.raw.to(sampler->device()) + 1.0) / 2.0, side);
      regions.add(model.dense_embeddings(images, stride), labels);
    }
    progress.advance(allreduce_sum(comm, n));
  }
  regions.allreduce(comm);
  progress.finish();

  NameSummary summary;
  summary.names = cluster::choose_names(regions.means(), text_embeddings, prompts, by_hand);
  const double total = regions.weights().sum().item<double>();
  for (int64_t k = 0; k < clusters.num_clusters(); ++k) summary.pixel_share.push_back(regions.weights()[k].item<double>() / total);
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
  log::info("cluster names ({:.1f} s):\n{}", summary.seconds, table(summary.names, summary.pixel_share));

  if (comm.rank() == 0) {
    clusters.names = summary.names.names();
    clusters.naming = {{"clusters", summary.names.to_json()}, {"pixel_share", summary.pixel_share},
                       {"clip", o.clip}, {"clip_sha256", sha256_file(o.clip)}, {"clip_architecture", arch.describe()},
                       {"prompts", prompts}, {"template", o.prompt_template}, {"samples", o.samples},
                       {"seed", o.sampling.seed}, {"output_stride", stride}, {"clip_size", side},
                       {"class_map", summary.names.class_map()}, {"options", provenance}};
    cluster::write_clusters(o.out, clusters);
    log::info("wrote the clusters with their names to {}", o.out);
    if (!o.merge_file.empty()) {
      std::string lines = "# clusters of one name merged (styleseg name); for synthesize --merge-file\n";
      for (const std::string& entry : split(summary.names.class_map(), ';')) lines += entry + "\n";
      write_text_file(o.merge_file, lines);
      log::info("class map for synthesize --merge-file: {}", o.merge_file);
    }
    if (!o.png.empty()) {
      const int64_t shown = std::min<int64_t>(o.png_count, o.samples);
      const sampling::SampleBatch b = sampler->make(0, shown, /*resize_features=*/false);
      const at::Tensor labels = cluster::assign_maps(clusters.project_maps(b.features), centroids, b.images.size(1)).labels.cpu();
      std::vector<std::string> entries;
      for (size_t k = 0; k < summary.names.clusters.size(); ++k) {
        const cluster::ClusterName& c = summary.names.clusters[k];
        char score[32];
        std::snprintf(score, sizeof score, " (%.3f)", c.score);
        entries.push_back(std::to_string(k) + ": " + (c.name.empty() ? "no pixels" : c.by_hand ? c.name + " (by hand)" : c.name + score));
      }
      write_png(o.png, make_segmentation_preview(b.images, labels, palette(clusters.num_clusters()), entries));
      log::info("samples with their named clusters: {}", o.png);
    }
  }
  comm.barrier();
  return summary;
}

}  // namespace styleseg::stages
