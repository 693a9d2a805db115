#include "stages/synthesize.h"

#include <ATen/ATen.h>

#include <chrono>
#include <filesystem>

#include "cluster/assignment.h"
#include "cluster/clusters_file.h"
#include "core/error.h"
#include "core/fault_injection.h"
#include "core/json_diff.h"
#include "core/log.h"
#include "core/stop_request.h"
#include "core/progress.h"
#include "core/sha256.h"
#include "dataset/class_map.h"
#include "dataset/dataset_file.h"
#include "io/atomic_output.h"
#include "io/output_policy.h"
#include "io/h5.h"
#include "io/h5_tensor.h"
#include "io/image.h"
#include "io/image_filters.h"
#include "io/visualize.h"
#include "mpi/communicator.h"
#include "mpi/mpi_io.h"

namespace fs = std::filesystem;

namespace styleseg::stages {
namespace {

void validate(const SynthesizeOptions& o) {
  validate(o.sampling, "synthesize");
  STYLESEG_CHECK(!o.clusters.empty(), ConfigError, "synthesize: --clusters is required");
  STYLESEG_CHECK(!o.out.empty(), ConfigError, "synthesize: --out is required");
  STYLESEG_CHECK(o.count > 0, ConfigError, "synthesize: --count must be positive");
  STYLESEG_CHECK(o.size >= 0, ConfigError, "synthesize: --size must be >= 0");
  STYLESEG_CHECK(o.batch > 0, ConfigError, "synthesize: --batch must be positive");
  STYLESEG_CHECK(o.compression >= 0 && o.compression <= 9, ConfigError, "synthesize: --compression must be 0..9");
  STYLESEG_CHECK(o.time_limit >= 0, ConfigError, "synthesize: --time-limit must be >= 0 seconds");
  STYLESEG_CHECK(o.grid_count > 0, ConfigError, "synthesize: --grid-count must be positive");
  STYLESEG_CHECK(o.merge.empty() || o.merge_file.empty(), ConfigError, "synthesize: give --merge or --merge-file, not both");
}

// Class names of the identity map: a named cluster shows its name (`styleseg name`).
std::vector<std::string> display_names(const cluster::Clusters& clusters) {
  std::vector<std::string> out;
  for (size_t k = 0; k < clusters.names.size(); ++k)
    out.push_back(clusters.names[k].empty() ? "cluster " + std::to_string(k) : clusters.names[k] + " (cluster " + std::to_string(k) + ")");
  return out;
}

// What synthesize reads and writes, for the output policy.
OutputPlan output_plan(const SynthesizeOptions& o, const std::string& partial) {
  return OutputPlan("synthesize")
      .input("--checkpoint", o.sampling.checkpoint)
      .input("--clusters", o.clusters)
      .input("--merge-file", o.merge_file)
      .output("--out", o.out)
      .output("--grid", o.grid)
      .partial(partial);
}

// --resume of a job that finished: refused when another job made the file.
void check_complete_is_this_job(const SynthesizeOptions& o, const std::string& identity) {
  const h5::File done = h5::File::open(o.out, h5::Mode::Read);
  require_same_job(o.out, identity, done.has_attribute("/", "identity") ? done.read_string_attribute("/", "identity") : "",
                   SavedRun::Complete);
}

}  // namespace

SynthesizeSummary synthesize(const SynthesizeOptions& o, comm::Communicator& comm, const nlohmann::json& provenance) {
  validate(o);
  const auto start_time = std::chrono::steady_clock::now();
  const StopCheck stop_check(o.time_limit, comm.rank());
  const cluster::Clusters clusters = cluster::read_clusters(o.clusters);
  const std::unique_ptr<Sampler> sampler_owner = sampler_for_clusters(o.sampling, clusters, o.clusters, "synthesize", comm);
  const Sampler& sampler = *sampler_owner;
  const std::string& checkpoint_sha = clusters.source.at("checkpoint_sha256").get_ref<const std::string&>();
  const stylegan2::Architecture& arch = sampler.generator().architecture();
  const int64_t size = o.size > 0 ? o.size : arch.resolution;

  const dataset::ClassMap classes =
      !o.merge.empty()        ? dataset::ClassMap::parse(o.merge, clusters.num_clusters())
      : !o.merge_file.empty() ? dataset::ClassMap::parse(dataset::read_merge_file(o.merge_file), clusters.num_clusters(), "--merge-file " + o.merge_file)
                              : dataset::ClassMap::identity(clusters.num_clusters(), display_names(clusters));
  // ---- the output policy, before the clusters file is hashed ----
  const dataset::DatasetLayout layout{o.count, size, size, arch.num_ws(), arch.w_dim, classes.needs_uint16(), o.compression};
  const OutputStart start = output_plan(o, partial_path_of(o.out))
                                .needs_bytes(dataset::planned_bytes(layout))
                                .decide({o.resume, o.force, !o.no_space_check}, comm);
  const at::Tensor colours = palette(classes.num_classes());
  const std::string clusters_sha = comm::decide_on_root(comm, [&] { return sha256_file(o.clusters); });
  const std::string identity = nlohmann::json{{"options", provenance}, {"checkpoint_sha256", checkpoint_sha},
                                              {"clusters_sha256", clusters_sha}, {"class_map", classes.to_string()},
                                              {"count", o.count}, {"size", size}, {"batch", o.batch}}.dump();

  // ---- the partial file: created afresh or resumed ----
  SynthesizeSummary summary;
  if (start == OutputStart::Complete) {
    comm::decide_on_root(comm, [&] { check_complete_is_this_job(o, identity); });
    log::info("--resume: {} is complete; nothing to do", o.out);
    summary.samples = o.count;
    return summary;
  }
  // Kept when the run fails or stops, for --resume, once it holds work (a file that could
  // not even be created, on a full disk, is removed).
  AtomicOutput output(o.out, kPartialToken);
  if (start == OutputStart::Resume) output.keep_on_failure();

  h5::File file = [&] {
    if (start == OutputStart::Resume) {
      try {
        return h5::File::open(output.temp_path(), h5::Mode::ReadWrite, comm::mpi_comm_of(comm));
      } catch (const InputError& e) {
        throw InputError(std::string(e.what()) + "; it cannot be resumed (--force starts afresh)");
      }
    }
    h5::File created = h5::File::create(output.temp_path(), comm::mpi_comm_of(comm));
    dataset::create_datasets(created, layout);
    nlohmann::json palette_json = nlohmann::json::array();
    for (int64_t c = 0; c < classes.num_classes(); ++c)
      palette_json.push_back({colours[c][0].item<int>(), colours[c][1].item<int>(), colours[c][2].item<int>()});
    const std::map<std::string, std::string> text{
        {"classes", nlohmann::json(classes.names()).dump()}, {"palette", palette_json.dump()},
        {"class_map", classes.to_string()}, {"clusters", o.clusters}, {"clusters_sha256", clusters_sha},
        {"checkpoint", o.sampling.checkpoint}, {"checkpoint_sha256", checkpoint_sha},
        {"feature_layer", sampler.options().feature_layer}, {"noise", o.sampling.noise}, {"options", provenance.dump()},
        {"styleseg_version", STYLESEG_VERSION}, {"identity", identity}};
    for (const auto& [name, value] : text) created.write_string_attribute("/", name, value);
    created.write_int_attribute("/", "ignore_label", classes.ignore_label());
    created.write_int_attribute("/", "size", size);
    created.write_int_attribute("/", "count", o.count);
    created.write_int_attribute("/", "seed", static_cast<int64_t>(o.sampling.seed));
    created.write_double_attribute("/", "truncation", o.sampling.truncation);
    created.write_int_attribute("/", "complete", 0);
    created.flush();
    return created;
  }();
  output.keep_on_failure();
  if (start == OutputStart::Resume) {
    require_same_job(output.temp_path(), identity,
                     file.has_attribute("/", "identity") ? file.read_string_attribute("/", "identity") : "");
  }

  // ---- the rounds: pending chunk j on rank j mod size ----
  const std::vector<uint8_t> done = file.read_all<uint8_t>("done");
  const int64_t already = std::count(done.begin(), done.end(), uint8_t{1});
  const int64_t batch = o.batch, chunks = (o.count + batch - 1) / batch;
  std::vector<int64_t> pending;
  for (int64_t c = 0; c < chunks; ++c)
    for (int64_t i = c * batch; i < std::min(o.count, (c + 1) * batch); ++i)
      if (!done[static_cast<size_t>(i)]) {
        pending.push_back(c);
        break;
      }
  if (start == OutputStart::Resume) log::info("resuming {}: {} of {} samples were done", output.temp_path(), already, o.count);
  const at::Tensor centroids = clusters.centroids.to(sampler.device());
  const int64_t rounds = (static_cast<int64_t>(pending.size()) + comm.size() - 1) / comm.size();
  Progress progress("synthesize", o.count, comm.rank() == 0);
  progress.advance(already);
  bool stopped = false;
  double write_seconds = 0, written_bytes = 0;  // this rank's share of the I/O, for the log
  for (int64_t round = 0; round < rounds; ++round) {
    fault_injection_point("synthesize-round", comm.rank(), round);
    const int64_t j = round * comm.size() + comm.rank();
    const bool has_chunk = j < static_cast<int64_t>(pending.size());
    const int64_t first = has_chunk ? pending[static_cast<size_t>(j)] * batch : 0;
    const int64_t n = has_chunk ? std::min(batch, o.count - first) : 0;
    at::Tensor images, masks, latents, flags;
    if (n > 0) {
      const SampleBatch b = sampler.make(first, n, /*resize_features=*/false);
      images = resize_pixels(b.images, size, size);
      const at::Tensor labels = cluster::assign_maps(clusters.project_maps(b.features), centroids, size).labels;
      masks = classes.apply(labels).to(at::kCPU, classes.needs_uint16() ? at::kInt : at::kByte);
      latents = b.ws;
      flags = at::ones({n}, at::kByte);
    }
    const auto write_start = std::chrono::steady_clock::now();
    // The round's last chunk is its highest (pending is in order): rows up to its end.
    const size_t last = static_cast<size_t>(std::min<int64_t>((round + 1) * comm.size(), static_cast<int64_t>(pending.size())) - 1);
    const int64_t needed = std::min(o.count, (pending[last] + 1) * batch);
    dataset::grow_datasets(file, needed, comm.size() * batch);
    h5::write_tensor_rows(file, "images", first, images);
    h5::write_tensor_rows(file, "masks", first, masks);
    h5::write_tensor_rows(file, "latents", first, latents);
    // Samples are marked done only once their data is on disk.
    file.flush();
    h5::write_tensor_rows(file, "done", first, flags);
    write_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - write_start).count();
    for (const at::Tensor* t : {&images, &masks, &latents, &flags})
      if (t->defined()) written_bytes += static_cast<double>(t->numel() * t->element_size());
    const int64_t done_now = allreduce_sum(comm, n);
    progress.advance(done_now);

    // Every rank votes (a stop signal, or rank 0's clock past --time-limit); one vote stops all.
    const double decision = round + 1 < rounds && stop_check.due() ? 1 : 0;
    if (comm::allreduce_max(comm, decision) > 0) {
      stopped = true;
      break;
    }
  }
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
  if (stopped) {
    file.close();
    summary.samples = progress.done();
    summary.complete = false;
    log::warn("stopped {} after {} of {} samples; run again with --resume to continue {}", stop_check.reason(),
              summary.samples, o.count, output.temp_path());
    return summary;
  }
  file.write_int_attribute("/", "complete", 1);
  file.close();
  comm.barrier();
  if (comm.rank() == 0) output.commit();
  comm.barrier();
  progress.finish();
  summary.samples = o.count;
  log::info("wrote {} samples ({}x{}, {} classes) to {} in {:.1f} s; rank 0 wrote {:.1f} MB in {:.2f} s of I/O "
            "(collective writes and flushes: {:.1f} MB/s)", o.count, size, size, classes.num_classes(), o.out,
            summary.seconds, written_bytes / 1e6, write_seconds, written_bytes / 1e6 / std::max(write_seconds, 1e-9));

  if (comm.rank() == 0 && !o.grid.empty()) {
    const h5::File done_file = h5::File::open(o.out, h5::Mode::Read);
    const int64_t shown = std::min<int64_t>(o.grid_count, o.count);
    write_png(o.grid, make_segmentation_preview(h5::read_tensor(done_file, "images", 0, shown),
                                                h5::read_tensor(done_file, "masks", 0, shown), colours, classes.names()));
    log::info("the first {} samples beside their masks: {}", shown, o.grid);
  }
  return summary;
}

}  // namespace styleseg::stages
