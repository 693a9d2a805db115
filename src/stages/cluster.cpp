#include "stages/cluster.h"

#include <ATen/ATen.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "cluster/assignment.h"
#include "cluster/clusters_file.h"
#include "cluster/space.h"
#include "core/error.h"
#include "core/json_diff.h"
#include "core/log.h"
#include "core/stop_request.h"
#include "io/atomic_output.h"
#include "io/image.h"
#include "io/output_policy.h"
#include "io/visualize.h"
#include "mpi/communicator.h"

namespace fs = std::filesystem;

namespace styleseg::stages {
namespace {

void validate(const ClusterOptions& o) {
  STYLESEG_CHECK(!o.out.empty(), ConfigError, "cluster: --out is required");
  STYLESEG_CHECK(o.preview_count > 0, ConfigError, "cluster: --preview-count must be positive");
  STYLESEG_CHECK(o.checkpoint_interval >= 0, ConfigError, "cluster: --checkpoint-interval must be >= 0 seconds");
  STYLESEG_CHECK(o.time_limit >= 0, ConfigError, "cluster: --time-limit must be >= 0 seconds");
  cluster::validate(o.kmeans);
  const std::string folder = fs::path(o.out).parent_path().string();
  prepare_output_folder(folder.empty() ? "." : folder, "--out " + o.out);  // before, not after, the k-means run
}

// Cluster maps of a chunk at the pixel grid of its items: [items, h, w].
at::Tensor label_maps(const cluster::FeatureChunk& chunk, const at::Tensor& centroids, const std::vector<int64_t>& shape) {
  if (chunk.is_maps()) return cluster::assign_maps(chunk.maps, centroids.to(chunk.maps.device()), chunk.out_size).labels.cpu();
  return cluster::assign_vectors(chunk.vectors, centroids).labels.reshape({chunk.items, shape[0], shape[1]});
}

// --resume of a job that finished: nothing to do, once the clusters file is known to be this
// job's (the same options and feature source).
ClusterSummary already_complete(const ClusterOptions& o, const nlohmann::json& provenance, const nlohmann::json& described,
                                comm::Communicator& comm) {
  comm::decide_on_root(comm, [&] {
    const cluster::Clusters done = cluster::read_clusters(o.out);
    const nlohmann::json now{{"options", provenance}, {"source", described}}, before{{"options", done.options}, {"source", done.source}};
    require_same_job(o.out, now.dump(), before.dump(), SavedRun::Complete);
  });
  log::info("--resume: {} is complete; nothing to do", o.out);
  return ClusterSummary{};
}

}  // namespace

void write_cluster_preview(const std::string& path, cluster::FeatureSource& source, const at::Tensor& centroids,
                           const at::Tensor& counts, int count) {
  const std::vector<int64_t> shape = source.item_shape();
  STYLESEG_CHECK(!shape.empty(), ConfigError,
                 "--preview needs pixels: the features are plain vectors [N, D], not maps or a generator");
  const int64_t items = source.items() ? std::min<int64_t>(count, *source.items()) : count;
  const cluster::FeatureChunk chunk = source.read(0, items);
  const double total = std::max<double>(1.0, counts.sum().item<double>());
  std::vector<std::string> entries;
  for (int64_t k = 0; k < centroids.size(0); ++k) {
    char text[64];
    std::snprintf(text, sizeof text, "%lld: %.1f%%", static_cast<long long>(k), 100.0 * counts[k].item<double>() / total);
    entries.push_back(text);
  }
  write_png(path, make_segmentation_preview(chunk.images, label_maps(chunk, centroids, shape), palette(centroids.size(0)), entries));
  log::info("preview of {} samples with their cluster maps: {}", items, path);
}

ClusterSummary run_cluster(const ClusterOptions& options, comm::Communicator& comm, const nlohmann::json& provenance) {
  validate(options);
  const auto start_time = std::chrono::steady_clock::now();
  const std::string state_path = partial_path_of(options.out);
  const OutputStart start = OutputPlan("cluster")
                                .input("--features", options.input.features)
                                .input("--checkpoint", options.input.sampling.checkpoint)
                                .output("--out", options.out)
                                .output("--preview", options.preview)
                                .partial(state_path)
                                .decide({options.resume, options.force}, comm);
  std::unique_ptr<cluster::FeatureSource> source = open_feature_input(options.input, comm, "cluster");
  const nlohmann::json described = source->describe();
  if (start == OutputStart::Complete) return already_complete(options, provenance, described, comm);
  STYLESEG_CHECK(options.preview.empty() || !source->item_shape().empty(), ConfigError,
                 "cluster: --preview needs pixels: " + options.input.features + " holds plain vectors [N, D]");
  log::info("k-means: {} clusters over {}-dimensional features from {}", options.kmeans.clusters, source->dim(), described.dump());

  // ---- the cluster space: fitted on the fixed set, then every chunk is seen through it ----
  const int64_t fixed_items = options.kmeans.fixed_items > 0 ? options.kmeans.fixed_items : source->items().value_or(0);
  const cluster::SpaceMap space_map = cluster::fit_space_on(options.space, *source, fixed_items, comm);
  source = cluster::project_source(std::move(source), space_map);
  if (!options.space.is_raw())
    log::info("k-means runs in space {}: {} dimensions", cluster::to_string(options.space), source->dim());

  // ---- resume state ----
  const std::string identity = nlohmann::json{{"options", provenance}, {"source", described}, {"chunk_items", source->chunk_items()}}.dump();
  std::optional<cluster::KMeansState> resume;
  if (start == OutputStart::Resume) resume = cluster::read_kmeans_state(state_path, identity);  // every rank reads it (read-only)
  comm.barrier();  // every rank has read the state before rank 0 may replace it
  auto last_save = std::chrono::steady_clock::now();
  const StopCheck stop_check(options.time_limit, comm.rank());
  // After every iteration: one vote per rank on stopping (a signal on any rank stops all),
  // and rank 0 saves the state when it is time to, or before a stop.
  const cluster::IterationHook save = [&](const cluster::KMeansState& state) {
    const bool stop = comm::allreduce_max(comm, stop_check.due() ? 1.0 : 0.0) > 0;
    const auto now = std::chrono::steady_clock::now();
    if (comm.rank() == 0 && (stop || std::chrono::duration<double>(now - last_save).count() >= options.checkpoint_interval)) {
      cluster::write_kmeans_state(state_path, state, identity);
      last_save = now;
    }
    if (stop) comm.barrier();  // the state is on disk before any rank reports the stop
    return stop;
  };

  ClusterSummary summary;
  summary.result = cluster::train_kmeans(*source, options.kmeans, comm, resume ? &*resume : nullptr, save);
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
  if (summary.result.stopped) {
    summary.complete = false;
    log::warn("stopped {} after {:.1f} s; run again with --resume to continue from {}", stop_check.reason(), summary.seconds,
              state_path);
    return summary;
  }
  const cluster::KMeansResult& result = summary.result;
  if (comm.rank() == 0) {
    cluster::Clusters out(result);
    out.space = options.space;
    out.space_map = space_map;
    out.algorithm = name_of(options.kmeans.algorithm);
    out.init = name_of(options.kmeans.init);
    out.seconds = summary.seconds;
    out.source = described;
    out.options = provenance;
    cluster::write_clusters(options.out, out);
    std::error_code ignored;
    fs::remove(state_path, ignored);
    log::info("wrote {} clusters to {}: inertia {:.6g} over {} vectors, {} iterations{}, {:.1f} s ({:.3g} vectors/s)",
              options.kmeans.clusters, options.out, result.inertia, result.fixed_vectors, result.iterations,
              result.converged ? " (converged)" : "", summary.seconds,
              static_cast<double>(result.vectors_processed) / std::max(summary.seconds, 1e-9));
    if (!options.preview.empty())
      write_cluster_preview(options.preview, *source, result.centroids, result.counts, options.preview_count);
  }
  comm.barrier();
  return summary;
}

}  // namespace styleseg::stages
