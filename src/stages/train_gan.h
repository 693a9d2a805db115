// Stage 7, train-gan: trains a StyleGAN2 from scratch on real images (a dataset file or a
// folder of PNG/JPEG), rosinality train.py's recipe: non-saturating logistic loss, lazy R1
// on real images every `r1_every` steps, lazy path-length regularisation every `pl_every`
// steps, style mixing, an EMA generator, equalised learning rates, Adam (beta1 0, beta2
// 0.99, both adjusted for the lazy regularisation), optional horizontal flips.
//
// Data-parallel as the segmenter: rank r takes global-batch / ranks samples of each step
// (shuffled shards of the images; latents drawn from streams keyed by (seed, step, global
// sample), so the union batch is the same on any number of ranks), gradients averaged by
// allreduce. The minibatch-stddev groups of 4 fall within a rank's batch; with the shard
// order (rank r takes positions r, r + ranks, ...) they are the same groups on 1 rank of
// batch 8 and 2 ranks of 4.
//
// Outputs: OUT (train/gan_checkpoint.h; `styleseg generate --checkpoint OUT` reads its
// g_ema), written atomically by rank 0 every `checkpoint_every` steps and at the end;
// `resume` continues from it to the same weights; OUT.losses.csv; OUT.samples/step_N.png,
// grids of g_ema at fixed latents every `sample_every` steps; with a quality model,
// OUT.quality.csv (Frechet distance and pixel-share distances of g_ema's images); and
// OUT.curves.png, the losses and quality figures as pictures, redrawn at each checkpoint.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace styleseg::comm {
class Communicator;
}

namespace styleseg::stages {

struct TrainGanOptions {
  std::string data;                 // dataset.h5 or a folder of images
  std::string out;                  // gan.pt
  std::string preset = "cpu64";     // cpu64 (64x64, narrow, 2 CPU cores) | gpu128 (the eye job's) | gpu256 (config-f-like, x1 channels)
  int64_t resolution = 0;           // 0: the preset's; smaller powers of two use the preset's table below it
  int64_t steps = 2000;
  int64_t batch = 8;                // global
  double lr = -1;                   // -1: the preset's (cpu64 and gpu128 0.0025, gpu256 0.002)
  double r1_gamma = -1;             // < 0: the preset's (cpu64 and gpu128 10, gpu256 NVlabs' heuristic 0.0002 * R^2 / batch)
  int64_t r1_every = 16;
  double pl_weight = -1;            // -1: the preset's (cpu64 and gpu128 0: off, gpu256 2)
  int64_t pl_every = 4;
  double mixing = 0.9;
  double ema_half_life = 10000;     // images (rosinality: 0.5^(32 / 10k) per batch of 32)
  double ema_rampup = 0.05;         // half-life <= rampup * images seen (NVlabs ada); 0: off
  bool flip = false;
  std::string diff_augment = "none";   // DiffAugment of D's inputs: color,translation,cutout (any) | none
  uint64_t seed = 0;
  std::string device = "auto";
  std::string precision = "float32";  // float32 | float64 (every tensor in double: a slow reference for checks)
  int64_t checkpoint_every = 200;
  int64_t sample_every = 100;
  // Quality figures over training (stages/gan_quality.h): with a segmenter trained on the
  // real images, at step 0, every `quality_every` steps, at the end and at a --time-limit stop.
  std::string quality_model;
  int64_t quality_every = 1000;
  int64_t quality_samples = 1000;
  bool phase_times = false;         // log where a step's time goes (waits for the device at each phase end)
  bool resume = false;
  bool force = false;
  double time_limit = 0;
};

struct TrainGanSummary {
  int64_t steps_done = 0;
  bool complete = true;
  double d_loss = 0, g_loss = 0;    // the last step's, averaged over ranks
  double frechet = -1, share_distance = -1;  // the last quality figures (-1: not measured)
  double seconds = 0;
};

// Whether a global batch splits over `ranks` as train-gan needs: evenly, into per-rank
// batches of at most 4 or a multiple of 4 (the discriminator's minibatch-stddev groups).
bool gan_batch_splits(int64_t batch, int ranks);

// What train-gan writes beside OUT (the checkpoint itself, which --resume continues):
// OUT.losses.csv, OUT.quality.csv, OUT.curves.png and the folder OUT.samples, OUT's extension
// replaced.
struct TrainGanFiles {
  std::string losses, quality, curves, samples;
};
TrainGanFiles train_gan_files(const std::string& out);

// Collective.
TrainGanSummary train_gan(const TrainGanOptions& options, comm::Communicator& comm, const nlohmann::json& provenance);

}  // namespace styleseg::stages
