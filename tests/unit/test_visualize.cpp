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

TEST(Visualize, PaletteIsFixedAndDistinct) {
  const at::Tensor p = palette(40);
  ASSERT_EQ(p.sizes(), at::IntArrayRef({40, 3}));
  EXPECT_TRUE(at::equal(palette(40), p));
  EXPECT_TRUE(at::equal(palette(5), p.narrow(0, 0, 5)));  // cluster k keeps its colour whatever K
  const at::Tensor f = p.to(at::kFloat);
  const at::Tensor d = (f.unsqueeze(0) - f.unsqueeze(1)).pow(2).sum(2).sqrt() + at::eye(40) * 1000;
  EXPECT_GT(d.min().item<float>(), 10.0);
}

TEST(Visualize, LabelsBecomeTheirColoursAndUnknownLabelsBlack) {
  const at::Tensor colours = palette(3);
  const at::Tensor labels = at::tensor({0, 1, 2, 255}, at::kLong).reshape({1, 2, 2});
  const at::Tensor rgb = colorize_labels(labels, colours);
  ASSERT_EQ(rgb.sizes(), at::IntArrayRef({1, 2, 2, 3}));
  EXPECT_TRUE(at::equal(rgb[0][0][0], colours[0]));
  EXPECT_TRUE(at::equal(rgb[0][1][0], colours[2]));
  EXPECT_EQ(rgb[0][1][1].sum().item<int64_t>(), 0);
}

TEST(Visualize, TextDrawsInkInsideItsBoxOnly) {
  at::Tensor image = at::full({40, 120, 3}, 255, at::kByte);
  draw_text(image, "12.5%", 10, 5, 2, {0, 0, 0});
  const at::Tensor ink = (image.sum(2) == 0);
  EXPECT_GT(ink.sum().item<int64_t>(), 50);
  // Nothing left of x = 10 or above y = 5; "12.5%" is 5 glyphs of at most 6*2 pixels.
  EXPECT_EQ(ink.narrow(1, 0, 10).sum().item<int64_t>(), 0);
  EXPECT_EQ(ink.narrow(0, 0, 5).sum().item<int64_t>(), 0);
  EXPECT_EQ(ink.narrow(1, 10 + 5 * 12, 120 - 70).sum().item<int64_t>(), 0);
  // Clipped at the edges: no crash, some ink.
  at::Tensor small = at::full({6, 6, 3}, 255, at::kByte);
  draw_text(small, "888", 2, 2, 3, {0, 0, 0});
  EXPECT_GT((small.sum(2) == 0).sum().item<int64_t>(), 0);
}

TEST(Visualize, LegendHasOneSwatchPerEntry) {
  const at::Tensor colours = palette(6);
  const at::Tensor legend = make_legend({"0: 10%", "1: 20%", "2: 30%", "3: 5%", "4: 5%", "5: 30%"}, colours, 300);
  EXPECT_EQ(legend.size(1), 300);
  for (int64_t k = 0; k < 6; ++k) {
    const at::Tensor hit = (legend.to(at::kInt) == colours[k].to(at::kInt).view({1, 1, 3})).all(2);
    EXPECT_GE(hit.sum().item<int64_t>(), 20 * 20) << "swatch " << k;
  }
}

}  // namespace
}  // namespace styleseg
