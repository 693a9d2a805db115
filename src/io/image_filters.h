// Filters on float images [C, H, W] shared by the stages that make or augment pictures.
#pragma once

#include <ATen/core/Tensor.h>

namespace styleseg {

// Separable Gaussian blur of each channel of [C, H, W] with a (2 * ceil(3 sigma) + 1)-tap
// kernel, reflecting at the borders.
at::Tensor gaussian_blur(const at::Tensor& image, double sigma);

}  // namespace styleseg
