// Filters and resizing shared by the stages that make, augment or feed pictures.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace styleseg {

// Separable Gaussian blur of each channel of [C, H, W] with a (2 * ceil(3 sigma) + 1)-tap
// kernel, reflecting at the borders.
at::Tensor gaussian_blur(const at::Tensor& image, double sigma);

// Float [B, C, H, W] -> [B, C, height, width], bilinear (align_corners false), antialiased
// when either side shrinks (no aliasing that a network never saw in training).
at::Tensor resize_bilinear(const at::Tensor& images, int64_t height, int64_t width);
// uint8 [B, H, W, 3] -> [B, height, width, 3] by resize_bilinear, rounded to 8 bits.
at::Tensor resize_pixels(const at::Tensor& images, int64_t height, int64_t width);

}  // namespace styleseg
