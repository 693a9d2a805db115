// train-gan's checkpoint: rosinality train.py's layout, so that `styleseg generate` and
// Python (torch.load + rosinality's Generator.load_state_dict(ckpt["g_ema"])) both read it:
//
//   {"g_ema": state dict, "g": state dict, "d": state dict, "latent_avg": [w_dim] (when known),
//    "g_optim": {name: tensor}, "d_optim": {name: tensor}   (train/optimizer.h states: flat,
//                                                            not torch.optim's nested dicts)
//    "styleseg": {"format": "styleseg-gan-checkpoint", "step", "identity", "seed",
//                 "path_length_mean", "lr_mlp", "resolution", "d_channels": {res: channels}}}
//
// Written atomically (rank 0). A resume reads "g" with LoadOptions::training_generator.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "models/stylegan2/discriminator.h"
#include "models/stylegan2/generator.h"

namespace styleseg::train {

struct GanTrainingState {
  int64_t step = 0;
  std::string identity;
  std::vector<std::pair<std::string, at::Tensor>> g_optimizer, d_optimizer;
  double path_length_mean = 0;
  uint64_t seed = 0;
};

void save_gan_checkpoint(const std::string& path, const stylegan2::Generator& g, const stylegan2::Generator& g_ema,
                         const stylegan2::Discriminator& d, const GanTrainingState& state);

struct LoadedGan {
  stylegan2::Generator g, g_ema;
  stylegan2::Discriminator d;
  GanTrainingState state;
};
// Throws InputError naming the file when it is not a train-gan checkpoint or is damaged.
LoadedGan load_gan_checkpoint(const std::string& path);

}  // namespace styleseg::train
