#include "stages/synthesize.h"

#include <ATen/ATen.h>

#include <chrono>
#include <filesystem>
#include <map>

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
#include "stages/sampler_for_clusters.h"

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

// The class map applied to cluster labels: --merge, --merge-file, or one class per cluster.
dataset::ClassMap class_map_of(const SynthesizeOptions& o, const cluster::Clusters& clusters) {
  if (!o.merge.empty()) return dataset::ClassMap::parse(o.merge, clusters.num_clusters());
  if (!o.merge_file.empty())
    return dataset::ClassMap::parse(dataset::read_merge_file(o.merge_file), clusters.num_clusters(), "--merge-file " + o.merge_file);
  return dataset::ClassMap::identity(clusters.num_clusters(), display_names(clusters));
}

// The palette as JSON rows of RGB, for the file's attributes.
std::string palette_json(const at::Tensor& colours) {
  nlohmann::json rows = nlohmann::json::array();
  for (int64_t c = 0; c < colours.size(0); ++c)
    rows.push_back({colours[c][0].item<int>(), colours[c][1].item<int>(), colours[c][2].item<int>()});
  return rows.dump();
}

// What the file says about itself beyond its datasets (text attributes of the root; the
// identity is what --resume compares).
struct FileHeader {
  std::map<std::string, std::string> text;
  int64_t ignore_label = 0, size = 0, count = 0, seed = 0;
  double truncation = 1;
};

// A new partial file: the datasets (their rows allocated as rounds need them) and the header,
// on disk before any sample is written.
h5::File create_partial(const std::string& path, comm::Communicator& comm, const dataset::DatasetLayout& layout,
                        const FileHeader& header) {
  h5::File file = h5::File::create(path, comm::mpi_comm_of(comm));
  dataset::create_datasets(file, layout);
  for (const auto& [name, value] : header.text) file.write_string_attribute("/", name, value);
  file.write_int_attribute("/", "ignore_label", header.ignore_label);
  file.write_int_attribute("/", "size", header.size);
  file.write_int_attribute("/", "count", header.count);
  file.write_int_attribute("/", "seed", header.seed);
  file.write_double_attribute("/", "truncation", header.truncation);
  file.write_int_attribute("/", "complete", 0);
  file.flush();
  return file;
}

// The partial file of a stopped run, reopened for --resume: it must be this job's.
h5::File reopen_partial(const std::string& path, comm::Communicator& comm, const std::string& identity) {
  h5::File file = [&] {
    try {
      return h5::File::open(path, h5::Mode::ReadWrite, comm::mpi_comm_of(comm));
    } catch (const InputError& e) {
      throw InputError(std::string(e.what()) + "; it cannot be resumed (--force starts afresh)");
    }
  }();
  require_same_job(path, identity, file.has_attribute("/", "identity") ? file.read_string_attribute("/", "identity") : "");
  return file;
}

// The chunks (of `batch` samples, in order) that hold a sample not yet done.
std::vector<int64_t> pending_chunks(const std::vector<uint8_t>& done, int64_t count, int64_t batch) {
  std::vector<int64_t> pending;
  for (int64_t c = 0; c * batch < count; ++c)
    for (int64_t i = c * batch; i < std::min(count, (c + 1) * batch); ++i)
      if (!done[static_cast<size_t>(i)]) {
        pending.push_back(c);
        break;
      }
  return pending;
}

// One chunk's rows, or none (undefined tensors) when a rank has no chunk in a round.
struct ChunkRows {
  at::Tensor images, masks, latents, flags;
};

// What a chunk's rows are made from.
struct ChunkMaker {
  const sampling::Sampler& sampler;
  const cluster::Clusters& clusters;
  const at::Tensor centroids;  // on the sampler's device
  const dataset::ClassMap& classes;
  const int64_t size;

  // Samples [first, first + n): images at `size`, cluster labels through the class map as
  // masks, their latents, and their done flags.
  ChunkRows make(int64_t first, int64_t n) const {
    const sampling::SampleBatch b = sampler.make(first, n, /*resize_features=*/false);
    const at::Tensor labels = cluster::assign_maps(clusters.project_maps(b.features), centroids, size).labels;
    return {resize_pixels(b.images, size, size),
            classes.apply(labels).to(at::kCPU, classes.needs_uint16() ? at::kInt : at::kByte), b.ws, at::ones({n}, at::kByte)};
  }
};

