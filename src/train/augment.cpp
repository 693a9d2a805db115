#include "train/augment.h"

#include <ATen/ATen.h>

#include <cmath>
#include <cstdio>
#include <sstream>

#include "core/error.h"
#include "core/seeding.h"
#include "io/image_filters.h"

namespace styleseg::train {
namespace {

double uniform(SampleRng& rng, double lo, double hi) { return lo + (hi - lo) * rng.next_uniform(); }

at::Tensor grey(const at::Tensor& image) {  // ITU-R 601 luma, [1, H, W]
  return (image[0] * 0.299 + image[1] * 0.587 + image[2] * 0.114).unsqueeze(0);
}

}  // namespace

Augmented augment(const at::Tensor& image_u8, const at::Tensor& mask_in, const AugmentOptions& o, SampleRng& rng) {
  STYLESEG_CHECK(image_u8.dim() == 3 && image_u8.size(2) == 3 && mask_in.dim() == 2 &&
                     mask_in.size(0) == image_u8.size(0) && mask_in.size(1) == image_u8.size(1),
                 Error, "augment: expected an image [H, W, 3] and a mask [H, W] of the same size");
  at::Tensor image = image_u8.permute({2, 0, 1}).to(at::kFloat) / 255.0;  // [3, H, W]
  at::Tensor mask = mask_in.to(at::kLong);
  const int64_t height = image.size(1), width = image.size(2);

  // Scale: image bilinear, mask nearest (labels must not blend).
  const double scale = uniform(rng, o.scale_min, o.scale_max);
  if (scale != 1.0) {
    const int64_t h = std::max<int64_t>(1, std::lround(height * scale)), w = std::max<int64_t>(1, std::lround(width * scale));
    image = at::upsample_bilinear2d(image.unsqueeze(0), {h, w}, /*align_corners=*/false)[0];
    mask = at::upsample_nearest2d(mask.to(at::kFloat).unsqueeze(0).unsqueeze(0), {h, w})[0][0].round().to(at::kLong);
  }
  // Crop (padding with black and the ignore label where the sample is smaller).
  // Output: crop x crop, or the input's own size.
  const int64_t out_h = o.crop > 0 ? o.crop : height, out_w = o.crop > 0 ? o.crop : width;
  if (o.crop > 0 || image.size(1) != out_h || image.size(2) != out_w) {
    const int64_t pad_h = std::max<int64_t>(0, out_h - image.size(1)), pad_w = std::max<int64_t>(0, out_w - image.size(2));
    if (pad_h > 0 || pad_w > 0) {
      image = at::constant_pad_nd(image, {0, pad_w, 0, pad_h}, 0.0);
      mask = at::constant_pad_nd(mask, {0, pad_w, 0, pad_h}, o.ignore_label);
    }
    const int64_t top = static_cast<int64_t>(rng.next_u64() % static_cast<uint64_t>(image.size(1) - out_h + 1));
    const int64_t left = static_cast<int64_t>(rng.next_u64() % static_cast<uint64_t>(image.size(2) - out_w + 1));
    image = image.narrow(1, top, out_h).narrow(2, left, out_w);
    mask = mask.narrow(0, top, out_h).narrow(1, left, out_w);
  }
  // Flip, swapping left/right classes.
  if (rng.next_uniform() < o.flip_probability) {
    image = image.flip({2});
    mask = mask.flip({1});
    if (!o.flip_pairs.empty()) {
      const at::Tensor before = mask.clone();
      for (const auto& [a, b] : o.flip_pairs) {
        mask.masked_fill_(before == a, b);
        mask.masked_fill_(before == b, a);
      }
    }
  }
  // Colour: brightness, contrast (towards the mean grey), saturation (towards the pixel's grey).
  if (o.brightness > 0) image = image * uniform(rng, 1 - o.brightness, 1 + o.brightness);
  if (o.contrast > 0) {
    const double c = uniform(rng, 1 - o.contrast, 1 + o.contrast);
    image = (image - grey(image).mean()) * c + grey(image).mean();
  }
  if (o.saturation > 0) {
    const double s = uniform(rng, 1 - o.saturation, 1 + o.saturation);
    image = (image - grey(image)) * s + grey(image);
  }
  if (o.blur_probability > 0 && rng.next_uniform() < o.blur_probability) image = gaussian_blur(image, uniform(rng, 0.1, o.blur_sigma));
  if (o.noise > 0) {
    at::Tensor noise = at::empty(image.sizes(), at::kFloat);
    rng.fill_normal(noise.data_ptr<float>(), static_cast<size_t>(noise.numel()));
    image = image + noise * o.noise;
  }
  return {image.clamp(0, 1).contiguous(), mask.contiguous()};
}

std::vector<std::pair<int64_t, int64_t>> parse_flip_pairs(const std::string& text) {
  std::vector<std::pair<int64_t, int64_t>> pairs;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item.find_first_not_of(" ") == std::string::npos) continue;
    long long a = -1, b = -1;
    char tail = 0;
    STYLESEG_CHECK(std::sscanf(item.c_str(), " %lld : %lld %c", &a, &b, &tail) == 2 && a >= 0 && b >= 0 && a != b, ConfigError,
                   "--flip-pairs '" + text + "': '" + item + "' is not CLASS:CLASS (e.g. 3:4,5:6)");
    pairs.emplace_back(a, b);
  }
  return pairs;
}

}  // namespace styleseg::train
