// DiffAugment: translations are exact integer shifts within 1/8 of the side, cutout zeroes
// one square of half the side, colour changes are differentiable, and a sample's
// augmentation depends on (key, sample index) only, not on the batch it is in.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/error.h"
#include "train/diff_augment.h"

namespace styleseg::train {
namespace {

at::Tensor shifted(const at::Tensor& image, int64_t dx, int64_t dy) {
  return at::constant_pad_nd(image, {dx, -dx, dy, -dy}, 0);
}

TEST(DiffAugment, PolicyParsesAndNamesTheOptionOnAnUnknownPart) {
  const DiffAugmentPolicy p = parse_diff_augment("color,cutout", "diff-augment");
  EXPECT_TRUE(p.color && p.cutout && !p.translation);
  EXPECT_FALSE(parse_diff_augment("none", "diff-augment").any());
  try {
    parse_diff_augment("color,colour", "diff-augment");
    ADD_FAILURE();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("--diff-augment: 'colour'"), std::string::npos) << e.what();
  }
}

TEST(DiffAugment, TranslationIsAnIntegerShiftOfAtMostAnEighth) {
  at::manual_seed(1);
  const at::Tensor images = at::rand({12, 3, 16, 16}) + 0.5;  // no zeros inside
  std::vector<int64_t> samples(12);
  for (int64_t i = 0; i < 12; ++i) samples[static_cast<size_t>(i)] = i;
  const at::Tensor out = diff_augment(images, parse_diff_augment("translation", "x"), 5, samples);
  int moved = 0;
  for (int64_t b = 0; b < 12; ++b) {
    bool found = false;
    for (int64_t dx = -2; dx <= 2 && !found; ++dx)
      for (int64_t dy = -2; dy <= 2 && !found; ++dy)
        if (at::equal(out[b], shifted(images[b], dx, dy))) found = true, moved += (dx != 0 || dy != 0);
    EXPECT_TRUE(found) << "sample " << b;
  }
  EXPECT_GT(moved, 6);  // 24 of the 25 shifts move the image
}

TEST(DiffAugment, CutoutZeroesOneSquareOfHalfTheSideAndPassesGradientsElsewhere) {
  const at::Tensor images = at::ones({8, 3, 16, 16}).requires_grad_(true);
  std::vector<int64_t> samples{0, 1, 2, 3, 4, 5, 6, 7};
  const at::Tensor out = diff_augment(images, parse_diff_augment("cutout", "x"), 9, samples);
  out.sum().backward();
  for (int64_t b = 0; b < 8; ++b) {
    const at::Tensor zero = (out[b][0] == 0);
    const int64_t count = zero.sum().item<int64_t>();
    EXPECT_GT(count, 0) << b;
    EXPECT_LE(count, 64) << b;  // an 8x8 square, clipped at the border
    // A rectangle: as many zeros as its bounding box holds.
    const at::Tensor rows = zero.any(1).nonzero(), cols = zero.any(0).nonzero();
    EXPECT_EQ(rows.size(0) * cols.size(0), count) << b;
    EXPECT_TRUE(at::equal(out[b][1] == 0, zero) && at::equal(out[b][2] == 0, zero)) << b;
  }
  // The gradient is the mask: 1 where the image shows, 0 where cut out.
  EXPECT_TRUE(at::equal(images.grad(), out.detach()));
}

TEST(DiffAugment, ASamplesAugmentationDependsOnItsKeyAndIndexNotOnItsBatch) {
  at::manual_seed(2);
  const at::Tensor images = (at::rand({4, 3, 16, 16}) * 2 - 1).requires_grad_(true);
  const DiffAugmentPolicy all = parse_diff_augment("color,translation,cutout", "x");
  const at::Tensor batch = diff_augment(images, all, 77, {10, 11, 12, 13});
  const at::Tensor alone = diff_augment(images.narrow(0, 2, 1), all, 77, {12});
  EXPECT_TRUE(at::allclose(batch[2], alone[0], 1e-6, 1e-6));
  EXPECT_FALSE(at::allclose(batch[2], diff_augment(images.narrow(0, 2, 1), all, 78, {12})[0]));
  EXPECT_FALSE(at::allclose(batch[2], images[2]));
  batch.sum().backward();
  EXPECT_GT(images.grad().abs().sum().item<double>(), 0);  // colour, shift and cutout pass gradients
}

}  // namespace
}  // namespace styleseg::train
