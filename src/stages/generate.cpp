#include "stages/generate.h"

#include <ATen/ATen.h>

#include <chrono>
#include <filesystem>
#include <map>

#include "core/device.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/seeding.h"
#include "core/sha256.h"
#include "io/atomic_output.h"
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

using stylegan2::Generator;
using stylegan2::Noise;

void validate(const GenerateOptions& o) {
  STYLESEG_CHECK(!o.checkpoint.empty(), ConfigError, "generate: --checkpoint is required");
  STYLESEG_CHECK(!o.out.empty(), ConfigError, "generate: --out is required");
  STYLESEG_CHECK(o.latents.empty() ? o.count > 0 : o.count >= 0, ConfigError,
                 "generate: --count must be positive (or give --latents)");
  STYLESEG_CHECK(o.batch > 0, ConfigError, "generate: --batch must be positive, got " + std::to_string(o.batch));
  STYLESEG_CHECK(o.truncation >= 0.0 && o.truncation <= 2.0, ConfigError,
                 "generate: --truncation must be in [0, 2], got " + std::to_string(o.truncation));
  STYLESEG_CHECK(o.noise == "const" || o.noise == "random" || o.noise == "none", ConfigError,
                 "generate: --noise must be const, random or none, got '" + o.noise + "'");
  STYLESEG_CHECK(o.feature_size >= 0, ConfigError, "generate: --feature-size must be >= 0");
  STYLESEG_CHECK(o.compression >= 0 && o.compression <= 9, ConfigError, "generate: --compression must be 0..9");
  STYLESEG_CHECK(o.truncation_samples > 0, ConfigError, "generate: --truncation-samples must be positive");
  STYLESEG_CHECK(o.grid_count > 0, ConfigError, "generate: --grid-count must be positive");
  STYLESEG_CHECK(o.time_limit >= 0, ConfigError, "generate: --time-limit must be >= 0 seconds");
  STYLESEG_CHECK(o.resume_interval > 0, ConfigError, "generate: --resume-interval must be positive");
  STYLESEG_CHECK(o.feature_grid.empty() || !o.feature_layer.empty(), ConfigError,
                 "generate: --feature-grid needs --feature-layer");
}

// Where the latents of a sample come from: (seed, i), or rows of an HDF5 file.
class LatentSource {
 public:
  LatentSource(const GenerateOptions& o, const stylegan2::Architecture& arch) : options_(o), arch_(arch) {
    if (o.latents.empty()) {
      count_ = o.count;
      kind_ = "z";
      return;
    }
    file_.emplace(h5::File::open(o.latents, h5::Mode::Read));
    if (file_->exists("z")) kind_ = "z";
    else if (file_->exists("w")) kind_ = "w";
    else throw InputError(o.latents + ": has neither a 'z' nor a 'w' dataset");
    const auto shape = file_->info(kind_).shape;
    const int64_t width = kind_ == "z" ? arch.z_dim : arch.w_dim;
    const bool ok = (shape.size() == 2 && shape[1] == width) ||
                    (kind_ == "w" && shape.size() == 3 && shape[1] == arch.num_ws() && shape[2] == width);
    if (!ok)
      throw InputError(o.latents + ": dataset '" + kind_ + "' must be [N, " + std::to_string(width) + "]" +
                       (kind_ == "w" ? " or [N, " + std::to_string(arch.num_ws()) + ", " + std::to_string(width) + "]" : "") +
                       " for this generator");
    per_layer_ = shape.size() == 3;
    count_ = o.count > 0 ? o.count : shape[0];
    if (count_ > shape[0])
      throw ConfigError("generate: --count " + std::to_string(count_) + " exceeds the " + std::to_string(shape[0]) +
                        " latents in " + o.latents);
  }
  int64_t count() const { return count_; }
  bool has_z() const { return kind_ == "z"; }

  // z [n, z_dim] (CPU float32) or undefined when the file holds w.
  at::Tensor z(int64_t start, int64_t n) const {
    if (!has_z()) return {};
    if (!options_.latents.empty()) return read_rows("z", start, n);
    return draw(start, n, Stream::Latent);
  }
  // w [n, w_dim] or [n, num_ws, w_dim] when the file holds w.
  at::Tensor w(int64_t start, int64_t n) const { return read_rows("w", start, n); }
  bool w_per_layer() const { return per_layer_; }

