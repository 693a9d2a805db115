#include "stages/train_gan.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer includes it in LibTorch 2.x

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>

#include "core/device.h"
#include "core/phase_times.h"
#include "core/error.h"
#include "core/fault_injection.h"
#include "core/json_diff.h"
#include "core/log.h"
#include "core/stop_request.h"
#include "core/progress.h"
#include "core/seeding.h"
#include "dataset/reader.h"
#include "io/image.h"
#include "io/output_policy.h"
#include "io/visualize.h"
#include "models/stylegan2/checkpoint.h"
#include "models/stylegan2/discriminator.h"
#include "mpi/communicator.h"
#include "stages/gan_quality.h"
#include "sampling/sampler.h"
#include "train/gan_checkpoint.h"
#include "train/diff_augment.h"
#include "train/gan_losses.h"
#include "train/gradient_sync.h"
#include "train/keyed_images.h"
#include "train/metrics_log.h"
#include "train/optimizer.h"
#include "train/training_images.h"

namespace fs = std::filesystem;

namespace styleseg::stages {
namespace {

using Clock = std::chrono::steady_clock;

// A preset: the networks at `resolution` (the preset's table below it) and the defaults of
// the options left at -1.
struct Preset {
  stylegan2::Architecture g;
  std::map<int64_t, int64_t> d_channels;
  double lr = 0.002;
  double r1_gamma = -1;  // < 0: NVlabs' heuristic 0.0002 * R^2 / batch
  double pl_weight = 2;
};

Preset preset_for(const std::string& preset, int64_t resolution) {
  Preset n;
  // Measured on make-eyes images (tools/gan_eyes.sh, 500-700 steps, Frechet distance in a
  // segmenter's features): R1 gamma 10 (rosinality's default) 62 against 75 for NVlabs'
  // heuristic (0.1 here) and for 1, where D wins outright (D loss ~0.02, G loss ~10); NVlabs'
  // small-resolution lr 0.0025; no path-length term, which costs a double backward every 4
  // steps and serves interpolation smoothness more than a short run.
  const auto eye_recipe = [&n] {
    n.lr = 0.0025;
    n.r1_gamma = 10;
    n.pl_weight = 0;
  };
  std::map<int, int> table;
  int64_t native = 0;
  if (preset == "cpu64") {
    // Narrow enough for 2 CPU cores: 64x64, 128-wide latents, 4 mapping layers.
    native = 64;
    table = {{4, 128}, {8, 128}, {16, 64}, {32, 64}, {64, 32}};
    n.g.z_dim = n.g.w_dim = 128;
    n.g.mapping_layers = 4;
    eye_recipe();
  } else if (preset == "gpu128") {
    // The default eye job's next generator (issue 19): 128x128, the paper's feature size, 256
    // channels up to the 32x32 block and 128 at 64x64, the blocks that are clustered (cpu64
    // has 64 and 32 there); 256-wide latents and 8 mapping layers; the 128x128 block stays
    // narrow (64), as it only paints detail.
    native = 128;
    table = {{4, 256}, {8, 256}, {16, 256}, {32, 256}, {64, 128}, {128, 64}};
    n.g.z_dim = n.g.w_dim = 256;
    n.g.mapping_layers = 8;
    eye_recipe();
  } else if (preset == "gpu256") {
    // config-f's layout with channel multiplier 1 (rosinality's --channel_multiplier 1).
    native = 256;
    for (const auto& [res, ch] : stylegan2::default_channels(256, 1)) table[res] = ch;
    n.g.z_dim = n.g.w_dim = 512;
    n.g.mapping_layers = 8;
  } else {
    throw ConfigError("train-gan: --preset must be cpu64, gpu128 or gpu256, not '" + preset + "'");
  }
  n.g.resolution = static_cast<int>(resolution > 0 ? resolution : native);
  STYLESEG_CHECK(n.g.resolution >= 8 && n.g.resolution <= native && (n.g.resolution & (n.g.resolution - 1)) == 0, ConfigError,
                 "train-gan: --resolution must be a power of two from 8 to " + std::to_string(native) + " for preset " + preset);
  for (const auto& [res, ch] : table)
    if (res <= n.g.resolution) n.g.channels[res] = ch, n.d_channels[res] = ch;
  return n;
}

// One random stream per (step, purpose): every rank keys the same numbers by global sample.
uint64_t step_key(uint64_t seed, int64_t step, int purpose) {
  return mix64(seed + mix64(static_cast<uint64_t>(step) * 16 + static_cast<uint64_t>(purpose)));
}
enum Purpose {
  kDiscriminatorPass = 1, kGeneratorPass = 2, kPathLengthPass = 3, kDecisions = 4, kImages = 5,
  kAugmentReal = 6, kAugmentFakeForD = 7, kAugmentFakeForG = 8, kAugmentRealForR1 = 9
};

void set_requires_grad(const std::vector<at::Tensor>& tensors, bool on) {
  for (const at::Tensor& t : tensors) at::Tensor(t).requires_grad_(on);
}

// Adam for a network regularised every `every` steps, with the lazy-regularisation
// adjustment (StyleGAN2 appendix B): lr * k/(k+1) and betas ^ (k/(k+1)), k = every.
struct LazyAdam {
  train::OptimizerOptions options;
  double lr = 0;
};
LazyAdam lazy_adam(double lr, int64_t every) {
  const double ratio = static_cast<double>(every) / static_cast<double>(every + 1);
  LazyAdam adam;
  adam.options.kind = train::OptimizerKind::Adam;
  adam.options.weight_decay = 0;
  adam.options.beta1 = 0;
  adam.options.beta2 = std::pow(0.99, ratio);
  adam.lr = lr * ratio;
  return adam;
}

void write_sample_grid(const stylegan2::Generator& g_ema, uint64_t seed, const std::string& path, c10::Device device) {
  std::vector<int64_t> samples(16);
  for (int64_t i = 0; i < 16; ++i) samples[static_cast<size_t>(i)] = i;
  at::NoGradGuard no_grad;
  const uint64_t key = mix64(seed ^ 0x5a3b1e5ULL);
  const at::Tensor ws = g_ema.broadcast(g_ema.map(sampling::random_latents(g_ema.architecture().z_dim, key, samples, Stream::Latent).to(device)));
  write_png(path, make_grid(sampling::to_pixels(g_ema.synthesize(ws, stylegan2::Noise::constant()).image), 4, 2, 255));
}

// OUT.curves.png: D and G losses (running means) and, when measured, the quality figures.
void write_curves(const std::string& losses_path, const std::string& quality_path, const std::string& png) {
  Curve d_loss{"D loss", {}, {}, {31, 119, 180}}, g_loss{"G loss", {}, {}, {255, 127, 14}};
  for (const auto& r : train::MetricsLog::read(losses_path, /*drop_torn_tail=*/true)) {
    d_loss.x.push_back(r["step"]), d_loss.y.push_back(r["d_loss"]);
    g_loss.x.push_back(r["step"]), g_loss.y.push_back(r["g_loss"]);
  }
  std::vector<Curve> curves{running_mean(d_loss, "D loss (running mean)"), running_mean(g_loss, "G loss (running mean)")};
  if (!quality_path.empty()) {
    Curve frechet{"Frechet distance, segmenter features (real vs g_ema)", {}, {}, {214, 39, 40}};
    Curve shares{"pixel-share distance (mean over classes)", {}, {}, {44, 160, 44}};
    for (const auto& r : train::MetricsLog::read(quality_path, /*drop_torn_tail=*/true)) {
      frechet.x.push_back(r["step"]), frechet.y.push_back(r["frechet"]);
      shares.x.push_back(r["step"]), shares.y.push_back(r["share_distance"]);
    }
    curves.push_back(frechet);
    curves.push_back(shares);
  }
  write_png(png, plot_curves(curves));
}


// What the options and the preset decide together, before anything is loaded.
struct GanSettings {
  Preset nets;
  int64_t resolution = 0;
  int64_t per_rank = 0;             // samples of the global batch on each rank
  double lr = 0, pl_weight = 0, r1_gamma = 0;
  train::DiffAugmentPolicy augment;
  c10::Device device = c10::kCPU;
  TrainingPrecision precision;
};

// Throws ConfigError naming the option for values out of range.
void check_options(const TrainGanOptions& o, int ranks) {
  STYLESEG_CHECK(!o.data.empty() && !o.out.empty(), ConfigError, "train-gan: --data and --out are required");
  STYLESEG_CHECK(o.steps > 0 && o.batch > 0 && (o.lr > 0 || o.lr == -1), ConfigError,
                 "train-gan: --steps, --batch and --lr must be positive (--lr -1: the preset's)");
  STYLESEG_CHECK(o.r1_every > 0 && o.pl_every > 0 && o.checkpoint_every > 0 && o.sample_every > 0, ConfigError,
                 "train-gan: --r1-every, --pl-every, --checkpoint-every and --sample-every must be positive");
  STYLESEG_CHECK(o.mixing >= 0 && o.mixing <= 1 && (o.pl_weight >= 0 || o.pl_weight == -1) && o.ema_half_life > 0 && o.ema_rampup >= 0, ConfigError,
                 "train-gan: --mixing is a probability, --pl-weight >= 0, --ema-half-life > 0, --ema-rampup >= 0");
  STYLESEG_CHECK(o.quality_every > 0 && o.quality_samples >= 2, ConfigError,
                 "train-gan: --quality-every must be positive and --quality-samples at least 2");
  STYLESEG_CHECK(gan_batch_splits(o.batch, ranks), ConfigError,
                 "train-gan: --batch " + std::to_string(o.batch) + " must split evenly over the " + std::to_string(ranks) +
                     " ranks into per-rank batches of at most 4 or a multiple of 4 (the discriminator's minibatch-stddev groups)");
}

GanSettings settings_of(const TrainGanOptions& o, const comm::Communicator& comm) {
  GanSettings s;
  s.per_rank = o.batch / comm.size();
  s.device = resolve_device(o.device, comm.local_rank());
  s.precision = parse_training_precision(o.precision);
  STYLESEG_CHECK(s.precision.autocast == c10::ScalarType::Float, ConfigError,
                 "train-gan: --precision must be float32 or float64 (mixed precision is not implemented for the GAN)");
  s.nets = preset_for(o.preset, o.resolution);
  s.resolution = s.nets.g.resolution;
  s.lr = o.lr > 0 ? o.lr : s.nets.lr;
  s.pl_weight = o.pl_weight >= 0 ? o.pl_weight : s.nets.pl_weight;
  s.augment = train::parse_diff_augment(o.diff_augment, "diff-augment");
  const double r1_setting = o.r1_gamma >= 0 ? o.r1_gamma : s.nets.r1_gamma;
  s.r1_gamma = r1_setting >= 0 ? r1_setting : 0.0002 * static_cast<double>(s.resolution * s.resolution) / static_cast<double>(o.batch);
  return s;
}

// The three networks and where training stands: fresh (seeded) or from the checkpoint.
struct GanNetworks {
  GanNetworks(stylegan2::Generator generator, stylegan2::Discriminator discriminator)
      : g(std::move(generator)), g_ema(g.clone()), d(std::move(discriminator)) {}
  stylegan2::Generator g, g_ema;
  stylegan2::Discriminator d;
  int64_t step = 0;
  double path_mean = 0;                                         // path-length running mean
  std::vector<std::pair<std::string, at::Tensor>> g_optimizer, d_optimizer;  // saved states (resume)
};

GanNetworks fresh_or_resumed_networks(const TrainGanOptions& o, const GanSettings& s, const std::string& identity, bool resume) {
  at::manual_seed(o.seed);
  stylegan2::Generator g = stylegan2::init_generator(s.nets.g, o.seed);
  at::manual_seed(o.seed + 1);  // the discriminator's own stream (g_ema, a clone of g, draws nothing)
  GanNetworks n(std::move(g), stylegan2::Discriminator(s.resolution, s.nets.d_channels));
  if (!resume) return n;
  train::LoadedGan loaded = train::load_gan_checkpoint(o.out);
  require_same_job(o.out, identity, loaded.state.identity);
  n.g = std::move(loaded.g);
  n.g_ema = std::move(loaded.g_ema);
  n.d.load_state(loaded.d.state(), o.out);
  n.step = loaded.state.step;
  n.path_mean = loaded.state.path_length_mean;
  n.g_optimizer = loaded.state.g_optimizer;
  n.d_optimizer = loaded.state.d_optimizer;
  log::info("resuming {} at step {} of {}", o.out, n.step, o.steps);
  return n;
}

GanNetworks on_device(GanNetworks n, c10::Device device, c10::ScalarType dtype) {
  n.g.to(device, dtype);
  n.g_ema.to(device, dtype);
  n.d.to(device, dtype);
  return n;
}

// This rank's part of one step's batch: its global positions and its real images.
struct RankBatch {
  std::vector<int64_t> positions;
  at::Tensor real;
};

// One training run: the networks, their optimisers and logs, and the steps of the recipe
// (rosinality's train.py order: D, R1, G, path length, EMA).
class GanTrainer {
 public:
  GanTrainer(const TrainGanOptions& o, const GanSettings& s, const train::TrainingImages& images, const std::string& identity,
             bool resume, Clock::time_point start_time, const StopCheck& stop_check, comm::Communicator& comm);
  // Trains to --steps or until stopped (--time-limit, SIGUSR1).
  TrainGanSummary run();

