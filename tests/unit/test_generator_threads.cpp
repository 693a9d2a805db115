// What the thread count may change in a generator's output (README "Determinism"): latents
// drawn from (seed, i) are identical, and everything a network computes agrees to float32
// rounding. oneDNN splits some sums over threads (the 1x1 to-RGB convolution of a wide
// generator, seen here), so the float32 outputs of 1 and 2 threads may differ in the last
// bits; the bound is the parity fixtures' rule: no further apart than 10x the float32 run's
// own distance from a float64 run, and uint8 pixels at most one level apart.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <tuple>

#include "core/seeding.h"
#include "models/stylegan2/checkpoint.h"
#include "models/stylegan2/generator.h"
#include "sampling/sampler.h"

namespace styleseg::stylegan2 {
namespace {

// Wide enough (512 channels into to-RGB) for oneDNN to pick thread-dependent kernels.
Architecture wide_architecture() {
  Architecture a;
  a.resolution = 32;
  a.z_dim = a.w_dim = 64;
  a.mapping_layers = 2;
  a.channels = {{4, 512}, {8, 512}, {16, 256}, {32, 128}};
  return a;
}

struct Outputs {
  at::Tensor z, ws, image, features;
};

// Samples 0-4 of key 11 at `threads` intra-op threads.
Outputs run(const Generator& g, int threads) {
  const int before = at::get_num_threads();
  at::set_num_threads(threads);
  at::NoGradGuard no_grad;
  Outputs out;
  out.z = sampling::random_latents(g.architecture().z_dim, /*seed=*/11, {0, 1, 2, 3, 4}, Stream::Latent);
  out.ws = g.broadcast(g.map(out.z));
  const SynthesisResult r = g.synthesize(out.ws, Noise::constant(), /*feature_layer=*/3);
  out.image = r.image.to(at::kDouble);
  out.features = r.features.to(at::kDouble);
  out.ws = out.ws.to(at::kDouble);
  at::set_num_threads(before);
  return out;
}

double distance(const at::Tensor& a, const at::Tensor& b) { return (a - b).norm().item<double>(); }

TEST(GeneratorThreads, OutputsAgreeToFloat32RoundingAcrossThreadCounts) {
  Generator g = init_generator(wide_architecture(), 3);
  const Outputs one = run(g, 1), two = run(g, 2);
  Generator reference = init_generator(wide_architecture(), 3);
  reference.to(c10::Device(c10::kCPU), at::kDouble);
  const Outputs exact = run(reference, 1);
  // The latents come from (seed, i) alone.
  EXPECT_TRUE(at::equal(one.z, two.z));

  for (const auto& [name, a, b, e] : {std::tuple{"w", one.ws, two.ws, exact.ws},
                                       std::tuple{"image", one.image, two.image, exact.image},
                                       std::tuple{"features", one.features, two.features, exact.features}}) {
    const double threads_apart = distance(a, b), float32_error = distance(a, e);
    std::printf("[ numerics ] generator %s: 1 vs 2 threads %.2e, float32 vs float64 %.2e\n", name, threads_apart, float32_error);
    EXPECT_GT(float32_error, 0.0) << name;
    EXPECT_LE(threads_apart, 10 * float32_error) << name;
  }
  const at::Tensor pixels_one = sampling::to_pixels(one.image).to(at::kInt), pixels_two = sampling::to_pixels(two.image).to(at::kInt);
  EXPECT_LE((pixels_one - pixels_two).abs().max().item<int>(), 1);
}

}  // namespace
}  // namespace styleseg::stylegan2
