#include "support/toy_shapes.h"

#include <ATen/ATen.h>

#include "core/seeding.h"
#include "dataset/dataset_file.h"

namespace styleseg::test {

ToyShapes make_toy_shapes(int64_t count, int64_t size, uint64_t seed) {
  ToyShapes out{at::empty({count, size, size, 3}, at::kByte), at::zeros({count, size, size}, at::kByte)};
  const at::Tensor ys = at::arange(size, at::kFloat).view({-1, 1}).expand({size, size});
  const at::Tensor xs = at::arange(size, at::kFloat).view({1, -1}).expand({size, size});
  for (int64_t i = 0; i < count; ++i) {
    SampleRng rng(seed, static_cast<uint64_t>(i), Stream::Generic);
    auto u = [&](double lo, double hi) { return lo + (hi - lo) * rng.next_uniform(); };
    at::Tensor noise = at::empty({size, size, 3}, at::kFloat);
    rng.fill_normal(noise.data_ptr<float>(), static_cast<size_t>(noise.numel()));
    at::Tensor image = u(70, 140) + 12 * noise;  // grey, textured
    at::Tensor mask = at::zeros({size, size}, at::kByte);
    const double s = static_cast<double>(size);
    // The square first, the disc over it where they meet.
    const double half = u(0.12, 0.22) * s, sx = u(half, s - half), sy = u(half, s - half);
    const at::Tensor square = ((xs - sx).abs() <= half).logical_and((ys - sy).abs() <= half);
    const double radius = u(0.12, 0.22) * s, cx = u(radius, s - radius), cy = u(radius, s - radius);
    const at::Tensor disc = ((xs - cx).pow(2) + (ys - cy).pow(2)) <= radius * radius;
    const at::Tensor square_tint = at::tensor({static_cast<float>(u(30, 90)), static_cast<float>(u(150, 230)), static_cast<float>(u(30, 90))});
    const at::Tensor disc_tint = at::tensor({static_cast<float>(u(150, 230)), static_cast<float>(u(30, 90)), static_cast<float>(u(30, 90))});
    image = at::where(square.unsqueeze(-1), square_tint + 12 * noise, image);
    image = at::where(disc.unsqueeze(-1), disc_tint + 12 * noise, image);
    mask.masked_fill_(square, 2);
    mask.masked_fill_(disc, 1);
    out.images[i].copy_(image.round().clamp(0, 255).to(at::kByte));
    out.masks[i].copy_(mask);
  }
  return out;
}

std::string write_toy_dataset(const std::string& path, int64_t count, int64_t size, uint64_t seed) {
  const ToyShapes shapes = make_toy_shapes(count, size, seed);
  dataset::write_dataset(path, shapes.images, shapes.masks, {"background", "disc", "square"},
                         {{{0, 0, 0}}, {{230, 25, 75}}, {{60, 180, 75}}}, {{"generator", "toy shapes"}, {"seed", seed}});
  return path;
}

}  // namespace styleseg::test
