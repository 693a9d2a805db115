// The generator under autograd, as training uses it: the same images as the in-place
// inference path, and a gradient for every trainable weight.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer includes it in LibTorch 2.x
#include <gtest/gtest.h>

#include "models/stylegan2/checkpoint.h"
#include "support/tiny_generator.h"

namespace styleseg::stylegan2 {
namespace {

TEST(GeneratorTraining, AutogradPathMatchesInferenceAndReachesEveryWeight) {
  Generator g = init_generator(test::tiny_generator_architecture(), 1, 0.01);
  at::manual_seed(2);
  const at::Tensor z = at::randn({3, 16});
  at::Tensor reference;
  {
    at::NoGradGuard no_grad;  // the in-place inference path
    reference = g.synthesize(g.broadcast(g.map(z)), Noise::constant()).image;
  }
  const auto weights = g.trainable_weights();
  EXPECT_EQ(weights.size(), 2 * 2 + 1 + 5 * 5 + 4 * 3u);  // mapping, input, 5 convs, 3 ToRGB
  for (const at::Tensor& w : weights) at::Tensor(w).requires_grad_(true);
  const at::Tensor image = g.synthesize(g.broadcast(g.map(z)), Noise::constant()).image;
  EXPECT_TRUE(at::allclose(image, reference, 1e-5, 1e-6));
  image.square().mean().backward();
  for (size_t i = 0; i < weights.size(); ++i) {
    ASSERT_TRUE(weights[i].grad().defined()) << "weight " << i;
    EXPECT_GT(weights[i].grad().abs().sum().item<double>(), 0) << "weight " << i;
  }
}

}  // namespace
}  // namespace styleseg::stylegan2
