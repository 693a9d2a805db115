#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "io/visualize.h"

namespace styleseg {
namespace {

TEST(Visualize, RegionsWithDifferentFeaturesGetDifferentColours) {
  at::manual_seed(0);
  // Two samples of 8x8 with 16 channels: left half vector a, right half vector b, plus noise.
  at::Tensor a = at::randn({16}), b = at::randn({16});
  at::Tensor f = at::zeros({2, 16, 8, 8});
  f.narrow(3, 0, 4).copy_(a.view({1, 16, 1, 1}).expand({2, 16, 8, 4}));
  f.narrow(3, 4, 4).copy_(b.view({1, 16, 1, 1}).expand({2, 16, 8, 4}));
  f += 0.01 * at::randn(f.sizes());
  at::Tensor rgb = features_to_rgb(f).to(at::kFloat);
  ASSERT_EQ(rgb.sizes(), at::IntArrayRef({2, 8, 8, 3}));
  at::Tensor left = rgb.narrow(2, 0, 4).reshape({-1, 3}), right = rgb.narrow(2, 4, 4).reshape({-1, 3});
  const double between = (left.mean(0) - right.mean(0)).norm().item<double>();
  const double within = std::max(left.std(0).max().item<double>(), right.std(0).max().item<double>());
  EXPECT_GT(between, 100.0);      // the first component separates the halves across the range
  EXPECT_LT(within, 0.1 * between);
  // The same regions in both samples get the same colours (one PCA for all samples).
  EXPECT_LT((rgb[0] - rgb[1]).abs().mean().item<double>(), 0.1 * between);
}

}  // namespace
}  // namespace styleseg