// Collective: every rank's rows of a round at `first` (ranks without a chunk write none). The
// samples are marked done only once their data is on disk. Returns this rank's bytes.
double write_round(h5::File& file, int64_t first, const ChunkRows& rows) {
  h5::write_tensor_rows(file, "images", first, rows.images);
  h5::write_tensor_rows(file, "masks", first, rows.masks);
  h5::write_tensor_rows(file, "latents", first, rows.latents);
  file.flush();
  h5::write_tensor_rows(file, "done", first, rows.flags);
  double bytes = 0;
  for (const at::Tensor* t : {&rows.images, &rows.masks, &rows.latents, &rows.flags})
    if (t->defined()) bytes += static_cast<double>(t->numel() * t->element_size());
  return bytes;
}

// This rank's share of the rounds' I/O, for the log, and whether a stop vote ended them.
struct RoundsDone {
  bool stopped = false;
  double write_seconds = 0, written_bytes = 0;
};

// Collective: the pending chunks, chunk j on rank j mod size, round after round, until all are
// written or a rank votes to stop (a stop signal, or rank 0's clock past --time-limit).
RoundsDone write_pending(h5::File& file, const std::vector<int64_t>& pending, const ChunkMaker& maker, int64_t count,
                         int64_t batch, const StopCheck& stop_check, Progress& progress, comm::Communicator& comm) {
  RoundsDone out;
  const int64_t rounds = (static_cast<int64_t>(pending.size()) + comm.size() - 1) / comm.size();
  for (int64_t round = 0; round < rounds; ++round) {
    fault_injection_point("synthesize-round", comm.rank(), round);
    const int64_t j = round * comm.size() + comm.rank();
    const bool has_chunk = j < static_cast<int64_t>(pending.size());
    const int64_t first = has_chunk ? pending[static_cast<size_t>(j)] * batch : 0;
    const int64_t n = has_chunk ? std::min(batch, count - first) : 0;
    const ChunkRows rows = n > 0 ? maker.make(first, n) : ChunkRows{};
    const auto write_start = std::chrono::steady_clock::now();
    // The round's last chunk is its highest (pending is in order): rows up to its end.
    const size_t last = static_cast<size_t>(std::min<int64_t>((round + 1) * comm.size(), static_cast<int64_t>(pending.size())) - 1);
    dataset::grow_datasets(file, std::min(count, (pending[last] + 1) * batch), comm.size() * batch);
    out.written_bytes += write_round(file, first, rows);
    out.write_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - write_start).count();
    progress.advance(allreduce_sum(comm, n));
    // One vote stops all.
    const double decision = round + 1 < rounds && stop_check.due() ? 1 : 0;
    if (comm::allreduce_max(comm, decision) > 0) {
      out.stopped = true;
      break;
    }
  }
  return out;
}

// What a partial file must carry to be resumed by this job.
std::string identity_of(const SynthesizeOptions& o, const nlohmann::json& provenance, const std::string& checkpoint_sha,
                        const std::string& clusters_sha, const dataset::ClassMap& classes, int64_t size) {
  return nlohmann::json{{"options", provenance}, {"checkpoint_sha256", checkpoint_sha}, {"clusters_sha256", clusters_sha},
                        {"class_map", classes.to_string()}, {"count", o.count}, {"size", size}, {"batch", o.batch}}
      .dump();
}

// The first samples beside their masks (rank 0, from the finished file).
void write_grid(const SynthesizeOptions& o, const at::Tensor& colours, const dataset::ClassMap& classes) {
  const h5::File done_file = h5::File::open(o.out, h5::Mode::Read);
  const int64_t shown = std::min<int64_t>(o.grid_count, o.count);
  write_png(o.grid, make_segmentation_preview(h5::read_tensor(done_file, "images", 0, shown),
                                              h5::read_tensor(done_file, "masks", 0, shown), colours, classes.names()));
  log::info("the first {} samples beside their masks: {}", shown, o.grid);
}

}  // namespace