  at::Tensor draw(int64_t start, int64_t n, Stream stream) const {
    at::Tensor z = at::empty({n, arch_.z_dim}, at::kFloat);
    for (int64_t i = 0; i < n; ++i)
      SampleRng(options_.seed, static_cast<uint64_t>(start + i), stream).fill_normal(z[i].data_ptr<float>(), arch_.z_dim);
    return z;
  }

 private:
  at::Tensor read_rows(const std::string& name, int64_t start, int64_t n) const {
    return h5::read_tensor(*file_, name, start, n).to(at::kFloat);
  }
  const GenerateOptions& options_;
  std::optional<h5::File> file_;  // the --latents file, opened once
  const stylegan2::Architecture& arch_;
  int64_t count_ = 0;
  std::string kind_;
  bool per_layer_ = false;
};

// Per-layer noise of samples [start, start+n) from (seed, i): layer after layer, each
// sample's own stream, so it is independent of batching.
std::vector<at::Tensor> random_noise(const stylegan2::Architecture& arch, uint64_t seed, int64_t start, int64_t n) {
  std::vector<at::Tensor> layers;
  for (int layer = 0; layer < arch.num_conv_layers(); ++layer) {
    const int64_t res = arch.conv_layer_resolution(layer);
    layers.push_back(at::empty({n, 1, res, res}, at::kFloat));
  }
  for (int64_t i = 0; i < n; ++i) {
    SampleRng rng(seed, static_cast<uint64_t>(start + i), Stream::Noise);
    for (auto& layer : layers) rng.fill_normal(layer[i].data_ptr<float>(), static_cast<size_t>(layer[i].numel()));
  }
  return layers;
}

struct BatchResult {
  at::Tensor images;    // uint8 [n, H, W, 3]
  at::Tensor z;         // float32 [n, z_dim] or undefined
  at::Tensor ws;        // float32 [n, num_ws, w_dim]
  at::Tensor raw;       // float32 [n, 3, H, W] or undefined
  at::Tensor features;  // float32 [n, C, h, w] or undefined
};


BatchResult make_batch(const Generator& generator, const LatentSource& source, const GenerateOptions& options,
                       const at::Tensor& truncation_centre, const std::optional<stylegan2::FeatureLayer>& feature_layer,
                       int64_t feat_res, int64_t start, int64_t n) {
  const stylegan2::Architecture& arch = generator.architecture();
  const c10::Device device = generator.device();
  const c10::ScalarType dtype = generator.dtype();
  BatchResult out;
  at::Tensor ws;
  out.z = source.z(start, n);
  if (out.z.defined()) {
    ws = generator.broadcast(generator.map(out.z));
  } else {
    at::Tensor w = source.w(start, n).to(device, dtype);
    ws = source.w_per_layer() ? w : generator.broadcast(w);
  }
  ws = ws.to(device, dtype);
  if (options.mixing_crossover >= 0) {
    at::Tensor ws_mix = generator.broadcast(generator.map(source.draw(start, n, Stream::MixingLatent)));
    ws = generator.mix(ws, ws_mix.to(device, dtype), options.mixing_crossover);
  }
  if (options.truncation != 1.0) ws = generator.truncate(ws, options.truncation, truncation_centre);
  const Noise noise = options.noise == "const" ? Noise::constant()
                      : options.noise == "none" ? Noise::none()
                                                : Noise::explicit_tensors(random_noise(arch, options.seed, start, n));
  stylegan2::SynthesisResult result;
  {
    at::NoGradGuard no_grad;
    result = generator.synthesize(ws, noise, feature_layer ? feature_layer->conv_layer : -1);
  }
  at::Tensor image = result.image.to(at::kCPU, at::kFloat);
  out.images = (image * 127.5 + 128.0).clamp(0, 255).to(at::kByte).permute({0, 2, 3, 1}).contiguous();
  out.ws = ws.to(at::kCPU, at::kFloat).contiguous();
  if (options.save_raw) out.raw = image.contiguous();
  if (feature_layer) {
    at::Tensor f = result.features;
    if (feat_res != f.size(2)) f = at::upsample_bilinear2d(f.to(at::kFloat), {feat_res, feat_res}, /*align_corners=*/true);
    out.features = f.to(at::kCPU, at::kFloat).contiguous();
  }
  return out;
}

