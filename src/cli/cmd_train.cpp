#include "cli/cli.h"
#include "stages/train.h"

namespace styleseg::cli {

int train_main(const std::vector<std::string>& args) {
  stages::TrainOptions o;
  OptionSet set("train",
                "Trains the dilated ResNet-18 segmenter (output stride 8) on a synthetic dataset of `styleseg\n"
                "synthesize`, data-parallel over ranks: each rank takes global-batch / ranks samples a step, gradients\n"
                "are averaged by allreduce, so the result does not depend on the rank count (exactly so with\n"
                "--sync-bn). Writes the model OUT (read by `styleseg segment`), a checkpoint every --checkpoint-every\n"
                "steps (--resume continues from it to the same weights), per-step metrics (JSONL) with a validation\n"
                "mIoU on the last --val-count samples, and a PNG of the curves.");
  set.add("data", &o.data, "dataset.h5 of `styleseg synthesize` (or any file of its layout)")
      .add("out", &o.out, "the exported model (seg.pt)")
      .add("checkpoint", &o.checkpoint, "training checkpoint (empty: OUT with .checkpoint.pt)")
      .add("metrics", &o.metrics, "per-step metrics, JSON lines (empty: OUT with .metrics.jsonl)")
      .add("curves", &o.curves, "PNG of the loss and validation curves (empty: OUT with .curves.png)")
      .add_optional("init", &o.init, "torchvision resnet18 state dict (torch.save) for the backbone; default random")
      .add("steps", &o.steps, "optimiser steps")
      .add("batch", &o.batch, "global batch size (divisible by the number of ranks)")
      .add("optimizer", &o.optimizer, "adam or sgd (with --momentum)")
      .add("lr", &o.lr, "base learning rate (poly decay to 0 over --steps)")
      .add("lr-power", &o.lr_power, "power of the poly decay")
      .add("weight-decay", &o.weight_decay, "L2 weight decay")
      .add("momentum", &o.momentum, "SGD momentum")
      .add_flag("sync-bn", &o.sync_bn, "BatchNorm statistics over the global batch (default: each rank's own)")
      .add("crop", &o.augment.crop, "training crop side (0: the dataset's size)")
      .add("scale-min", &o.augment.scale_min, "smallest random scale before cropping")
      .add("scale-max", &o.augment.scale_max, "largest random scale before cropping")
      .add("flip", &o.augment.flip_probability, "probability of a horizontal flip")
      .add("flip-pairs", &o.flip_pairs, "classes a flip swaps, e.g. '3:4,5:6' (left/right eye, brow)")
      .add("brightness", &o.augment.brightness, "colour jitter: brightness factor in [1-x, 1+x]")
      .add("contrast", &o.augment.contrast, "colour jitter: contrast factor in [1-x, 1+x]")
      .add("saturation", &o.augment.saturation, "colour jitter: saturation factor in [1-x, 1+x]")
      .add("blur", &o.augment.blur_probability, "probability of a Gaussian blur")
      .add("blur-sigma", &o.augment.blur_sigma, "largest blur sigma, pixels")
      .add("noise", &o.augment.noise, "std of Gaussian pixel noise (pixels in [0, 1])")
      .add("val-count", &o.val_count, "held-out samples for validation (the last ones; 0: none)")
      .add("val-every", &o.val_every, "steps between validations (and at the end)")
      .add("checkpoint-every", &o.checkpoint_every, "steps between checkpoints (and at the end)")
      .add("seed", &o.seed, "seed of the initial weights, the data order and the augmentation")
      .add("device", &o.device, "auto, cpu, cuda or cuda:N")
      .add("precision", &o.precision, "float32, bfloat16 (autocast; for GPUs) or float64 (every tensor in double: a slow reference for checks)")
      .add("time-limit", &o.time_limit, "seconds; checkpoint and stop after the step that passes it, exit 75 (0: none)")
      .add_flag("phase-times", &o.phase_times, "log the time and ATen operations per step of each phase (data, forward and\n"
                "backward, gradient averaging, optimiser, ...) at the end; on a GPU each phase waits for the device")
      .add("gradient-overlap", &o.gradient_overlap, "on several CPU ranks, reduce gradient buckets while the backward pass\n"
           "goes on (true/false; the same weights either way)");
  add_output_policy_options(set, o.resume, o.force, "the checkpoint (OUT.checkpoint.pt)");
  return run_command(set, args, [&](comm::Communicator& comm) {
    // Paths and bookkeeping intervals do not change the weights: a resume may change them.
    std::set<std::string> exclude = non_result_options();
    exclude.insert({"checkpoint", "metrics", "curves", "val-every", "checkpoint-every", "device", "data"});
    return stages::train(o, comm, set.to_json(exclude)).complete ? 0 : kExitResumable;
  });
}

}  // namespace styleseg::cli
