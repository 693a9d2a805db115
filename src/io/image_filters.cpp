#include "io/image_filters.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

namespace styleseg {

at::Tensor gaussian_blur(const at::Tensor& image, double sigma) {
  const int64_t channels = image.size(0);
  const int64_t radius = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(3 * sigma)));
  at::Tensor taps = at::arange(-radius, radius + 1, image.options());
  taps = at::exp(-taps.pow(2) / (2 * sigma * sigma));
  taps = taps / taps.sum();
  const at::Tensor x = image.unsqueeze(0);
  const at::Tensor horizontal = taps.view({1, 1, 1, -1}).expand({channels, 1, 1, 2 * radius + 1}).contiguous();
  const at::Tensor vertical = taps.view({1, 1, -1, 1}).expand({channels, 1, 2 * radius + 1, 1}).contiguous();
  // Reflection needs the padding smaller than the side: clamp for tiny images.
  const int64_t pad_w = std::min(radius, image.size(2) - 1), pad_h = std::min(radius, image.size(1) - 1);
  at::Tensor y = at::reflection_pad2d(x, {pad_w, pad_w, 0, 0});
  if (pad_w < radius) y = at::replication_pad2d(y, {radius - pad_w, radius - pad_w, 0, 0});
  y = at::conv2d(y, horizontal, {}, at::IntArrayRef{1}, at::IntArrayRef{0}, at::IntArrayRef{1}, channels);
  y = at::reflection_pad2d(y, {0, 0, pad_h, pad_h});
  if (pad_h < radius) y = at::replication_pad2d(y, {0, 0, radius - pad_h, radius - pad_h});
  y = at::conv2d(y, vertical, {}, at::IntArrayRef{1}, at::IntArrayRef{0}, at::IntArrayRef{1}, channels);
  return y[0];
}

at::Tensor resize_bilinear(const at::Tensor& images, int64_t height, int64_t width) {
  if (images.size(2) == height && images.size(3) == width) return images;
  return height < images.size(2) || width < images.size(3)
             ? at::_upsample_bilinear2d_aa(images, {height, width}, /*align_corners=*/false)
             : at::upsample_bilinear2d(images, {height, width}, /*align_corners=*/false);
}

at::Tensor resize_pixels(const at::Tensor& images, int64_t height, int64_t width) {
  if (images.size(1) == height && images.size(2) == width) return images;
  const at::Tensor y = resize_bilinear(images.permute({0, 3, 1, 2}).to(at::kFloat), height, width);
  return y.round().clamp(0, 255).to(at::kByte).permute({0, 2, 3, 1}).contiguous();
}

}  // namespace styleseg
