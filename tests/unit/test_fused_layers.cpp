// The fused CPU inference path (models/stylegan2/fused_layers.h) computes the same function
// as the ATen path. Both run in float64 here, where the only difference is the order of the
// convolutions' and the blur's sums: each output sums at most 9 x 512 products of O(1) terms,
// so the two agree to about n u = 5e3 x 1.1e-16 relative. The bound, 1e-10, is far above
// that and far below what any wrong tap, phase, channel or step of a layer's end would give
// (relative errors of order 1). Against the reference implementations in float32 the fused
// path is tested by StyleGAN2Parity.NoGradFeaturesAndImagesMatch (the fixtures).
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include "models/stylegan2/checkpoint.h"
#include "models/stylegan2/fused_layers.h"
#include "models/stylegan2/generator.h"
#include "models/stylegan2/ops.h"

namespace styleseg::stylegan2 {
namespace {

constexpr double kBound = 1e-10;

double relative_difference(const at::Tensor& a, const at::Tensor& b) {
  return ((a - b).norm() / b.norm()).item<double>();
}

Architecture small_architecture() {
  Architecture a;
  a.resolution = 32;
  a.z_dim = a.w_dim = 32;
  a.mapping_layers = 2;
  a.channels = {{4, 48}, {8, 48}, {16, 24}, {32, 16}};
  return a;
}

// A float64 generator whose biases and noise strengths are not zero (init_generator leaves
// them 0, which would hide a wrong bias or noise step), clamped at `clamp`.
Generator test_generator(std::optional<double> clamp) {
  const Generator initial = init_generator(small_architecture(), 5);
  GeneratorSettings settings = initial.settings();
  settings.conv_clamp = clamp;
  Generator g(initial.architecture(), initial.layout(), initial.weights(), settings);
  g.to(c10::Device(c10::kCPU), at::kDouble);
  at::NoGradGuard no_grad;
  at::manual_seed(3);
  for (auto& conv : g.mutable_weights().convs) {
    conv.bias.normal_(0, 0.5);
    conv.noise_strength.fill_(0.3);
  }
  for (auto& rgb : g.mutable_weights().to_rgbs) rgb.bias.normal_(0, 0.5);
  return g;
}

struct Output {
  at::Tensor image, features;
};

// The generator's output for latents `ws`: fused when autograd is off (and so on the CPU in
// float64), the ATen path when it is on.
Output synthesize(const Generator& g, const at::Tensor& ws, const Noise& noise, int feature_layer, bool fused) {
  c10::AutoGradMode mode(!fused);
  const SynthesisResult r = g.synthesize(ws, noise, feature_layer);
  return {r.image, r.features};
}

at::Tensor latents(const Generator& g, int64_t batch) {
  at::manual_seed(7);
  return g.broadcast(g.map(at::randn({batch, g.architecture().z_dim}, at::kDouble)));
}

std::vector<at::Tensor> explicit_noise(const Generator& g, int64_t batch) {
  std::vector<at::Tensor> layers;
  for (int layer = 0; layer < g.architecture().num_conv_layers(); ++layer) {
    const int r = g.architecture().conv_layer_resolution(layer);
    layers.push_back(at::randn({batch, 1, r, r}, at::kDouble));
  }
  return layers;
}

TEST(FusedLayers, TheGeneratorComputesWhatTheAtenPathComputesForEveryNoiseAndClamp) {
  for (const std::optional<double> clamp : {std::optional<double>(), std::optional<double>(0.5)}) {
    const Generator g = test_generator(clamp);
    const at::Tensor ws = latents(g, 3);
    for (const Noise& noise : {Noise::constant(), Noise::none(), Noise::explicit_tensors(explicit_noise(g, 3))}) {
      // Layer 3 up-samples (16x16 from 8x8), layer 4 does not: both kinds of layer output.
      for (const int layer : {3, 4}) {
        SCOPED_TRACE("clamp " + std::to_string(clamp.value_or(0)) + ", layer " + std::to_string(layer));
        const Output fused = synthesize(g, ws, noise, layer, true), aten = synthesize(g, ws, noise, layer, false);
        EXPECT_LE(relative_difference(fused.image, aten.image), kBound);
        EXPECT_LE(relative_difference(fused.features, aten.features), kBound);
      }
    }
    if (clamp) {  // the clamp binds somewhere, so the clamped case tested something
      const Output out = synthesize(g, ws, Noise::constant(), 4, true);
      EXPECT_DOUBLE_EQ(out.features.abs().max().item<double>(), *clamp);
    }
  }
}

// The up-sampling layer alone, at a size where its images are convolved a few at a time
// (each phase output above the chunk size: 64 x 129 x 129 x 8 bytes > 8 MiB), with per-image
// noise: images of later chunks must land in their own places with their own noise and
// demodulation.
TEST(FusedLayers, UpsamplingInChunksMatchesTransposedConvolutionThenBlur) {
  at::NoGradGuard no_grad;
  at::manual_seed(11);
  const auto f64 = at::TensorOptions(at::kDouble);
  const int64_t batch = 3, in = 8, out = 64, size = 128;
  const at::Tensor x = at::randn({batch, in, size, size}, f64), weight = at::randn({out, in, 3, 3}, f64);
  const at::Tensor taps = at::tensor({1.0, 3.0, 3.0, 1.0}, f64);
  const at::Tensor fir = at::outer(taps, taps) / 16;  // sums to 4, as the generators' blur
  const fused::LayerEnd end{at::rand({batch, out}, f64), at::randn({batch, 1, 2 * size, 2 * size}, f64),
                            at::tensor(0.7, f64), at::randn({out}, f64), 1.5};

  const at::Tensor result = fused::upsample_conv3x3(x, fused::phase_kernels(weight), fir, end);

  const int64_t stride[2] = {2, 2}, padding[2] = {0, 0};
  at::Tensor expected = fir_filter(at::conv_transpose2d(x, weight.transpose(0, 1), {}, stride, padding), fir, 1, 1);
  expected = expected * end.demod.view({batch, out, 1, 1}) + end.noise * end.noise_strength;
  expected = bias_leaky_relu(expected, end.bias, end.clamp);
  ASSERT_EQ(result.sizes(), expected.sizes());
  EXPECT_LE(relative_difference(result, expected), kBound);
  EXPECT_LE(relative_difference(result[2], expected[2]), kBound);  // the last chunk's image
}

// A weight changed in place (as the optimiser, the EMA and collectives change them, some
// through raw pointers that no version counter sees) must be used by the next call: nothing
// derived from the weights may outlive a call.
TEST(FusedLayers, AWeightChangedInPlaceIsUsedByTheNextCall) {
  Generator g = test_generator(std::nullopt);
  const at::Tensor ws = latents(g, 2);
  const Output before = synthesize(g, ws, Noise::constant(), -1, true);
  {
    at::NoGradGuard no_grad;
    for (const auto& conv : g.weights().convs)
      if (conv.upsample) conv.weight.mul_(-0.5);
  }
  const Output fused = synthesize(g, ws, Noise::constant(), -1, true), aten = synthesize(g, ws, Noise::constant(), -1, false);
  EXPECT_GT(relative_difference(fused.image, before.image), 1e-3);
  EXPECT_LE(relative_difference(fused.image, aten.image), kBound);
}

// Without autograd on the CPU the fused path is taken; with autograd (training), on other
// devices or in bfloat16, the ATen path.
TEST(FusedLayers, AppliesOnlyToCpuFloatTensorsWithoutAutograd) {
  const at::Tensor x = at::zeros({1, 1, 2, 2});
  {
    at::NoGradGuard no_grad;
    EXPECT_TRUE(fused::applies(x));
    EXPECT_TRUE(fused::applies(x.to(at::kDouble)));
    EXPECT_FALSE(fused::applies(x.to(at::kBFloat16)));
  }
  EXPECT_FALSE(fused::applies(x));
}

}  // namespace
}  // namespace styleseg::stylegan2
