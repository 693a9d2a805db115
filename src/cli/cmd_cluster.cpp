#include <cstdlib>

#include "cli/cli.h"
#include "stages/assign.h"
#include "stages/cluster.h"

namespace styleseg::cli {
namespace {

// The input options shared by cluster and assign: a generator (its sampling options) or a file.
void add_feature_input_options(OptionSet& set, stages::FeatureInputOptions& o) {
  add_sampler_options(set, o.sampling, /*with_latents_file=*/false);
  set.add_optional("features", &o.features, "instead of a generator: HDF5 file with float vectors [N, D] or maps [N, C, h, w]")
      .add("dataset", &o.dataset, "dataset in --features")
      .add("batch", &o.batch, "items per chunk, a rank's unit of work (0: 8 samples or maps, 16384 vectors)");
}

}  // namespace

int cluster_main(const std::vector<std::string>& args) {
  stages::ClusterOptions o;
  int64_t cache_mb = o.kmeans.cache_bytes >> 20;
  std::string space = "raw";
  if (const char* scratch = std::getenv("STYLESEG_SCRATCH")) o.kmeans.scratch_dir = scratch;
  OptionSet set("cluster",
                "k-means over per-pixel feature vectors: of samples drawn from a generator (--checkpoint with\n"
                "--feature-layer; sample i from (--seed, i), as generate) or of an HDF5 dataset (--features). Ranks\n"
                "split the data; per-cluster sums and counts are combined by one allreduce per iteration, and 1, 2\n"
                "or 4 ranks give the same centroids. Memory does not grow with the number of vectors.\n\n"
                "--algorithm lloyd passes over the fixed set (--samples items) every iteration; minibatch\n"
                "(Sculley 2010) takes --minibatch fresh items per step (a generator's are never reused) and\n"
                "uses the fixed set for initialisation and the final evaluation. --feature-size up-samples the\n"
                "features bilinearly; assignment then resizes the K score maps instead of the C channels (exact).\n"
                "--space whiten runs k-means on whitened features (the map is fitted on the fixed set and stored).\n"
                "Output: centroids [K, D], counts [K], inertia per iteration, provenance attributes.");
  add_feature_input_options(set, o.input);
  set.add("clusters", &o.kmeans.clusters, "number of clusters K")
      .add("space", &space,
           "where k-means runs, fitted on the fixed set: raw, standardize (each dimension), pca[:D] (leading principal "
           "axes) or whiten[:D] (the same, each at unit variance: small parts weigh as much as large ones)")
      .add("out", &o.out, "output HDF5 file (clusters.h5)")
      .add("algorithm", &o.kmeans.algorithm, "lloyd or minibatch")
      .add("init", &o.kmeans.init, "kmeans++ (on a gathered sample) or kmeans|| (Bahmani et al. 2012, distributed)")
      .add("iterations", &o.kmeans.iterations, "Lloyd passes or mini-batch steps per restart")
      .add("tolerance", &o.kmeans.tolerance, "stop when centroids move less than this, relative to their norm (0: never)")
      .add("n-init", &o.kmeans.n_init, "restarts with other seeds; the lowest final inertia is kept")
      .add("samples", &o.kmeans.fixed_items, "items of the fixed set (required for a generator; 0: all of a file)")
      .add("minibatch", &o.kmeans.minibatch_items, "items per mini-batch step, all ranks together (0: 4 chunks)")
      .add("init-vectors", &o.kmeans.init_vectors, "vectors sampled from the fixed set for the initialisation")
      .add("init-rounds", &o.kmeans.init_rounds, "k-means|| rounds")
      .add("init-trials", &o.kmeans.init_trials,
           "k-means++ draws on the initialisation sample (k-means||: its candidates), each refined by a few Lloyd "
           "steps there; the lowest inertia there starts the passes")
      .add("oversampling", &o.kmeans.oversampling, "k-means|| draws about OVERSAMPLING * K vectors a round")
      .add("reassign-ratio", &o.kmeans.reassign_ratio, "mini-batch: re-seed clusters whose count is below this share of the largest")
      .add("cache-mb", &cache_mb, "per rank: keep the fixed set in memory when it fits in this many MiB (0: never)")
      .add("scratch", &o.kmeans.scratch_dir,
           "node-local folder: a fixed set over --cache-mb is kept in a file there rather than read (or generated) again "
           "every pass (default: $STYLESEG_SCRATCH; empty: none)")
      .add_optional("preview", &o.preview, "PNG: the first samples beside their cluster maps, with a legend of pixel shares")
      .add("preview-count", &o.preview_count, "samples in the preview")
      .add("checkpoint-interval", &o.checkpoint_interval, "seconds between saved states (0: every iteration)")
      .add("time-limit", &o.time_limit, "seconds; save the state after the iteration that passes it, exit 75 (0: none)");
  add_output_policy_options(set, o.resume, o.force, "the k-means state (OUT.tmp.partial)");
  return run_command(set, args, [&](comm::Communicator& comm) {
    o.kmeans.seed = o.input.sampling.seed;
    o.kmeans.cache_bytes = cache_mb << 20;
    o.space = cluster::parse_space(space, "--space");
    return stages::run_cluster(o, comm, set.to_json(non_result_options())).complete ? 0 : kExitResumable;
  });
}

int assign_main(const std::vector<std::string>& args) {
  stages::AssignOptions o;
  OptionSet set("assign",
                "The nearest-centroid label of every vector or pixel, under the centroids of `styleseg cluster`:\n"
                "of an HDF5 dataset (--features), or of --count samples of a generator (--checkpoint; the layer and\n"
                "feature size default to those of the clusters). Output: 'labels' uint8 (uint16 for K > 256),\n"
                "[N] or [N, h, w]; row i is item i whatever the number of ranks.");
  add_feature_input_options(set, o.input);
  set.add("clusters", &o.clusters, "clusters file (from styleseg cluster)")
      .add("out", &o.out, "output HDF5 file (labels.h5)")
      .add("count", &o.count, "items to label (generator: required; file: 0 = all)")
      .add("compression", &o.compression, "gzip level of the labels (0 = none)")
      .add_optional("grid", &o.grid, "PNG of the first label maps in the cluster palette")
      .add("grid-count", &o.grid_count, "label maps in the grid");
  add_output_policy_options(set, o.force);
  return run_command(set, args, [&](comm::Communicator& comm) {
    stages::run_assign(o, comm, set.to_json(non_result_options()));
    return 0;
  });
}

}  // namespace styleseg::cli
