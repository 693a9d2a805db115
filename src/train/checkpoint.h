// Training checkpoints: everything a stopped run needs to continue to exactly the result of
// an uninterrupted one, in one file written atomically by rank 0 (torch.load reads it):
//
//   {"format": "styleseg-train-checkpoint", "format_version": 1, "step": S,
//    "identity": JSON text (the options and data that decide the result; a resume with other
//                ones is refused, naming the first difference),
//    "model": {name: tensor} (parameters and BatchNorm buffers),
//    "optimizer": {name: tensor} (train/optimizer.h state), "seed": int}
//
// No random generator state is saved because none is carried: the data order comes from
// (seed, epoch) and each sample's augmentation from (seed, step, sample), so step S alone
// says where every stream is.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace styleseg::train {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

struct TrainingState {
  int64_t step = 0;
  std::string identity;
  NamedTensors model;
  NamedTensors optimizer;
  uint64_t seed = 0;
};

// Atomic. Throws OutputError naming the file.
void save_checkpoint(const std::string& path, const TrainingState& state);
// Throws InputError naming the file when it is not a training checkpoint or is damaged.
TrainingState load_checkpoint(const std::string& path);

}  // namespace styleseg::train
