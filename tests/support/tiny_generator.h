// A 16x16 StyleGAN2 architecture small enough for unit tests of training and checkpoints.
#pragma once

#include "models/stylegan2/architecture.h"

namespace styleseg::test {

inline stylegan2::Architecture tiny_generator_architecture() {
  stylegan2::Architecture a;
  a.resolution = 16;
  a.z_dim = 16;
  a.w_dim = 16;
  a.mapping_layers = 2;
  a.channels = {{4, 16}, {8, 12}, {16, 8}};
  return a;
}

}  // namespace styleseg::test
