#include "models/clip/preprocess.h"

#include <ATen/ATen.h>

#include <cmath>

#include "core/error.h"

namespace styleseg::clip {

at::Tensor preprocess_unit_images(const at::Tensor& images, int64_t resolution, bool round_to_8bit) {
  STYLESEG_CHECK(images.dim() == 4 && images.size(1) == 3 && images.size(2) > 0 && images.size(3) > 0, ConfigError,
                 "CLIP preprocessing: images must be [N, 3, H, W]");
  STYLESEG_CHECK(resolution > 0, ConfigError, "CLIP preprocessing: the resolution must be positive");
  at::Tensor x = images.to(at::kFloat);
  const int64_t h = x.size(2), w = x.size(3);
  // torchvision Resize(int): the short side becomes `resolution`, the long side
  // int(resolution * long / short).
  const int64_t out_h = h <= w ? resolution : static_cast<int64_t>(static_cast<double>(resolution) * h / w);
  const int64_t out_w = h <= w ? static_cast<int64_t>(static_cast<double>(resolution) * w / h) : resolution;
  if (out_h != h || out_w != w) x = at::_upsample_bicubic2d_aa(x, {out_h, out_w}, /*align_corners=*/false);
  if (round_to_8bit) x = (x * 255.0).round().clamp(0, 255) / 255.0;
  else x = x.clamp(0, 1);  // bicubic overshoots; PIL's 8-bit output cannot leave [0, 1]
  // Python's round: halves to even.
  const auto top = static_cast<int64_t>(std::nearbyint((out_h - resolution) / 2.0));
  const auto left = static_cast<int64_t>(std::nearbyint((out_w - resolution) / 2.0));
  x = x.narrow(2, top, resolution).narrow(3, left, resolution);
  const at::Tensor mean = at::tensor(std::vector<double>(kImageMean.begin(), kImageMean.end()), x.options()).reshape({1, 3, 1, 1});
  const at::Tensor std = at::tensor(std::vector<double>(kImageStd.begin(), kImageStd.end()), x.options()).reshape({1, 3, 1, 1});
  return ((x - mean) / std).contiguous();
}

at::Tensor preprocess_pixels(const at::Tensor& pixels, int64_t resolution) {
  STYLESEG_CHECK(pixels.dim() == 4 && pixels.size(3) == 3 && pixels.scalar_type() == at::kByte, ConfigError,
                 "CLIP preprocessing: pixels must be uint8 [N, H, W, 3]");
  return preprocess_unit_images(pixels.permute({0, 3, 1, 2}).to(at::kFloat) / 255.0, resolution, /*round_to_8bit=*/true);
}

}  // namespace styleseg::clip
