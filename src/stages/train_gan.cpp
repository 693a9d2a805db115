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
#include "stages/sampler.h"
#include "train/gan_checkpoint.h"
#include "train/diff_augment.h"
#include "train/gan_losses.h"
#include "train/gradient_sync.h"
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
  adam.options.kind = "adam";
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
  const at::Tensor ws = g_ema.broadcast(g_ema.map(random_latents(g_ema.architecture().z_dim, key, samples, Stream::Latent).to(device)));
  write_png(path, make_grid(to_pixels(g_ema.synthesize(ws, stylegan2::Noise::constant()).image), 4, 2, 255));
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
  STYLESEG_CHECK(!o.data.empty() && !o.out.empty(), ConfigError, "train-gan: --data and --out are required");
  STYLESEG_CHECK(o.steps > 0 && o.batch > 0 && (o.lr > 0 || o.lr == -1), ConfigError,
                 "train-gan: --steps, --batch and --lr must be positive (--lr -1: the preset's)");
  STYLESEG_CHECK(o.r1_every > 0 && o.pl_every > 0 && o.checkpoint_every > 0 && o.sample_every > 0, ConfigError,
                 "train-gan: --r1-every, --pl-every, --checkpoint-every and --sample-every must be positive");
  STYLESEG_CHECK(o.mixing >= 0 && o.mixing <= 1 && (o.pl_weight >= 0 || o.pl_weight == -1) && o.ema_half_life > 0 && o.ema_rampup >= 0, ConfigError,
                 "train-gan: --mixing is a probability, --pl-weight >= 0, --ema-half-life > 0, --ema-rampup >= 0");
  STYLESEG_CHECK(o.quality_every > 0 && o.quality_samples >= 2, ConfigError,
                 "train-gan: --quality-every must be positive and --quality-samples at least 2");
  STYLESEG_CHECK(gan_batch_splits(o.batch, comm.size()), ConfigError,
                 "train-gan: --batch " + std::to_string(o.batch) + " must split evenly over the " + std::to_string(comm.size()) +
                     " ranks into per-rank batches of at most 4 or a multiple of 4 (the discriminator's minibatch-stddev groups)");
  const int64_t per_rank = o.batch / comm.size();
  const auto start_time = Clock::now();
  const StopCheck stop_check(o.time_limit, comm.rank());
  const c10::Device device = resolve_device(o.device, comm.local_rank());
  const TrainingPrecision precision = parse_training_precision(o.precision);
  STYLESEG_CHECK(precision.autocast == c10::ScalarType::Float, ConfigError,
                 "train-gan: --precision must be float32 or float64 (mixed precision is not implemented for the GAN)");
  const Preset nets = preset_for(o.preset, o.resolution);
  const double lr = o.lr > 0 ? o.lr : nets.lr;
  const double pl_weight = o.pl_weight >= 0 ? o.pl_weight : nets.pl_weight;
  const double r1_setting = o.r1_gamma >= 0 ? o.r1_gamma : nets.r1_gamma;
  const int64_t resolution = nets.g.resolution;
  const train::DiffAugmentPolicy augment = train::parse_diff_augment(o.diff_augment, "diff-augment");
  const double r1_gamma = r1_setting >= 0 ? r1_setting : 0.0002 * static_cast<double>(resolution * resolution) / static_cast<double>(o.batch);
  const train::TrainingImages images(o.data, resolution);
  STYLESEG_CHECK(images.size() >= o.batch, ConfigError,
                 "train-gan: --batch " + std::to_string(o.batch) + " is larger than the " + std::to_string(images.size()) +
                     " images of " + o.data);
  std::vector<int64_t> pool(static_cast<size_t>(images.size()));
  for (int64_t i = 0; i < images.size(); ++i) pool[static_cast<size_t>(i)] = i;
  const int64_t steps_per_epoch = images.size() / o.batch;
  const std::string identity =
      nlohmann::json{{"options", provenance}, {"batch", o.batch}, {"images", images.size()}, {"resolution", resolution}}.dump();

  const TrainGanFiles files = train_gan_files(o.out);
  const std::string &losses_path = files.losses, &quality_path = files.quality, &curves_path = files.curves,
                    &samples_dir = files.samples;
  // OUT is the checkpoint: --resume continues it (to --steps; a finished one is exported again).
  const bool resume = OutputPlan("train-gan")
                          .input("--data", o.data)
                          .input("--quality-model", o.quality_model)
                          .output("--out", o.out)
                          .output("its losses", losses_path)
                          .output("its quality figures", quality_path)
                          .output("its curves", curves_path)
                          .output_folder("its samples", samples_dir)
                          .partial(o.out)
                          .decide({o.resume, o.force}, comm) == OutputStart::Resume;

  // ---- networks and optimisers: fresh (seeded) or from the checkpoint ----
  at::manual_seed(o.seed);
  stylegan2::Generator g = stylegan2::init_generator(nets.g, o.seed);
  stylegan2::Generator g_ema = g.clone();
  at::manual_seed(o.seed + 1);
  stylegan2::Discriminator d(resolution, nets.d_channels);
  int64_t step = 0;
  double path_mean = 0;
  std::vector<std::pair<std::string, at::Tensor>> g_state, d_state;
  if (resume) {
    train::LoadedGan loaded = train::load_gan_checkpoint(o.out);
    require_same_job(o.out, identity, loaded.state.identity);
    g = std::move(loaded.g);
    g_ema = std::move(loaded.g_ema);
    d.load_state(loaded.d.state(), o.out);
    step = loaded.state.step;
    path_mean = loaded.state.path_length_mean;
    g_state = loaded.state.g_optimizer;
    d_state = loaded.state.d_optimizer;
    log::info("resuming {} at step {} of {}", o.out, step, o.steps);
  }
  g.to(device, precision.weights);
  g_ema.to(device, precision.weights);
  d.to(device, precision.weights);
  const std::vector<at::Tensor> g_params = g.trainable_weights(), d_params = d.parameters(), ema_params = g_ema.trainable_weights();
  set_requires_grad(g_params, true);
  set_requires_grad(d_params, true);
  train::GradientSync::broadcast(comm, g_params);
  train::GradientSync::broadcast(comm, d_params);
  train::GradientSync::broadcast(comm, ema_params);
  const LazyAdam g_adam = lazy_adam(lr, o.pl_every), d_adam = lazy_adam(lr, o.r1_every);
  train::Optimizer g_optim(g_params, g_adam.options), d_optim(d_params, d_adam.options);
  if (resume) {
    g_optim.load_state(g_state, o.out);
    d_optim.load_state(d_state, o.out);
  }
  train::GradientSync g_sync(g_params), d_sync(d_params);
  // D sees every image through the step's augmentation for that purpose (R1 included: its
  // gradient is taken with respect to the un-augmented real images, as DiffAugment and ADA do).
  auto discriminate = [&](const at::Tensor& images, int purpose, const std::vector<int64_t>& samples) {
    return d.forward(train::diff_augment(images, augment, step_key(o.seed, step, purpose), samples));
  };

  std::optional<GanQualityProbe> quality;
  if (!o.quality_model.empty()) quality.emplace(o.quality_model, images, o.quality_samples, o.seed, device, comm);
  std::optional<train::MetricsLog> losses, quality_log;
  if (comm.rank() == 0) {
    fs::create_directories(samples_dir);
    losses.emplace(losses_path, resume ? step : -1,
                   std::vector<std::string>{"step", "d_loss", "g_loss", "r1", "path_length", "seconds"});
    if (quality) {
      std::vector<std::string> columns{"step", "frechet", "share_distance"};
      for (const std::string& name : quality->classes()) columns.push_back("share_" + name);
      quality_log.emplace(quality_path, resume ? step : -1, columns);
    }
  }
  log::info("training a {}x{} StyleGAN2 ({}) on {} images of {} ({} ranks, batch {} = {} per rank), {} steps, lr {:.3g}, R1 gamma {:.3g}, "
            "path length weight {:.3g}, DiffAugment {}",
            resolution, resolution, o.preset, images.size(), o.data, comm.size(), o.batch, per_rank, o.steps, lr, r1_gamma, pl_weight,
            augment.any() ? o.diff_augment : "none");

  TrainGanSummary summary;
  auto measure_quality = [&] {  // collective
    const evaluate::QualityFigures figures = quality->measure(g_ema, comm);
    summary.frechet = figures.frechet;
    summary.share_distance = figures.share_distance;
    if (quality_log) {
      nlohmann::json record{{"step", step}, {"frechet", figures.frechet}, {"share_distance", figures.share_distance}};
      for (size_t k = 0; k < quality->classes().size(); ++k)
        record["share_" + quality->classes()[k]] = figures.share_distance_per_class[k];
      quality_log->append(record);
    }
    log::info("step {}: Frechet distance {:.3f}, pixel-share distance {:.4f} (segmenter {}, {} images)", step, figures.frechet,
              figures.share_distance, o.quality_model, o.quality_samples);
  };
  auto save = [&] {
    if (comm.rank() == 0) {
      train::GanTrainingState state{step, identity, g_optim.state(), d_optim.state(), path_mean, o.seed};
      train::save_gan_checkpoint(o.out, g, g_ema, d, state);
      write_sample_grid(g_ema, o.seed, samples_dir + "/step_" + std::to_string(step) + ".png", device);
      write_curves(losses_path, quality ? quality_path : "", curves_path);
    }
    comm.barrier();
  };
  if (quality && !resume) measure_quality();

  Progress progress("train-gan", o.steps, comm.rank() == 0, "steps");
  progress.advance(step);
  bool stopped = false;
  std::vector<int64_t> order;  // this rank's share of the current epoch, shuffled once per epoch
  int64_t order_epoch = -1;
  PhaseTimes phases(o.phase_times, device);
  while (step < o.steps) {
    phases.start_step();
    // This rank's global positions in the step's batch, and its real images.
    if (step / steps_per_epoch != order_epoch) {
      order_epoch = step / steps_per_epoch;
      order = dataset::shard_epoch(pool, order_epoch, o.seed, comm.rank(), comm.size());
    }
    std::vector<int64_t> positions, real_indices;
    const int64_t within = step % steps_per_epoch;
    std::vector<bool> flips;
    for (int64_t j = 0; j < per_rank; ++j) {
      const int64_t position = comm.rank() + comm.size() * j;
      positions.push_back(position);
      real_indices.push_back(order[static_cast<size_t>(within * per_rank + j)]);
      flips.push_back(o.flip && SampleRng(step_key(o.seed, step, kImages), static_cast<uint64_t>(position), Stream::Generic).next_uniform() < 0.5);
    }
    const at::Tensor real = images.batch(real_indices, flips).to(device, precision.weights);
    phases.mark("data");

    // ---- discriminator: logistic loss (and R1 every r1_every steps) ----
    at::Tensor d_loss;
    {
      at::Tensor fake;
      {
        at::NoGradGuard no_grad;
        fake = keyed_images(g, step_key(o.seed, step, kDiscriminatorPass), positions, o.mixing, device).images;
      }
      d_optim.zero_grad();
      d_loss = train::discriminator_logistic_loss(discriminate(real, kAugmentReal, positions),
                                                  discriminate(fake, kAugmentFakeForD, positions));
      d_loss.backward();
      d_sync.average(comm);
      d_optim.step(d_adam.lr);
    }
    phases.mark("discriminator");
    double r1_value = std::nan("");
    if (step % o.r1_every == 0) {
      const at::Tensor real_grad = real.detach().requires_grad_(true);
      const at::Tensor scores = discriminate(real_grad, kAugmentRealForR1, positions);
      const at::Tensor r1 = train::r1_penalty(scores, real_grad);
      d_optim.zero_grad();
      (r1 * (r1_gamma / 2 * static_cast<double>(o.r1_every)) + scores[0][0] * 0).backward();
      d_sync.average(comm);
      d_optim.step(d_adam.lr);
      r1_value = r1.item<double>();
      phases.mark("R1");
    }

    // ---- generator: non-saturating loss (and path length every pl_every steps) ----
    set_requires_grad(d_params, false);
    g_optim.zero_grad();
    const at::Tensor g_loss = train::generator_nonsaturating_loss(discriminate(
        keyed_images(g, step_key(o.seed, step, kGeneratorPass), positions, o.mixing, device).images, kAugmentFakeForG, positions));
    g_loss.backward();
    g_sync.average(comm);
    g_optim.step(g_adam.lr);
    phases.mark("generator");
    double path_value = std::nan("");
    if (step % o.pl_every == 0 && pl_weight > 0) {
      // Half the batch (rosinality's path_batch_shrink 2), at least one sample per rank.
      const std::vector<int64_t> few(positions.begin(), positions.begin() + std::max<int64_t>(1, per_rank / 2));
      const uint64_t key = step_key(o.seed, step, kPathLengthPass);
      const KeyedImages fake = keyed_images(g, key, few, o.mixing, device, /*ws_require_grad=*/true);
      at::Tensor noise = at::empty(fake.images.sizes(), at::kFloat);
      for (size_t j = 0; j < few.size(); ++j)
        SampleRng(key, static_cast<uint64_t>(few[j]), Stream::Generic)
            .fill_normal(noise[static_cast<int64_t>(j)].data_ptr<float>(), static_cast<size_t>(noise[0].numel()));
      // The running mean moves with the mean over all ranks' lengths.
      const train::PathLength pl = train::path_length_penalty(fake.images, fake.ws, noise.to(device, precision.weights), path_mean);
      at::Tensor mean_length = pl.lengths.mean().to(comm.device(), at::kDouble).reshape({1});
      comm.allreduce(mean_length);
      path_mean = path_mean + 0.01 * (mean_length.item<double>() / comm.size() - path_mean);
      g_optim.zero_grad();
      (pl.penalty * (pl_weight * static_cast<double>(o.pl_every)) + fake.images[0][0][0][0] * 0).backward();
      g_sync.average(comm);
      g_optim.step(g_adam.lr);
      path_value = mean_length.item<double>() / comm.size();
      phases.mark("path length");
    }
    set_requires_grad(d_params, true);
    train::ema_update(ema_params, g_params, train::ema_beta(o.batch, o.ema_half_life, o.ema_rampup, step * o.batch));
    ++step;
    phases.mark("EMA");

    // One collective for the log and the stop decision.
    at::Tensor shared = at::stack({d_loss.detach().to(at::kCPU, at::kDouble), g_loss.detach().to(at::kCPU, at::kDouble),
                                   at::scalar_tensor(stop_check.due() ? 1.0 : 0.0, at::kDouble)})
                            .to(comm.device());
    comm.allreduce(shared);
    const at::Tensor host = shared.to(at::kCPU);
    summary.d_loss = host[0].item<double>() / comm.size();
    summary.g_loss = host[1].item<double>() / comm.size();
    stopped = host[2].item<double>() > 0 && step < o.steps;
    if (losses)
      losses->append({{"step", step}, {"d_loss", summary.d_loss}, {"g_loss", summary.g_loss}, {"r1", r1_value},
                      {"path_length", path_value}, {"seconds", std::chrono::duration<double>(Clock::now() - start_time).count()}});
    progress.advance(1);
    phases.mark("losses and stop check");
    fault_injection_point("train-gan-step", comm.rank(), step);
    if (quality && (step % o.quality_every == 0 || step == o.steps || stopped)) measure_quality();
    if (step == o.steps || stopped || step % o.checkpoint_every == 0) save();
    else if (step % o.sample_every == 0 && comm.rank() == 0)
      write_sample_grid(g_ema, o.seed, samples_dir + "/step_" + std::to_string(step) + ".png", device);
    phases.mark("quality, checkpoints and samples");
    if (stopped) break;
  }
  if (phases.enabled()) {
    log::info("train-gan time {}", phases.summary());
    log::info("train-gan operations per step, most frequent: {}", phases.top_operations(25));
  }
  summary.steps_done = step;
  summary.seconds = std::chrono::duration<double>(Clock::now() - start_time).count();
  if (stopped) {
    summary.complete = false;
    log::warn("stopped {} after step {} of {}; --resume continues from {}", stop_check.reason(), step, o.steps, o.out);
    return summary;
  }
  progress.finish();
  log::info("trained {} steps in {:.1f} s: D loss {:.3f}, G loss {:.3f}; checkpoint {}, losses {}, sample grids in {}", step,
            summary.seconds, summary.d_loss, summary.g_loss, o.out, losses_path, samples_dir);
  return summary;
}

}  // namespace styleseg::stages
