// CLIP's image preprocessing (openai/CLIP clip/clip.py `_transform`): resize the short side
// to the model's resolution with bicubic filtering, centre crop, scale to [0, 1], normalise
// with CLIP's mean and standard deviation.
//
// The reference resizes 8-bit PIL images; here the resize is ATen's anti-aliased bicubic,
// the filter PIL uses (a = -0.5, support widened when shrinking), and `round_to_8bit`
// rounds the resized pixels as PIL's 8-bit output does. The two agree to about one grey
// level; the crop offsets are torchvision's (round((H - R) / 2)).
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>

namespace styleseg::clip {

// CLIP's normalisation (clip.py `_transform`), the statistics of its training images.
constexpr std::array<double, 3> kImageMean{0.48145466, 0.4578275, 0.40821073};
constexpr std::array<double, 3> kImageStd{0.26862954, 0.26130258, 0.27577711};

// uint8 RGB images [N, H, W, 3] -> float32 [N, 3, R, R], the model's input.
at::Tensor preprocess_pixels(const at::Tensor& pixels, int64_t resolution);

// float images [N, 3, H, W] with values in [0, 1] (e.g. a generator's output mapped from
// [-1, 1]) -> float32 [N, 3, R, R] on the same device. No 8-bit rounding unless asked.
at::Tensor preprocess_unit_images(const at::Tensor& images, int64_t resolution, bool round_to_8bit = false);

}  // namespace styleseg::clip