// The number of batches a partial file from an interrupted run of the same job holds
// (0: none, or not resumable: another job's file, or a damaged one, is started afresh).
int64_t resume_point(const std::string& partial, const std::string& identity, int64_t batches) {
  if (!fs::exists(partial)) return 0;
  try {
    h5::File file = h5::File::open(partial, h5::Mode::Read);
    if (!file.has_attribute("/", "resume_identity") || file.read_string_attribute("/", "resume_identity") != identity) {
      log::warn("{} was written by a different job (options, checkpoint or generator differ): starting afresh", partial);
      return 0;
    }
    return std::clamp<int64_t>(file.read_int_attribute("/", "batches_done"), 0, batches);
  } catch (const std::exception& e) {
    log::warn("{} cannot be resumed ({}): starting afresh", partial, e.what());
    return 0;
  }
}

h5::File create_output(const std::string& path, comm::Communicator& comm, const GenerateOptions& options,
                       const stylegan2::Architecture& arch, bool has_z,
                       const std::optional<stylegan2::FeatureLayer>& feature_layer, int64_t feat_res, int64_t count,
                       const std::map<std::string, std::string>& attributes) {
  h5::File file = h5::File::create(path, comm::mpi_comm_of(comm));
  auto dataset = [&](const std::string& name, h5::DType type, std::vector<int64_t> shape) {
    std::vector<int64_t> chunk = shape;
    chunk[0] = 1;  // one sample per chunk: readers take samples, not whole datasets
    file.create_dataset(name, type, shape, chunk, options.compression);
  };
  const int64_t res = arch.resolution;
  dataset("images", h5::DType::U8, {count, res, res, 3});
  if (has_z) dataset("z", h5::DType::F32, {count, arch.z_dim});
  dataset("w", h5::DType::F32, {count, arch.num_ws(), arch.w_dim});
  if (options.save_raw) dataset("raw", h5::DType::F32, {count, 3, res, res});
  if (feature_layer) dataset("features", h5::DType::F32, {count, feature_layer->channels, feat_res, feat_res});
  file.write_string_attribute("/", "image_convention", "uint8 = clamp(x * 127.5 + 128, 0, 255), x the generator output in about [-1, 1]");
  if (feature_layer) {
    file.write_string_attribute("/", "feature_layer", options.feature_layer);
    file.write_string_attribute("/", "feature_layer_rosinality", feature_layer->rosinality_name);
    file.write_string_attribute("/", "feature_layer_nvlabs", feature_layer->nvlabs_name);
  }
  for (const auto& [name, value] : attributes) file.write_string_attribute("/", name, value);
  file.write_int_attribute("/", "batches_done", 0);
  return file;
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
  const c10::Device device = resolve_device(options.device, comm.local_rank());
  const c10::ScalarType dtype = parse_precision(options.precision);

  stylegan2::LoadOptions load_options;
  load_options.lr_mapping = options.lr_mapping;
  load_options.conv_clamp = options.conv_clamp;
  Generator generator = stylegan2::load_generator(options.checkpoint, load_options);
  const stylegan2::Architecture& arch = generator.architecture();
  std::optional<stylegan2::FeatureLayer> feature_layer;
  if (!options.feature_layer.empty()) feature_layer = stylegan2::resolve_feature_layer(options.feature_layer, arch);
  STYLESEG_CHECK(options.mixing_crossover < arch.num_ws(), ConfigError,
                 "generate: --mixing-crossover must be below num_ws = " + std::to_string(arch.num_ws()));

  at::Tensor truncation_centre;
  if (options.truncation != 1.0) {
    if (generator.has_average_latent()) {
      truncation_centre = generator.average_latent();
    } else {
      log::info("{} stores no average latent; estimating it from {} samples", options.checkpoint, options.truncation_samples);
      truncation_centre = generator.estimate_average_latent(options.truncation_samples, options.seed);
    }
  }
  generator.to(device, dtype);

  LatentSource source(options, arch);
  const int64_t count = source.count();
  const int64_t batch = options.batch;
  const int64_t batches = (count + batch - 1) / batch;
  const int64_t feat_res = feature_layer ? (options.feature_size > 0 ? options.feature_size : feature_layer->resolution) : 0;

  log::info("generator {} ({} layout) on {}, {}", options.checkpoint, stylegan2::layout_name(generator.layout()),
            device.str(), arch.describe());
  if (feature_layer)
    log::info("features: conv layer {} = {} = {} ({} channels, {}x{} -> {}x{})", feature_layer->conv_layer,
              feature_layer->rosinality_name, feature_layer->nvlabs_name, feature_layer->channels,
              feature_layer->resolution, feature_layer->resolution, feat_res, feat_res);

  // ---- output: OUT.tmp.partial, created or resumed collectively ----
  std::string checkpoint_sha;
  if (comm.rank() == 0) checkpoint_sha = sha256_file(options.checkpoint);
  checkpoint_sha = comm::broadcast_string(comm, checkpoint_sha, 0);
  const nlohmann::json generator_info = {{"layout", stylegan2::layout_name(generator.layout())},
                                         {"resolution", arch.resolution}, {"z_dim", arch.z_dim}, {"w_dim", arch.w_dim},
                                         {"num_ws", arch.num_ws()}, {"mapping_layers", arch.mapping_layers},
                                         {"lr_mapping", generator.settings().lr_mapping}};
  // What a partial file must have been written with to be continued.
  const std::string identity = nlohmann::json{{"options", provenance}, {"checkpoint_sha256", checkpoint_sha},
                                              {"generator", generator_info}, {"count", count}, {"batch", batch}}.dump();
  AtomicOutput output(options.out, "partial");
  output.keep_on_failure();
  const int64_t resume_from = std::stoll(comm::broadcast_string(
      comm, comm.rank() == 0 ? std::to_string(resume_point(output.temp_path(), identity, batches)) : "", 0));
  const std::map<std::string, std::string> attributes{
      {"styleseg_version", STYLESEG_VERSION}, {"checkpoint", options.checkpoint},
      {"checkpoint_sha256", checkpoint_sha},  {"generator", generator_info.dump()},
      {"options", provenance.dump()},         {"resume_identity", identity}};
  h5::File file = resume_from > 0
      ? h5::File::open(output.temp_path(), h5::Mode::ReadWrite, comm::mpi_comm_of(comm))
      : create_output(output.temp_path(), comm, options, arch, source.has_z(), feature_layer, feat_res, count, attributes);
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
    const BatchResult out = n > 0 ? make_batch(generator, source, options, truncation_centre, feature_layer, feat_res, start, n)
                                  : BatchResult{};
    // Every rank takes part in every write; a rank with no batch passes undefined tensors (zero rows).
    h5::write_tensor_rows(file, "images", start, out.images);
    if (source.has_z()) h5::write_tensor_rows(file, "z", start, out.z);
    h5::write_tensor_rows(file, "w", start, out.ws);
    if (options.save_raw) h5::write_tensor_rows(file, "raw", start, out.raw);
    if (feature_layer) h5::write_tensor_rows(file, "features", start, out.features);
    if (!options.png_dir.empty())
      for (int64_t i = 0; i < n; ++i)
        write_png((fs::path(options.png_dir) / ("sample_" + std::to_string(start + i) + ".png")).string(), out.images[i]);
    const int64_t done_batches = std::min(batches, resume_from + (round + 1) * comm.size());
    progress.advance(std::min(count, done_batches * batch) - progress.done());

    // Rank 0's clock decides, for every rank alike, when to record a resume point and when
    // --time-limit says to stop.
    const auto now = std::chrono::steady_clock::now();
    double decision = 0;  // 1: record a resume point, 2: record it and stop
    if (comm.rank() == 0 && round + 1 < rounds) {
      if (options.time_limit > 0 && std::chrono::duration<double>(now - start_time).count() > options.time_limit) decision = 2;
      else if (std::chrono::duration<double>(now - last_flush).count() > options.resume_interval) decision = 1;
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
    log::warn("stopped at --time-limit after {} of {} samples; run the same command again to resume from {}",
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
