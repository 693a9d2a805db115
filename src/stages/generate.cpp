#include "stages/generate.h"

#include <ATen/ATen.h>

#include <chrono>
#include <filesystem>
#include <map>

#include "core/device.h"
#include "core/error.h"
#include "core/json_diff.h"
#include "core/log.h"
#include "core/stop_request.h"
#include "core/progress.h"
#include "core/seeding.h"
#include "core/sha256.h"
#include "io/atomic_output.h"
#include "io/output_policy.h"
#include "io/h5.h"
#include "io/h5_tensor.h"
#include "io/image.h"
#include "io/visualize.h"
#include "mpi/communicator.h"
#include "mpi/mpi_io.h"
#include "models/stylegan2/checkpoint.h"
#include "models/stylegan2/feature_layer.h"

namespace fs = std::filesystem;

namespace styleseg::stages {
namespace {

void validate(const GenerateOptions& o) {
  validate(o.sampling, "generate");
  STYLESEG_CHECK(!o.out.empty(), ConfigError, "generate: --out is required");
  STYLESEG_CHECK(o.sampling.latents.empty() ? o.count > 0 : o.count >= 0, ConfigError,
                 "generate: --count must be positive (or give --latents)");
  STYLESEG_CHECK(o.batch > 0, ConfigError, "generate: --batch must be positive, got " + std::to_string(o.batch));
  STYLESEG_CHECK(o.compression >= 0 && o.compression <= 9, ConfigError, "generate: --compression must be 0..9");
  STYLESEG_CHECK(o.grid_count > 0, ConfigError, "generate: --grid-count must be positive");
  STYLESEG_CHECK(o.time_limit >= 0, ConfigError, "generate: --time-limit must be >= 0 seconds");
  STYLESEG_CHECK(o.resume_interval > 0, ConfigError, "generate: --resume-interval must be positive");
  STYLESEG_CHECK(o.feature_grid.empty() || !o.sampling.feature_layer.empty(), ConfigError,
                 "generate: --feature-grid needs --feature-layer");
}

// Refuses --resume of a file another job wrote, naming the first difference.
void check_same_job(const h5::File& file, const std::string& path, const std::string& identity) {
  require_same_job(path, identity,
                   file.has_attribute("/", "resume_identity") ? file.read_string_attribute("/", "resume_identity") : "");
}

// The number of batches the partial file of a stopped run of the same job holds. Throws
// ConfigError naming the first option or input that differs when another job wrote it, and
// InputError when it cannot be read.
int64_t resume_point(const std::string& partial, const std::string& identity, int64_t batches) {
  h5::File file = h5::File::open(partial, h5::Mode::Read);
  check_same_job(file, partial, identity);
  return std::clamp<int64_t>(file.read_int_attribute("/", "batches_done"), 0, batches);
}

h5::File create_output(const std::string& path, comm::Communicator& comm, const GenerateOptions& options,
                       const stylegan2::Architecture& arch, bool has_z,
                       const std::optional<stylegan2::FeatureLayer>& feature_layer, int64_t feat_res, int64_t count,
                       const std::map<std::string, std::string>& attributes) {
  h5::File file = h5::File::create(path, comm::mpi_comm_of(comm));
  auto dataset = [&](const std::string& name, h5::DType type, std::vector<int64_t> shape) {
    std::vector<int64_t> chunk = shape;
    chunk[0] = 1;  // one sample per chunk: readers take samples, not whole datasets
    // Grows: rows get their storage block by block as the rounds reach them (grow_ahead
    // below), not all at creation.
    file.create_dataset(name, type, shape, chunk, options.compression, h5::Allocation::Incremental, h5::Extent::Grows);
  };
  const int64_t res = arch.resolution;
  dataset("images", h5::DType::U8, {count, res, res, 3});
  if (has_z) dataset("z", h5::DType::F32, {count, arch.z_dim});
  dataset("w", h5::DType::F32, {count, arch.num_ws(), arch.w_dim});
  if (options.save_raw) dataset("raw", h5::DType::F32, {count, 3, res, res});
  if (feature_layer) dataset("features", h5::DType::F32, {count, feature_layer->channels, feat_res, feat_res});
  file.write_string_attribute("/", "image_convention", "uint8 = clamp(x * 127.5 + 128, 0, 255), x the generator output in about [-1, 1]");
  if (feature_layer) {
    file.write_string_attribute("/", "feature_layer", options.sampling.feature_layer);
    file.write_string_attribute("/", "feature_layer_rosinality", feature_layer->rosinality_name);
    file.write_string_attribute("/", "feature_layer_nvlabs", feature_layer->nvlabs_name);
  }
  for (const auto& [name, value] : attributes) file.write_string_attribute("/", name, value);
  file.write_int_attribute("/", "batches_done", 0);
  return file;
}

// The size of an uncompressed output (0: compressed, not known before it is written).
double planned_bytes(const GenerateOptions& o, const stylegan2::Architecture& arch, bool has_z,
                     const std::optional<stylegan2::FeatureLayer>& feature_layer, int64_t feat_res, int64_t count) {
  if (o.compression > 0) return 0;
  const double pixels = static_cast<double>(arch.resolution) * arch.resolution;
  double sample = pixels * 3 + 4.0 * arch.num_ws() * arch.w_dim;  // images uint8, w float32
  if (has_z) sample += 4.0 * arch.z_dim;
  if (o.save_raw) sample += 4 * 3 * pixels;
  if (feature_layer) sample += 4.0 * feature_layer->channels * feat_res * feat_res;
  return sample * static_cast<double>(count);
}

// What generate reads and writes, for the output policy.
OutputPlan output_plan(const GenerateOptions& o, const std::string& partial) {
  return OutputPlan("generate")
      .input("--checkpoint", o.sampling.checkpoint)
      .input("--latents", o.sampling.latents)
      .output("--out", o.out)
      .output("--grid", o.grid)
      .output("--feature-grid", o.feature_grid)
      .output_folder("--png-dir", o.png_dir)
      .partial(partial);
}

// --resume of a job that finished: nothing to do, once the file is known to be this job's.
GenerateSummary already_complete(const GenerateOptions& o, const std::string& identity, int64_t count, comm::Communicator& comm) {
  comm::decide_on_root(comm, [&] {
    check_same_job(h5::File::open(o.out, h5::Mode::Read), o.out, identity);
  });
  log::info("--resume: {} is complete ({} samples); nothing to do", o.out, count);
  GenerateSummary summary;
  summary.samples = count;
  return summary;
}

// Pictures from the finished file (rank 0 reads back what every rank wrote).
void write_pictures(const GenerateOptions& options, int64_t count) {
  if (options.grid.empty() && options.feature_grid.empty()) return;
  h5::File done = h5::File::open(options.out, h5::Mode::Read);
  const int64_t shown = std::min<int64_t>(options.grid_count, count);
  if (!options.grid.empty()) {
    write_png(options.grid, make_grid(h5::read_tensor(done, "images", 0, shown), 0, 2, 255));
    log::info("grid of {} samples: {}", shown, options.grid);
  }
  if (!options.feature_grid.empty()) {
    write_png(options.feature_grid, make_grid(features_to_rgb(h5::read_tensor(done, "features", 0, shown)), 0, 2, 255));
    log::info("features of {} samples (3 principal components as RGB): {}", shown, options.feature_grid);
  }
}

}  // namespace

GenerateSummary generate(const GenerateOptions& options, comm::Communicator& comm, const nlohmann::json& provenance) {
  validate(options);
  const auto start_time = std::chrono::steady_clock::now();
  const StopCheck stop_check(options.time_limit, comm.rank());
  const sampling::Sampler sampler(options.sampling, comm.local_rank());
  const stylegan2::Architecture& arch = sampler.generator().architecture();
  const std::optional<stylegan2::FeatureLayer>& feature_layer = sampler.feature_layer();
  const int64_t available = sampler.latent_rows();
  if (available > 0 && options.count > available)
    throw ConfigError("generate: --count " + std::to_string(options.count) + " exceeds the " + std::to_string(available) +
                      " latents in " + options.sampling.latents);
  const int64_t count = available > 0 && options.count == 0 ? available : options.count;
  const int64_t batch = options.batch;
  const int64_t batches = (count + batch - 1) / batch;
  const int64_t feat_res = sampler.feature_size();

  log::info("generator {} ({} layout) on {}, {}", options.sampling.checkpoint,
            stylegan2::layout_name(sampler.generator().layout()), sampler.device().str(), arch.describe());
  if (feature_layer)
    log::info("features: conv layer {} = {} = {} ({} channels, {}x{} -> {}x{})", feature_layer->conv_layer,
              feature_layer->rosinality_name, feature_layer->nvlabs_name, feature_layer->channels,
              feature_layer->resolution, feature_layer->resolution, feat_res, feat_res);

  // ---- output: OUT.tmp.partial, created or resumed collectively ----
  // Decided before the checkpoint is hashed: a refused output costs no pass over a large file.
  const OutputStart start =
      output_plan(options, partial_path_of(options.out))
          .needs_bytes(planned_bytes(options, arch, sampler.has_z(), feature_layer, feat_res, count))
          .decide({options.resume, options.force, !options.no_space_check}, comm);
  const std::string checkpoint_sha = comm::decide_on_root(comm, [&] { return sha256_file(options.sampling.checkpoint); });
  const nlohmann::json generator_info = sampler.describe();
  // What a partial file must have been written with to be continued.
  const std::string identity = nlohmann::json{{"options", provenance}, {"checkpoint_sha256", checkpoint_sha},
                                              {"generator", generator_info}, {"count", count}, {"batch", batch}}.dump();
  if (start == OutputStart::Complete) return already_complete(options, identity, count, comm);
  // Kept when the run fails or stops, for --resume, once it holds work (a file that could
  // not even be created, on a full disk, is removed).
  AtomicOutput output(options.out, kPartialToken);
  if (start == OutputStart::Resume) output.keep_on_failure();
  const int64_t resume_from = start == OutputStart::Fresh ? 0 : comm::decide_on_root(comm, [&] {
    return resume_point(output.temp_path(), identity, batches);
  });
  const std::map<std::string, std::string> attributes{
      {"styleseg_version", STYLESEG_VERSION}, {"checkpoint", options.sampling.checkpoint},
      {"checkpoint_sha256", checkpoint_sha},  {"generator", generator_info.dump()},
      {"options", provenance.dump()},         {"resume_identity", identity}};
  h5::File file = resume_from > 0
      ? h5::File::open(output.temp_path(), h5::Mode::ReadWrite, comm::mpi_comm_of(comm))
      : create_output(output.temp_path(), comm, options, arch, sampler.has_z(), feature_layer, feat_res, count, attributes);
  output.keep_on_failure();
  if (resume_from > 0) log::info("resuming {}: {} of {} batches were done", output.temp_path(), resume_from, batches);
  if (!options.png_dir.empty()) fs::create_directories(options.png_dir);

  // ---- the rounds: batch (resume_from + round * size + rank) on each rank, written collectively ----
  const int64_t rounds = (batches - resume_from + comm.size() - 1) / comm.size();
  Progress progress("generate", count, comm.rank() == 0);
  progress.advance(std::min(count, resume_from * batch));
  auto last_flush = std::chrono::steady_clock::now();
  bool stopped = false;
  for (int64_t round = 0; round < rounds; ++round) {
    const int64_t b = resume_from + round * comm.size() + comm.rank();
    const int64_t start = std::min(b * batch, count);
    const int64_t n = b < batches ? std::min(batch, count - start) : 0;
    const sampling::SampleBatch out = n > 0 ? sampler.make(start, n) : sampling::SampleBatch{};
    const int64_t done_batches = std::min(batches, resume_from + (round + 1) * comm.size());
    const int64_t needed = std::min(count, done_batches * batch);
    file.grow_ahead({"images", "z", "w", "raw", "features"}, needed, comm.size() * batch);
    // Every rank takes part in every write; a rank with no batch passes undefined tensors (zero rows).
    h5::write_tensor_rows(file, "images", start, out.images);
    if (sampler.has_z()) h5::write_tensor_rows(file, "z", start, out.z);
    h5::write_tensor_rows(file, "w", start, out.ws);
    if (options.save_raw) h5::write_tensor_rows(file, "raw", start, out.raw);
    if (feature_layer) h5::write_tensor_rows(file, "features", start, n > 0 ? out.features.cpu() : at::Tensor());
    if (!options.png_dir.empty())
      for (int64_t i = 0; i < n; ++i)
        write_png((fs::path(options.png_dir) / ("sample_" + std::to_string(start + i) + ".png")).string(), out.images[i]);
    progress.advance(std::min(count, done_batches * batch) - progress.done());

    // Rank 0's clock decides, for every rank alike, when to record a resume point; a stop
    // (--time-limit, or a stop signal on any rank) records it and stops.
    const auto now = std::chrono::steady_clock::now();
    double decision = 0;  // 1: record a resume point, 2: record it and stop
    if (round + 1 < rounds) {
      if (stop_check.due()) decision = 2;
      else if (comm.rank() == 0 && std::chrono::duration<double>(now - last_flush).count() > options.resume_interval) decision = 1;
    }
    decision = comm::allreduce_max(comm, decision);
    if (decision > 0) {
      file.write_int_attribute("/", "batches_done", done_batches);
      file.flush();
      last_flush = now;
    }
    if (decision == 2) {
      stopped = true;
      break;
    }
  }
  GenerateSummary summary;
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
  if (stopped) {
    file.close();
    summary.samples = std::min(count, progress.done());
    summary.complete = false;
    log::warn("stopped {} after {} of {} samples; run it again with --resume to continue from {}", stop_check.reason(),
              summary.samples, count, output.temp_path());
    return summary;
  }
  file.write_int_attribute("/", "batches_done", batches);
  file.close();
  comm.barrier();
  if (comm.rank() == 0) output.commit();
  comm.barrier();
  progress.finish();

  if (comm.rank() == 0) write_pictures(options, count);
  summary.samples = count;
  log::info("wrote {} samples to {} in {:.1f} s", count, options.out, summary.seconds);
  return summary;
}

}  // namespace styleseg::stages
