#include "train/diff_augment.h"

#include <ATen/ATen.h>

#include <sstream>

#include "core/error.h"
#include "core/seeding.h"

namespace styleseg::train {

DiffAugmentPolicy parse_diff_augment(const std::string& text, const std::string& option) {
  DiffAugmentPolicy policy;
  if (text == "none" || text.empty()) return policy;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, ',')) {
    if (part == "color") policy.color = true;
    else if (part == "translation") policy.translation = true;
    else if (part == "cutout") policy.cutout = true;
    else
      throw ConfigError("--" + option + ": '" + part + "' is not an augmentation (color, translation, cutout, or none)");
  }
  return policy;
}

namespace {

// Per-sample numbers as a [B, 1, 1, 1] tensor of uniforms on the images' device.
at::Tensor uniforms(std::vector<SampleRng>& rngs, const at::Tensor& like) {
  std::vector<float> values;
  for (SampleRng& rng : rngs) values.push_back(static_cast<float>(rng.next_uniform()));
  return at::tensor(values, at::kFloat).view({-1, 1, 1, 1}).to(like.device(), like.scalar_type());
}

int64_t uniform_int(SampleRng& rng, int64_t low, int64_t high) {  // [low, high]
  return low + static_cast<int64_t>(rng.next_u64() % static_cast<uint64_t>(high - low + 1));
}

}  // namespace

at::Tensor diff_augment(const at::Tensor& images, const DiffAugmentPolicy& policy, uint64_t key,
                        const std::vector<int64_t>& samples) {
  STYLESEG_ASSERT(images.dim() == 4 && images.size(0) == static_cast<int64_t>(samples.size()),
                  "diff_augment: images must be [B, C, H, W] with one sample index per row");
  if (!policy.any()) return images;
  std::vector<SampleRng> rngs;
  for (int64_t s : samples) rngs.emplace_back(key, static_cast<uint64_t>(s), Stream::Augment);
  const int64_t height = images.size(2), width = images.size(3);
  at::Tensor x = images;
  if (policy.color) {
    x = x + (uniforms(rngs, x) - 0.5);
    const at::Tensor channel_mean = x.mean({1}, /*keepdim=*/true);
    x = (x - channel_mean) * (uniforms(rngs, x) * 2) + channel_mean;
    const at::Tensor image_mean = x.mean({1, 2, 3}, /*keepdim=*/true);
    x = (x - image_mean) * (uniforms(rngs, x) + 0.5) + image_mean;
  }
  if (policy.translation) {
    // A negative pad crops: padding (dx, -dx, dy, -dy) moves the content by (dx, dy).
    const int64_t max_x = static_cast<int64_t>(static_cast<double>(width) * 0.125 + 0.5);
    const int64_t max_y = static_cast<int64_t>(static_cast<double>(height) * 0.125 + 0.5);
    std::vector<at::Tensor> moved;
    for (int64_t b = 0; b < x.size(0); ++b) {
      const int64_t dx = uniform_int(rngs[static_cast<size_t>(b)], -max_x, max_x);
      const int64_t dy = uniform_int(rngs[static_cast<size_t>(b)], -max_y, max_y);
      moved.push_back(at::constant_pad_nd(x[b], {dx, -dx, dy, -dy}, 0));
    }
    x = at::stack(moved);
  }
  if (policy.cutout) {
    const int64_t side_x = static_cast<int64_t>(static_cast<double>(width) * 0.5 + 0.5);
    const int64_t side_y = static_cast<int64_t>(static_cast<double>(height) * 0.5 + 0.5);
    at::Tensor keep = at::ones({x.size(0), 1, height, width}, x.options().requires_grad(false));
    for (int64_t b = 0; b < x.size(0); ++b) {
      // The reference's centre: randint(0, side + (1 - cut % 2)), corner centre - cut / 2.
      SampleRng& rng = rngs[static_cast<size_t>(b)];
      const int64_t x0 = uniform_int(rng, 0, width + (1 - side_x % 2) - 1) - side_x / 2;
      const int64_t y0 = uniform_int(rng, 0, height + (1 - side_y % 2) - 1) - side_y / 2;
      const int64_t left = std::max<int64_t>(0, x0), right = std::min(width, x0 + side_x);
      const int64_t top = std::max<int64_t>(0, y0), bottom = std::min(height, y0 + side_y);
      if (right > left && bottom > top) keep[b].narrow(1, top, bottom - top).narrow(2, left, right - left).zero_();
    }
    x = x * keep;
  }
  return x;
}

}  // namespace styleseg::train
