// Training augmentation that keeps image and mask aligned (stage 6): random scale and crop,
// horizontal flips (swapping left/right classes), colour jitter, blur and noise, the last
// three to bridge synthetic images to real ones.
//
// Every random choice comes from the SampleRng it is given; training keys it by (seed, step,
// sample), so a resumed run augments exactly as an uninterrupted one without saving any
// random state.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace styleseg {
class SampleRng;
}

namespace styleseg::train {

struct AugmentOptions {
  int64_t crop = 0;                  // output side (square); 0: the input's size (H x W)
  double scale_min = 1.0;            // random scale of the sample before cropping
  double scale_max = 1.0;
  double flip_probability = 0.5;     // horizontal flip
  std::vector<std::pair<int64_t, int64_t>> flip_pairs;  // classes a flip swaps (left eye <-> right eye)
  double brightness = 0.0;           // factors drawn from [1 - x, 1 + x]
  double contrast = 0.0;
  double saturation = 0.0;
  double blur_probability = 0.0;     // Gaussian blur with sigma from [0.1, blur_sigma]
  double blur_sigma = 1.5;
  double noise = 0.0;                // std of added Gaussian noise, in [0, 1] pixel units
  int64_t ignore_label = 255;        // mask value of pixels padded in by a crop
};

struct Augmented {
  at::Tensor image;  // float [3, S, S] in [0, 1] (S: crop), or [3, H, W] without crop
  at::Tensor mask;   // int64, the same size
};

// image uint8 [H, W, 3], mask integer [H, W].
Augmented augment(const at::Tensor& image, const at::Tensor& mask, const AugmentOptions& options, SampleRng& rng);

// "3:4,5:6": class pairs for --flip-pairs. Throws ConfigError naming the option.
std::vector<std::pair<int64_t, int64_t>> parse_flip_pairs(const std::string& text);

}  // namespace styleseg::train
