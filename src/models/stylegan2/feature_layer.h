// --feature-layer: which synthesis layer's output is taken as per-pixel features.
//
// Accepted spellings (any checkpoint layout):
//  - the official numbering N = 1, 3, 5, 7, ...: the output of the second convolution of
//    the block whose first convolution takes style N, i.e. conv layer N+1 (architecture.h).
//    N = 1 is the 8x8 block, 3 the 16x16, 5 the 32x32, 7 the 64x64, ...; 7 is the 64x64
//    block of a 1024 model (and of any model at least 64 pixels wide).
//  - rosinality module names: `conv1` (the 4x4 layer), `convs.J` (conv layer J+1);
//  - NVlabs module names: `synthesis.bR.conv0`, `synthesis.bR.conv1`, `synthesis.bR`
//    (= its conv1, the block's feature output); the `synthesis.` prefix is optional.
//  - `image`: the generated image itself (its colour channels, in the generator's [-1, 1]
//    range, at the full resolution), as one part of a hypercolumn ("3+5+7+image"): brightness
//    is what tells a pupil from an iris, and a layer's features, scaled per sample by its
//    style, carry it only indirectly.
#pragma once

#include <string>

#include "models/stylegan2/architecture.h"

namespace styleseg::stylegan2 {

struct FeatureLayer {
  static constexpr int kImage = -2;  // conv_layer of `image`
  int conv_layer = -1;   // index into the conv layers (architecture.h), or kImage
  bool is_image() const { return conv_layer == kImage; }
  int resolution = 0;    // spatial size of its output
  int channels = 0;
  std::string rosinality_name;
  std::string nvlabs_name;
};

// Throws ConfigError naming the option, the value and the valid choices.
FeatureLayer resolve_feature_layer(const std::string& spec, const Architecture& arch,
                                   const std::string& option = "--feature-layer");

}  // namespace styleseg::stylegan2