SynthesizeSummary synthesize(const SynthesizeOptions& o, comm::Communicator& comm, const nlohmann::json& provenance) {
  validate(o);
  const auto start_time = std::chrono::steady_clock::now();
  const StopCheck stop_check(o.time_limit, comm.rank());
  const cluster::Clusters clusters = cluster::read_clusters(o.clusters);
  const std::unique_ptr<sampling::Sampler> sampler_owner = sampler_for_clusters(o.sampling, clusters, o.clusters, "synthesize", comm);
  const sampling::Sampler& sampler = *sampler_owner;
  const std::string& checkpoint_sha = clusters.source.at("checkpoint_sha256").get_ref<const std::string&>();
  const stylegan2::Architecture& arch = sampler.generator().architecture();
  const int64_t size = o.size > 0 ? o.size : arch.resolution;
  const dataset::ClassMap classes = class_map_of(o, clusters);

  // The output policy before the clusters file is hashed.
  const dataset::DatasetLayout layout{o.count, size, size, arch.num_ws(), arch.w_dim, classes.needs_uint16(), o.compression};
  const OutputStart start = output_plan(o, partial_path_of(o.out))
                                .needs_bytes(dataset::planned_bytes(layout))
                                .decide({o.resume, o.force, !o.no_space_check}, comm);
  const at::Tensor colours = palette(classes.num_classes());
  const std::string clusters_sha = comm::decide_on_root(comm, [&] { return sha256_file(o.clusters); });
  const std::string identity = identity_of(o, provenance, checkpoint_sha, clusters_sha, classes, size);
  SynthesizeSummary summary;
  if (start == OutputStart::Complete) {
    comm::decide_on_root(comm, [&] { check_complete_is_this_job(o, identity); });
    log::info("--resume: {} is complete; nothing to do", o.out);
    summary.samples = o.count;
    return summary;
  }

  // The partial file, kept when the run fails or stops, for --resume, once it holds work (a
  // file that could not even be created, on a full disk, is removed).
  AtomicOutput output(o.out, kPartialToken);
  if (start == OutputStart::Resume) output.keep_on_failure();
  const FileHeader header{{{"classes", nlohmann::json(classes.names()).dump()}, {"palette", palette_json(colours)},
                           {"class_map", classes.to_string()}, {"clusters", o.clusters}, {"clusters_sha256", clusters_sha},
                           {"checkpoint", o.sampling.checkpoint}, {"checkpoint_sha256", checkpoint_sha},
                           {"feature_layer", sampler.options().feature_layer}, {"noise", name_of(o.sampling.noise)},
                           {"options", provenance.dump()}, {"styleseg_version", STYLESEG_VERSION}, {"identity", identity}},
                          classes.ignore_label(), size, o.count, static_cast<int64_t>(o.sampling.seed), o.sampling.truncation};
  h5::File file = start == OutputStart::Resume ? reopen_partial(output.temp_path(), comm, identity)
                                               : create_partial(output.temp_path(), comm, layout, header);
  output.keep_on_failure();

  const std::vector<uint8_t> done = file.read_all<uint8_t>("done");
  const int64_t already = std::count(done.begin(), done.end(), uint8_t{1});
  if (start == OutputStart::Resume) log::info("resuming {}: {} of {} samples were done", output.temp_path(), already, o.count);
  Progress progress("synthesize", o.count, comm.rank() == 0);
  progress.advance(already);
  const ChunkMaker maker{sampler, clusters, clusters.centroids.to(sampler.device()), classes, size};
  const RoundsDone rounds =
      write_pending(file, pending_chunks(done, o.count, o.batch), maker, o.count, o.batch, stop_check, progress, comm);
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
  if (rounds.stopped) {  // the partial file stays for --resume
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
            summary.seconds, rounds.written_bytes / 1e6, rounds.write_seconds,
            rounds.written_bytes / 1e6 / std::max(rounds.write_seconds, 1e-9));
  if (comm.rank() == 0 && !o.grid.empty()) write_grid(o, colours, classes);
  return summary;
}

}  // namespace styleseg::stages
