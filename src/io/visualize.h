// Pictures of what the stages compute, for people to look at.
#pragma once

#include <ATen/core/Tensor.h>

namespace styleseg {

// Per-pixel feature maps [N, C, h, w] -> uint8 RGB [N, h, w, 3]: the three principal
// components of the feature vectors (over all N maps together, so colours are comparable
// across samples), scaled together so that the widest spans its 1st to 99th percentile. Pixels of the same
// semantic part tend to share a colour, which is what clustering then finds.
at::Tensor features_to_rgb(const at::Tensor& features);

}  // namespace styleseg
