#include "stages/assign.h"

#include <ATen/ATen.h>

#include "cluster/assignment.h"
#include "cluster/clusters_file.h"
#include "cluster/space.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/sha256.h"
#include "io/atomic_output.h"
#include "io/h5.h"
#include "io/h5_tensor.h"
#include "io/image.h"
#include "io/output_policy.h"
#include "io/visualize.h"
#include "mpi/communicator.h"
#include "mpi/mpi_io.h"

namespace styleseg::stages {

void run_assign(const AssignOptions& options, comm::Communicator& comm, const nlohmann::json& provenance) {
  STYLESEG_CHECK(!options.clusters.empty(), ConfigError, "assign: --clusters is required");
  STYLESEG_CHECK(!options.out.empty(), ConfigError, "assign: --out is required");
  STYLESEG_CHECK(options.count >= 0, ConfigError, "assign: --count must be >= 0");
  STYLESEG_CHECK(options.compression >= 0 && options.compression <= 9, ConfigError, "assign: --compression must be 0..9");
  OutputPlan("assign")
      .input("--clusters", options.clusters)
      .input("--features", options.input.features)
      .input("--checkpoint", options.input.sampling.checkpoint)
      .output("--out", options.out)
      .output("--grid", options.grid)
      .decide({false, options.force}, comm);
  const cluster::Clusters clusters = cluster::read_clusters(options.clusters);

  // A generator's layer and feature size default to those the clusters were made with.
  FeatureInputOptions input = options.input;
  if (!input.sampling.checkpoint.empty() && clusters.source.value("kind", "") == "generator") {
    if (input.sampling.feature_layer.empty()) input.sampling.feature_layer = clusters.source.value("feature_layer", "");
    if (input.sampling.feature_size == 0) input.sampling.feature_size = clusters.source.value("feature_size", 0);
  }
  std::unique_ptr<cluster::FeatureSource> source = open_feature_input(input, comm, "assign");
  STYLESEG_CHECK(source->dim() == clusters.feature_dim(), InputError,
                 "assign: the features have " + std::to_string(source->dim()) + " dimensions, the clusters in " +
                     options.clusters + " are of " + std::to_string(clusters.feature_dim()));
  source = cluster::project_source(std::move(source), clusters.space_map);  // into the clusters' space
  const std::optional<int64_t> available = source->items();
  STYLESEG_CHECK(available || options.count > 0, ConfigError, "assign: --count is required with a generator");
  if (available && options.count > *available)
    throw ConfigError("assign: --count " + std::to_string(options.count) + " exceeds the " + std::to_string(*available) +
                      " items of the input");
  const int64_t count = options.count > 0 ? options.count : *available;
  const std::vector<int64_t> item_shape = source->item_shape();
  const at::Tensor centroids = clusters.centroids;
  STYLESEG_CHECK(options.grid.empty() || !item_shape.empty(), ConfigError,
                 "assign: --grid needs pixels (feature maps or a generator), the input holds plain vectors");

  // ---- output, written collectively: chunk c by rank c mod size, one round at a time ----
  AtomicOutput output(options.out, comm::decide_on_root(comm, [] { return AtomicOutput::make_token(); }));
  const std::string clusters_sha = comm::decide_on_root(comm, [&] { return sha256_file(options.clusters); });
  const h5::DType label_type = clusters.num_clusters() <= 256 ? h5::DType::U8 : h5::DType::U16;
  {
    h5::File file = h5::File::create(output.temp_path(), comm::mpi_comm_of(comm));
    std::vector<int64_t> shape{count};
    shape.insert(shape.end(), item_shape.begin(), item_shape.end());
    std::vector<int64_t> chunk_shape = shape;
    chunk_shape[0] = item_shape.empty() ? std::min<int64_t>(count, 65536) : 1;
    file.create_dataset("labels", label_type, shape, chunk_shape, options.compression);
    file.write_string_attribute("/", "clusters", options.clusters);
    file.write_string_attribute("/", "clusters_sha256", clusters_sha);
    file.write_string_attribute("/", "source", source->describe().dump());
    file.write_string_attribute("/", "options", provenance.dump());
    file.write_string_attribute("/", "styleseg_version", STYLESEG_VERSION);

    const int64_t chunk = source->chunk_items();
    const int64_t chunks = (count + chunk - 1) / chunk;
    const int64_t rounds = (chunks + comm.size() - 1) / comm.size();
    Progress progress("assign", count, comm.rank() == 0, item_shape.empty() ? "vectors" : "samples");
    for (int64_t round = 0; round < rounds; ++round) {
      const int64_t c = round * comm.size() + comm.rank();
      const int64_t first = std::min(c * chunk, count);
      const int64_t n = c < chunks ? std::min(chunk, count - first) : 0;
      at::Tensor labels;
      if (n > 0) {
        const cluster::FeatureChunk features = source->read(first, n);
        labels = features.is_maps()
                     ? cluster::assign_maps(features.maps, centroids.to(features.maps.device()), features.out_size).labels
                     : cluster::assign_vectors(features.vectors, centroids).labels;
        std::vector<int64_t> rows{n};
        rows.insert(rows.end(), item_shape.begin(), item_shape.end());
        labels = labels.reshape(rows).to(at::kCPU, label_type == h5::DType::U8 ? at::kByte : at::kInt);
      }
      h5::write_tensor_rows(file, "labels", first, labels);
      progress.advance(std::min(count, std::min(chunks, (round + 1) * comm.size()) * chunk) - progress.done());
    }
    file.close();
    progress.finish();
  }
  comm.barrier();
  if (comm.rank() == 0) output.commit();
  comm.barrier();
  log::info("wrote the labels of {} items under {} clusters to {}", count, clusters.num_clusters(), options.out);

  if (comm.rank() == 0 && !options.grid.empty()) {
    const h5::File done = h5::File::open(options.out, h5::Mode::Read);
    const at::Tensor first = h5::read_tensor(done, "labels", 0, std::min<int64_t>(options.grid_count, count));
    write_png(options.grid, make_grid(colorize_labels(first, palette(clusters.num_clusters())), 0, 2, 255));
    log::info("label maps of the first {} items: {}", first.size(0), options.grid);
  }
}

}  // namespace styleseg::stages