 private:
  RankBatch next_batch();
  // D's inputs go through the step's augmentation for `purpose` (R1 included: its gradient is
  // taken with respect to the un-augmented real images, as DiffAugment and ADA do).
  at::Tensor discriminate(const at::Tensor& images, int purpose, const std::vector<int64_t>& samples);
  at::Tensor discriminator_step(const RankBatch& batch);  // logistic loss
  double r1_step(const RankBatch& batch);                 // lazy R1; returns the penalty
  at::Tensor generator_step(const RankBatch& batch);      // non-saturating loss
  double path_length_step(const RankBatch& batch);        // lazy path length; returns the mean length
  // One collective for the losses and the stop decision; logs the step. Returns true to stop.
  bool end_step(const at::Tensor& d_loss, const at::Tensor& g_loss, double r1, double path_length);
  void measure_quality();  // collective
  void save();             // collective
  void write_samples() const;

  const TrainGanOptions& o_;
  const GanSettings& s_;
  const train::TrainingImages& images_;
  const std::string identity_;
  const TrainGanFiles files_;
  comm::Communicator& comm_;
  const c10::Device device_;
  const bool resumed_;
  const Clock::time_point start_time_;
  const StopCheck& stop_check_;
  GanNetworks nets_;
  std::vector<at::Tensor> g_params_, d_params_, ema_params_;
  const LazyAdam g_adam_, d_adam_;
  train::Optimizer g_optim_, d_optim_;
  train::GradientSync g_sync_, d_sync_;
  std::optional<GanQualityProbe> quality_;
  std::optional<train::MetricsLog> losses_, quality_log_;  // rank 0
  std::vector<int64_t> pool_;       // every image index
  std::vector<int64_t> order_;      // this rank's share of the current epoch, shuffled once per epoch
  int64_t order_epoch_ = -1;
  TrainGanSummary summary_;
};

GanTrainer::GanTrainer(const TrainGanOptions& o, const GanSettings& s, const train::TrainingImages& images,
                       const std::string& identity, bool resume, Clock::time_point start_time, const StopCheck& stop_check,
                       comm::Communicator& comm)
    : o_(o),
      s_(s),
      images_(images),
      identity_(identity),
      files_(train_gan_files(o.out)),
      comm_(comm),
      device_(s.device),
      resumed_(resume),
      start_time_(start_time),
      stop_check_(stop_check),
      nets_(on_device(fresh_or_resumed_networks(o, s, identity, resume), s.device, s.precision.weights)),
      g_params_(nets_.g.trainable_weights()),
      d_params_(nets_.d.parameters()),
      ema_params_(nets_.g_ema.trainable_weights()),
      g_adam_(lazy_adam(s.lr, o.pl_every)),
      d_adam_(lazy_adam(s.lr, o.r1_every)),
      g_optim_(g_params_, g_adam_.options),
      d_optim_(d_params_, d_adam_.options),
      g_sync_(g_params_),
      d_sync_(d_params_) {
  set_requires_grad(g_params_, true);
  set_requires_grad(d_params_, true);
  train::GradientSync::broadcast(comm, g_params_);
  train::GradientSync::broadcast(comm, d_params_);
  train::GradientSync::broadcast(comm, ema_params_);
  if (resume) {
    g_optim_.load_state(nets_.g_optimizer, o.out);
    d_optim_.load_state(nets_.d_optimizer, o.out);
  }
  pool_.resize(static_cast<size_t>(images.size()));
  for (int64_t i = 0; i < images.size(); ++i) pool_[static_cast<size_t>(i)] = i;
  if (!o.quality_model.empty()) quality_.emplace(o.quality_model, images, o.quality_samples, o.seed, device_, comm);
  if (comm.rank() == 0) {
    fs::create_directories(files_.samples);
    losses_.emplace(files_.losses, resume ? nets_.step : -1,
                    std::vector<std::string>{"step", "d_loss", "g_loss", "r1", "path_length", "seconds"});
    if (quality_) {
      std::vector<std::string> columns{"step", "frechet", "share_distance"};
      for (const std::string& name : quality_->classes()) columns.push_back("share_" + name);
      quality_log_.emplace(files_.quality, resume ? nets_.step : -1, columns);
    }
  }
}

TrainGanSummary GanTrainer::run() {
  const TrainGanOptions& o = o_;
  log::info("training a {}x{} StyleGAN2 ({}) on {} images of {} ({} ranks, batch {} = {} per rank), {} steps, lr {:.3g}, R1 gamma {:.3g}, "
            "path length weight {:.3g}, DiffAugment {}",
            s_.resolution, s_.resolution, o.preset, images_.size(), o.data, comm_.size(), o.batch, s_.per_rank, o.steps, s_.lr,
            s_.r1_gamma, s_.pl_weight, s_.augment.any() ? o.diff_augment : "none");
  if (quality_ && !resumed_) measure_quality();

  Progress progress("train-gan", o.steps, comm_.rank() == 0, "steps");
  progress.advance(nets_.step);
  bool stopped = false;
  PhaseTimes phases(o.phase_times, device_);
  while (nets_.step < o.steps) {
    phases.start_step();
    const RankBatch batch = next_batch();
    phases.mark("data");
    const at::Tensor d_loss = discriminator_step(batch);
    phases.mark("discriminator");
    double r1 = std::nan("");
    if (nets_.step % o.r1_every == 0) {
      r1 = r1_step(batch);
      phases.mark("R1");
    }
    set_requires_grad(d_params_, false);
    const at::Tensor g_loss = generator_step(batch);
    phases.mark("generator");
    double path_length = std::nan("");
    if (nets_.step % o.pl_every == 0 && s_.pl_weight > 0) {
      path_length = path_length_step(batch);
      phases.mark("path length");
    }
    set_requires_grad(d_params_, true);
    train::ema_update(ema_params_, g_params_, train::ema_beta(o.batch, o.ema_half_life, o.ema_rampup, nets_.step * o.batch));
    ++nets_.step;
    phases.mark("EMA");
    stopped = end_step(d_loss, g_loss, r1, path_length);
    progress.advance(1);
    phases.mark("losses and stop check");
    const int64_t step = nets_.step;
    fault_injection_point("train-gan-step", comm_.rank(), step);
    if (quality_ && (step % o.quality_every == 0 || step == o.steps || stopped)) measure_quality();
    if (step == o.steps || stopped || step % o.checkpoint_every == 0) save();
    else if (step % o.sample_every == 0 && comm_.rank() == 0) write_samples();
    phases.mark("quality, checkpoints and samples");
    if (stopped) break;
  }
  if (phases.enabled()) {
    log::info("train-gan time {}", phases.summary());
    log::info("train-gan operations per step, most frequent: {}", phases.top_operations(25));
  }
  summary_.steps_done = nets_.step;
  summary_.seconds = std::chrono::duration<double>(Clock::now() - start_time_).count();
  if (stopped) {
    summary_.complete = false;
    log::warn("stopped {} after step {} of {}; --resume continues from {}", stop_check_.reason(), nets_.step, o.steps, o.out);
    return summary_;
  }
  progress.finish();
  log::info("trained {} steps in {:.1f} s: D loss {:.3f}, G loss {:.3f}; checkpoint {}, losses {}, sample grids in {}", nets_.step,
            summary_.seconds, summary_.d_loss, summary_.g_loss, o.out, files_.losses, files_.samples);
  return summary_;
}

RankBatch GanTrainer::next_batch() {
  const int64_t step = nets_.step;
  const int64_t steps_per_epoch = images_.size() / o_.batch;
  if (step / steps_per_epoch != order_epoch_) {
    order_epoch_ = step / steps_per_epoch;
    order_ = dataset::shard_epoch(pool_, order_epoch_, o_.seed, comm_.rank(), comm_.size());
  }
  RankBatch batch;
  std::vector<int64_t> real_indices;
  std::vector<bool> flips;
  const int64_t within = step % steps_per_epoch;
  for (int64_t j = 0; j < s_.per_rank; ++j) {
    const int64_t position = comm_.rank() + comm_.size() * j;
    batch.positions.push_back(position);
    real_indices.push_back(order_[static_cast<size_t>(within * s_.per_rank + j)]);
    flips.push_back(o_.flip && SampleRng(step_key(o_.seed, step, kImages), static_cast<uint64_t>(position), Stream::Generic).next_uniform() < 0.5);
  }
  batch.real = images_.batch(real_indices, flips).to(device_, s_.precision.weights);
  return batch;
}

at::Tensor GanTrainer::discriminate(const at::Tensor& images, int purpose, const std::vector<int64_t>& samples) {
  return nets_.d.forward(train::diff_augment(images, s_.augment, step_key(o_.seed, nets_.step, purpose), samples));
}

at::Tensor GanTrainer::discriminator_step(const RankBatch& batch) {
  at::Tensor fake;
  {
    at::NoGradGuard no_grad;
    fake = train::keyed_images(nets_.g, step_key(o_.seed, nets_.step, kDiscriminatorPass), batch.positions, o_.mixing, device_).images;
  }
  d_optim_.zero_grad();
  const at::Tensor d_loss = train::discriminator_logistic_loss(discriminate(batch.real, kAugmentReal, batch.positions),
                                                               discriminate(fake, kAugmentFakeForD, batch.positions));
  d_loss.backward();
  d_sync_.average(comm_);
  d_optim_.step(d_adam_.lr);
  return d_loss;
}

double GanTrainer::r1_step(const RankBatch& batch) {
  const at::Tensor real_grad = batch.real.detach().requires_grad_(true);
  const at::Tensor scores = discriminate(real_grad, kAugmentRealForR1, batch.positions);
  const at::Tensor r1 = train::r1_penalty(scores, real_grad);
  d_optim_.zero_grad();
  (r1 * (s_.r1_gamma / 2 * static_cast<double>(o_.r1_every)) + scores[0][0] * 0).backward();
  d_sync_.average(comm_);
  d_optim_.step(d_adam_.lr);
  return r1.item<double>();
}

at::Tensor GanTrainer::generator_step(const RankBatch& batch) {
  g_optim_.zero_grad();
  const at::Tensor fake =
      train::keyed_images(nets_.g, step_key(o_.seed, nets_.step, kGeneratorPass), batch.positions, o_.mixing, device_).images;
  const at::Tensor g_loss = train::generator_nonsaturating_loss(discriminate(fake, kAugmentFakeForG, batch.positions));
  g_loss.backward();
  g_sync_.average(comm_);
  g_optim_.step(g_adam_.lr);
  return g_loss;
}

double GanTrainer::path_length_step(const RankBatch& batch) {
  // Half the batch (rosinality's path_batch_shrink 2), at least one sample per rank.
  const std::vector<int64_t> few(batch.positions.begin(), batch.positions.begin() + std::max<int64_t>(1, s_.per_rank / 2));
  const uint64_t key = step_key(o_.seed, nets_.step, kPathLengthPass);
  const train::KeyedImages fake = train::keyed_images(nets_.g, key, few, o_.mixing, device_, /*ws_require_grad=*/true);
  at::Tensor noise = at::empty(fake.images.sizes(), at::kFloat);
  for (size_t j = 0; j < few.size(); ++j)
    SampleRng(key, static_cast<uint64_t>(few[j]), Stream::Generic)
        .fill_normal(noise[static_cast<int64_t>(j)].data_ptr<float>(), static_cast<size_t>(noise[0].numel()));
  // The running mean moves with the mean over all ranks' lengths.
  const train::PathLength pl =
      train::path_length_penalty(fake.images, fake.ws, noise.to(device_, s_.precision.weights), nets_.path_mean);
  at::Tensor mean_length = pl.lengths.mean().to(comm_.device(), at::kDouble).reshape({1});
  comm_.allreduce(mean_length);
  nets_.path_mean = nets_.path_mean + 0.01 * (mean_length.item<double>() / comm_.size() - nets_.path_mean);
  g_optim_.zero_grad();
  (pl.penalty * (s_.pl_weight * static_cast<double>(o_.pl_every)) + fake.images[0][0][0][0] * 0).backward();
  g_sync_.average(comm_);
  g_optim_.step(g_adam_.lr);
  return mean_length.item<double>() / comm_.size();
}

bool GanTrainer::end_step(const at::Tensor& d_loss, const at::Tensor& g_loss, double r1, double path_length) {
  at::Tensor shared = at::stack({d_loss.detach().to(at::kCPU, at::kDouble), g_loss.detach().to(at::kCPU, at::kDouble),
                                 at::scalar_tensor(stop_check_.due() ? 1.0 : 0.0, at::kDouble)})
                          .to(comm_.device());
  comm_.allreduce(shared);
  const at::Tensor host = shared.to(at::kCPU);
  summary_.d_loss = host[0].item<double>() / comm_.size();
  summary_.g_loss = host[1].item<double>() / comm_.size();
  if (losses_)
    losses_->append({{"step", nets_.step}, {"d_loss", summary_.d_loss}, {"g_loss", summary_.g_loss}, {"r1", r1},
                     {"path_length", path_length},
                     {"seconds", std::chrono::duration<double>(Clock::now() - start_time_).count()}});
  return host[2].item<double>() > 0 && nets_.step < o_.steps;
}

void GanTrainer::measure_quality() {
  const evaluate::QualityFigures figures = quality_->measure(nets_.g_ema, comm_);
  summary_.frechet = figures.frechet;
  summary_.share_distance = figures.share_distance;
  if (quality_log_) {
    nlohmann::json record{{"step", nets_.step}, {"frechet", figures.frechet}, {"share_distance", figures.share_distance}};
    for (size_t k = 0; k < quality_->classes().size(); ++k)
      record["share_" + quality_->classes()[k]] = figures.share_distance_per_class[k];
    quality_log_->append(record);
  }
  log::info("step {}: Frechet distance {:.3f}, pixel-share distance {:.4f} (segmenter {}, {} images)", nets_.step,
            figures.frechet, figures.share_distance, o_.quality_model, o_.quality_samples);
}

void GanTrainer::save() {
  if (comm_.rank() == 0) {
    train::GanTrainingState state{nets_.step, identity_, g_optim_.state(), d_optim_.state(), nets_.path_mean, o_.seed};
    train::save_gan_checkpoint(o_.out, nets_.g, nets_.g_ema, nets_.d, state);
    write_samples();
    write_curves(files_.losses, quality_ ? files_.quality : "", files_.curves);
  }
  comm_.barrier();
}

void GanTrainer::write_samples() const {
  write_sample_grid(nets_.g_ema, o_.seed, files_.samples + "/step_" + std::to_string(nets_.step) + ".png", device_);
}

}  // namespace

bool gan_batch_splits(int64_t batch, int ranks) {
  if (ranks <= 0 || batch % ranks != 0) return false;
  const int64_t per_rank = batch / ranks;
  return per_rank <= 4 || per_rank % 4 == 0;
}

TrainGanFiles train_gan_files(const std::string& out) {
  const std::string stem = fs::path(out).replace_extension("").string();
  return {stem + ".losses.csv", stem + ".quality.csv", stem + ".curves.png", stem + ".samples"};
}

TrainGanSummary train_gan(const TrainGanOptions& o, comm::Communicator& comm, const nlohmann::json& provenance) {
  check_options(o, comm.size());
  const auto start_time = Clock::now();
  const StopCheck stop_check(o.time_limit, comm.rank());
  const GanSettings settings = settings_of(o, comm);
  const train::TrainingImages images(o.data, settings.resolution);
  STYLESEG_CHECK(images.size() >= o.batch, ConfigError,
                 "train-gan: --batch " + std::to_string(o.batch) + " is larger than the " + std::to_string(images.size()) +
                     " images of " + o.data);
  const std::string identity =
      nlohmann::json{{"options", provenance}, {"batch", o.batch}, {"images", images.size()}, {"resolution", settings.resolution}}
          .dump();
  const TrainGanFiles files = train_gan_files(o.out);
  // OUT is the checkpoint: --resume continues it (to --steps; a finished one is exported again).
  const bool resume = OutputPlan("train-gan")
                          .input("--data", o.data)
                          .input("--quality-model", o.quality_model)
                          .output("--out", o.out)
                          .output("its losses", files.losses)
                          .output("its quality figures", files.quality)
                          .output("its curves", files.curves)
                          .output_folder("its samples", files.samples)
                          .partial(o.out)
                          .decide({o.resume, o.force}, comm) == OutputStart::Resume;
  GanTrainer trainer(o, settings, images, identity, resume, start_time, stop_check, comm);
  return trainer.run();
}

}  // namespace styleseg::stages
