// Stage 6, train: distils the synthetic dataset (dataset/dataset_file.h) into the dilated
// ResNet-18 segmenter, data-parallel over ranks.
//
// Every rank holds the whole model (identical initial weights: rank 0's, broadcast). Each
// step, rank r takes its share of the global batch (global / ranks samples: the global
// batch, and so the result, does not depend on the number of ranks), augments it
// (train/augment.h, keyed by (seed, step, sample)), computes the cross-entropy (ignore
// label 255) and its gradient, and the gradients are averaged over ranks in flat buckets
// (train/gradient_sync.h) before the same optimiser step on every rank. BatchNorm uses
// each rank's own batch statistics by default; `sync_bn` uses the union batch's
// (train/sync_batchnorm.h), which also makes N ranks compute what one rank does.
//
// Outputs:
//   out                    the exported model (models/segmenter/model_file.h), at the end
//   checkpoint             rank 0, atomically, every `checkpoint_every` steps and at the end
//                          (train/checkpoint.h); `resume` continues from it to the same
//                          weights an uninterrupted run ends with
//   metrics                JSONL: loss, learning rate and speed per step; validation mIoU
//                          every `val_every` steps on the held-out last `val_count` samples
//   curves                 PNG of the loss and validation mIoU curves
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "train/augment.h"
#include "train/optimizer.h"

namespace styleseg::comm {
class Communicator;
}

namespace styleseg::stages {

// The segmenter's default augmentation: random scale 0.75-1.25, flips, colour jitter 0.2,
// blur with probability 0.2, pixel noise 0.02.
train::AugmentOptions training_augmentation();

struct TrainOptions {
  std::string data;                 // dataset.h5
  std::string out;                  // the exported model (seg.pt)
  std::string checkpoint;           // "": OUT.checkpoint
  std::string metrics;              // "": OUT.metrics.jsonl
  std::string curves;               // "": OUT.curves.png
  std::string init;                 // torchvision resnet18 state dict for the backbone ("": random)
  int64_t steps = 1000;             // the seed's 1000 iterations
  int64_t batch = 16;               // global batch (split evenly over ranks)
  train::OptimizerKind optimizer = train::OptimizerKind::Adam;
  double lr = 1e-4;
  double weight_decay = 1e-4;
  double momentum = 0.9;            // SGD
  double lr_power = 0.9;            // poly decay
  bool sync_bn = false;
  // Augmentation: train's defaults (crop 0: the dataset's size); the stage adds the flip
  // pairs, given as text, and the dataset's ignore label.
  train::AugmentOptions augment = training_augmentation();
  std::string flip_pairs;           // "3:4,5:6"
  // Validation and bookkeeping.
  int64_t val_count = 64;           // held-out samples (the last available ones); 0: none
  int64_t val_every = 200;
  int64_t checkpoint_every = 100;
  uint64_t seed = 0;
  std::string device = "auto";
  std::string precision = "float32";  // or bfloat16 (autocast; on GPUs)
  bool resume = false;
  bool force = false;
  double time_limit = 0;            // seconds; stop at a checkpoint after it passes (exit 75)
  // Log where a step's time goes (data, forward and backward, gradient averaging, optimiser,
  // ...); on a GPU each phase waits for the device.
  bool phase_times = false;
  // On several CPU ranks, reduce gradient buckets during the backward pass (train/gradient_sync.h)
  // instead of after it. The same sums either way; off: to measure what it saves.
  bool gradient_overlap = true;
};

struct TrainSummary {
  int64_t steps_done = 0;
  bool complete = true;
  double final_loss = 0;
  double val_miou = -1;             // last validation (-1: none)
  double seconds = 0;
};

// The files train writes beside --out unless its options name them: OUT.checkpoint.pt (what
// --resume continues), OUT.metrics.jsonl and OUT.curves.png, OUT's extension replaced.
struct TrainFiles {
  std::string checkpoint, metrics, curves;
};
TrainFiles train_files(const TrainOptions& options);
// The same when the options name none of them: the files beside OUT (the runner's view).
TrainFiles train_files(const std::string& out);

// Collective.
TrainSummary train(const TrainOptions& options, comm::Communicator& comm, const nlohmann::json& provenance);

}  // namespace styleseg::stages
