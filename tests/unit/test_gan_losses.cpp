// StyleGAN2's objectives against their formulas on cases with known answers.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "train/gan_losses.h"

namespace styleseg::train {
namespace {

double softplus(double x) { return std::log1p(std::exp(x)); }

TEST(GanLosses, LogisticLossesFollowTheirFormulas) {
  const at::Tensor real = at::tensor({1.5, -0.5}, at::kDouble), fake = at::tensor({0.25, -2.0}, at::kDouble);
  EXPECT_NEAR(discriminator_logistic_loss(real, fake).item<double>(),
              (softplus(-1.5) + softplus(0.5)) / 2 + (softplus(0.25) + softplus(-2.0)) / 2, 1e-12);
  EXPECT_NEAR(generator_nonsaturating_loss(fake).item<double>(), (softplus(-0.25) + softplus(2.0)) / 2, 1e-12);
}

TEST(GanLosses, R1OfALinearCriticIsItsSquaredWeightNorm) {
  // D(x) = sum(a * x) + sum(x^2) / 2: grad = a + x; per-sample |a + x|^2, averaged.
  const at::Tensor a = at::tensor({1.0, -2.0, 0.5}, at::kDouble).view({1, 3, 1, 1});
  const at::Tensor x = at::tensor({0.0, 0.0, 0.0, 1.0, 1.0, 1.0}, at::kDouble).view({2, 3, 1, 1}).requires_grad_(true);
  const at::Tensor scores = (a * x).sum({1, 2, 3}) + x.pow(2).sum({1, 2, 3}) / 2;
  const at::Tensor penalty = r1_penalty(scores, x);
  EXPECT_NEAR(penalty.item<double>(), ((1 + 4 + 0.25) + (4 + 1 + 2.25)) / 2, 1e-12);
  penalty.backward();  // double backward reaches x: d/dx mean |a + x|^2 = (a + x)
  EXPECT_TRUE(at::allclose(x.grad(), (a + x.detach()), 1e-12, 1e-12));
}

TEST(GanLosses, PathLengthOfALinearGeneratorAndItsRunningMean) {
  // images = A w (per sample, w [1, 2] -> image [1, 1, 2, 2] = 4 pixels): the path length is
  // |A^T y| / sqrt(num_ws) with y = noise / sqrt(H W).
  const at::Tensor A = at::tensor({1.0, 0.0, 0.0, 2.0, 1.0, 1.0, 0.0, 3.0}, at::kDouble).view({4, 2});
  const at::Tensor ws = at::tensor({0.5, -1.0}, at::kDouble).view({1, 1, 2}).requires_grad_(true);
  const at::Tensor images = at::matmul(ws.view({1, 2}), A.t()).view({1, 1, 2, 2});
  const at::Tensor noise = at::tensor({1.0, -1.0, 2.0, 0.5}, at::kDouble).view({1, 1, 2, 2});
  const PathLength p = path_length_penalty(images, ws, noise, /*running_mean=*/1.0, /*decay=*/0.5);
  const at::Tensor y = noise.view({4}) / 2.0;
  const double expected = at::matmul(A.t(), y).norm().item<double>();
  EXPECT_NEAR(p.lengths.item<double>(), expected, 1e-12);
  EXPECT_NEAR(p.running_mean, 1.0 + 0.5 * (expected - 1.0), 1e-12);
  EXPECT_NEAR(p.penalty.item<double>(), std::pow(expected - p.running_mean, 2), 1e-12);
}

TEST(GanLosses, EmaMovesTowardsTheCurrentWeights) {
  const at::Tensor ema = at::tensor({0.0, 10.0}, at::kDouble), now = at::tensor({1.0, 0.0}, at::kDouble);
  ema_update({ema}, {now}, 0.9);
  EXPECT_TRUE(at::allclose(ema, at::tensor({0.1, 9.0}, at::kDouble), 1e-12, 1e-12));
}

TEST(GanLosses, EmaHalfLifeRampsUpWithTheImagesSeen) {
  // Without ramp-up: a batch of 32 with a 10k-image half-life, rosinality's 0.5^(32/10000).
  EXPECT_NEAR(ema_beta(32, 10000, 0, 0), std::pow(0.5, 32.0 / 10000), 1e-15);
  // With ramp-up 0.05: after 64k images the half-life is 3.2k images, so 32 images decay by 0.5^(1/100).
  EXPECT_NEAR(ema_beta(32, 10000, 0.05, 64000), std::pow(0.5, 0.01), 1e-15);
  // ... and capped by the half-life later on; at the start the EMA copies the weights.
  EXPECT_NEAR(ema_beta(32, 10000, 0.05, 10000000), std::pow(0.5, 32.0 / 10000), 1e-15);
  EXPECT_EQ(ema_beta(32, 10000, 0.05, 0), 0.0);
}

}  // namespace
}  // namespace styleseg::train
