#include "cli/cli.h"
#include "stages/train_gan.h"

namespace styleseg::cli {

int train_gan_main(const std::vector<std::string>& args) {
  stages::TrainGanOptions o;
  OptionSet set("train-gan",
                "Trains a StyleGAN2 from scratch on real images (a dataset file or a folder of PNG/JPEG), rosinality's\n"
                "recipe: non-saturating logistic loss, lazy R1 and path-length regularisation, style mixing, an EMA\n"
                "generator (half-life ramped up), Adam (beta1 0, beta2 0.99); DiffAugment as an option. Data-parallel\n"
                "over ranks (global batch constant). Writes OUT in rosinality's train.py layout (`styleseg generate\n"
                "--checkpoint OUT` reads its g_ema), OUT.losses.csv, sample grids at fixed latents in OUT.samples/,\n"
                "with --quality-model the Frechet and pixel-share distances over training (OUT.quality.csv), and\n"
                "OUT.curves.png. Presets: cpu64 (64x64, narrow, for 2 CPU cores), gpu128 (128x128,\n"
                "256 channels up to 32x32: the eye job's generator), gpu256 (config-f, channel multiplier 1).");
  set.add("data", &o.data, "dataset .h5 or a folder of PNG/JPEG images")
      .add("out", &o.out, "checkpoint (gan.pt)")
      .add("preset", &o.preset, "cpu64, gpu128 or gpu256")
      .add("resolution", &o.resolution, "image size (0: the preset's; smaller powers of two allowed)")
      .add("steps", &o.steps, "training steps")
      .add("batch", &o.batch, "global batch (divisible by the ranks; per rank <= 4 or a multiple of 4)")
      .add("lr", &o.lr, "learning rate of both networks (-1: the preset's: cpu64, gpu128 0.0025; gpu256 0.002)")
      .add("r1-gamma", &o.r1_gamma, "R1 weight (< 0: the preset's: cpu64, gpu128 10; gpu256 NVlabs' 0.0002 * R^2 / batch)")
      .add("r1-every", &o.r1_every, "steps between R1 penalties")
      .add("pl-weight", &o.pl_weight, "path-length weight (0: off; -1: the preset's: cpu64, gpu128 0; gpu256 2)")
      .add("pl-every", &o.pl_every, "steps between path-length penalties")
      .add("mixing", &o.mixing, "style-mixing probability")
      .add("ema-half-life", &o.ema_half_life, "EMA generator half-life, images")
      .add("ema-rampup", &o.ema_rampup, "half-life at most this fraction of the images seen so far (0: off)")
      .add_flag("flip", &o.flip, "random horizontal flips of the real images")
      .add("diff-augment", &o.diff_augment,
           "DiffAugment of every image D sees: color,translation,cutout (any of them) or none; for small\n"
           "image sets (a few thousand), where D otherwise memorises the real images")
      .add("seed", &o.seed, "seed of the weights, data order and latents")
      .add("device", &o.device, "auto, cpu, cuda or cuda:N")
      .add("precision", &o.precision, "float32, or float64 (every tensor in double: a slow reference for checks)")
      .add("checkpoint-every", &o.checkpoint_every, "steps between checkpoints (and sample grids)")
      .add("sample-every", &o.sample_every, "steps between sample grids")
      .add_optional("quality-model", &o.quality_model,
                    "segmenter trained on the real images: Frechet and pixel-share distances of g_ema's images\n"
                    "to the real ones at step 0, every --quality-every steps and at the end (OUT.quality.csv)")
      .add("quality-every", &o.quality_every, "steps between quality figures")
      .add("quality-samples", &o.quality_samples, "real and generated images per quality figure")
      .add_flag("phase-times", &o.phase_times, "log the time and ATen operations per step of each phase (data, discriminator,\n"
            "R1, generator, EMA, ...) at the end; on a GPU each phase waits for the device, which slows training a little")
      .add("time-limit", &o.time_limit, "seconds; checkpoint and stop after the step that passes it, exit 75");
  add_output_policy_options(set, o.resume, o.force, "the training in OUT (its checkpoint)");
  return run_command(set, args, [&](comm::Communicator& comm) {
    std::set<std::string> exclude = non_result_options();
    exclude.insert({"checkpoint-every", "sample-every", "device", "data", "quality-model", "quality-every", "quality-samples"});
    return stages::train_gan(o, comm, set.to_json(exclude)).complete ? 0 : kExitResumable;
  });
}

}  // namespace styleseg::cli
