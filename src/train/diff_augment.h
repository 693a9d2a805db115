// DiffAugment (Zhao et al., "Differentiable Augmentation for Data-Efficient GAN Training",
// 2020) for train-gan: random colour, translation and cutout applied to every image the
// discriminator sees, real and generated, as differentiable tensor operations, so that the
// generator's gradients pass through them. With a small batch and few images the
// discriminator otherwise memorises the real set within a few thousand images and the
// generator gets little signal; augmenting both sides keeps it from doing so without
// leaking the augmentations into the generated images.
//
// The transforms follow the authors' reference code (DiffAugment_pytorch.py):
//   color:       brightness + (u - 0.5); saturation x (2u) around the pixel's channel mean;
//                contrast x (u + 0.5) around the image mean
//   translation: integer shifts of up to 1/8 of the side, zero-filled
//   cutout:      a square of half the side, centred anywhere, set to zero
// Each sample's random numbers come from (key, global sample index), so ranks and resumed
// runs draw the same ones.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace styleseg::train {

struct DiffAugmentPolicy {
  bool color = false, translation = false, cutout = false;
  bool any() const { return color || translation || cutout; }
};

// "color,translation,cutout" (any subset, comma separated) or "none". Throws ConfigError
// naming `option` otherwise.
DiffAugmentPolicy parse_diff_augment(const std::string& text, const std::string& option);

// images [B, C, H, W]; samples[b]: the global index of row b. Differentiable in `images`.
at::Tensor diff_augment(const at::Tensor& images, const DiffAugmentPolicy& policy, uint64_t key,
                        const std::vector<int64_t>& samples);

}  // namespace styleseg::train
