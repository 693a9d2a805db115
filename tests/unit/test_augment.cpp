// Augmentation keeps image and mask aligned, swaps left/right classes on a flip, pads with
// the ignore label, and is a function of its random stream alone.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/error.h"
#include "core/seeding.h"
#include "train/augment.h"

namespace styleseg::train {
namespace {

// A mask of 4 classes in blocks and an image whose colour encodes the class exactly.
std::pair<at::Tensor, at::Tensor> coloured_sample(int64_t size) {
  at::Tensor mask = at::zeros({size, size}, at::kLong);
  mask.narrow(0, 0, size / 2).narrow(1, size / 2, size - size / 2).fill_(1);
  mask.narrow(0, size / 2, size - size / 2).narrow(1, 0, size / 3).fill_(2);
  mask.narrow(0, size / 2, size - size / 2).narrow(1, size / 3, size - size / 3).fill_(3);
  const at::Tensor colours = at::tensor({10, 20, 30, 200, 40, 60, 90, 250, 120, 30, 160, 90}, at::kByte).view({4, 3});
  return {colours.index_select(0, mask.reshape({-1})).view({size, size, 3}).contiguous(), mask};
}

// The class whose colour is nearest to each pixel of an augmented image.
at::Tensor classes_of(const at::Tensor& image) {
  const at::Tensor colours = at::tensor({10, 20, 30, 200, 40, 60, 90, 250, 120, 30, 160, 90}, at::kFloat).view({4, 3}) / 255.0;
  const at::Tensor pixels = image.permute({1, 2, 0}).reshape({-1, 1, 3});
  return (pixels - colours.unsqueeze(0)).pow(2).sum(2).argmin(1).view({image.size(1), image.size(2)});
}

TEST(Augment, CropAndFlipKeepImageAndMaskAligned) {
  auto [image, mask] = coloured_sample(40);
  AugmentOptions o;
  o.crop = 24;
  o.flip_probability = 0.5;
  for (uint64_t seed = 0; seed < 8; ++seed) {
    SampleRng rng(seed, 0, Stream::Generic);
    const Augmented a = augment(image, mask, o, rng);
    ASSERT_EQ(a.image.sizes(), at::IntArrayRef({3, 24, 24}));
    EXPECT_TRUE(at::equal(classes_of(a.image), a.mask)) << "seed " << seed;  // exact: crops and flips move pixels only
  }
}

TEST(Augment, ScalingKeepsThemAlignedAwayFromEdges) {
  auto [image, mask] = coloured_sample(40);
  AugmentOptions o;
  o.crop = 32;
  o.scale_min = 0.6;
  o.scale_max = 1.7;
  for (uint64_t seed = 0; seed < 8; ++seed) {
    SampleRng rng(seed, 1, Stream::Generic);
    const Augmented a = augment(image, mask, o, rng);
    const at::Tensor known = a.mask != 255;
    const double agree = (classes_of(a.image) == a.mask).logical_and(known).sum().item<double>() / known.sum().item<double>();
    EXPECT_GT(agree, 0.9) << "seed " << seed;  // bilinear colours blend only along region edges
  }
}

TEST(Augment, FlipSwapsLeftAndRightClasses) {
  // Class 1 on the left half, class 2 on the right: after a flip with the pair 1:2 the
  // left half is still "left" (class 1) although its pixels came from the right.
  at::Tensor mask = at::ones({8, 8}, at::kLong);
  mask.narrow(1, 4, 4).fill_(2);
  at::Tensor image = at::zeros({8, 8, 3}, at::kByte);
  image.narrow(1, 4, 4).fill_(255);  // right half white
  AugmentOptions o;
  o.flip_probability = 1.0;
  o.flip_pairs = parse_flip_pairs("1:2");
  SampleRng rng(0, 0, Stream::Generic);
  const Augmented a = augment(image, mask, o, rng);
  EXPECT_TRUE(at::equal(a.mask, mask));
  EXPECT_EQ(a.image[0][0][0].item<float>(), 1.0f);  // the white half is now on the left
  EXPECT_THROW(parse_flip_pairs("1-2"), ConfigError);
}

TEST(Augment, SmallSamplesArePaddedWithTheIgnoreLabel) {
  auto [image, mask] = coloured_sample(10);
  AugmentOptions o;
  o.crop = 16;
  SampleRng rng(3, 0, Stream::Generic);
  const Augmented a = augment(image, mask, o, rng);
  EXPECT_EQ((a.mask == 255).sum().item<int64_t>(), 16 * 16 - 10 * 10);
}

TEST(Augment, AFunctionOfTheRandomStreamAlone) {
  auto [image, mask] = coloured_sample(32);
  AugmentOptions o;
  o.crop = 24;
  o.scale_min = 0.8;
  o.scale_max = 1.3;
  o.brightness = o.contrast = o.saturation = 0.3;
  o.blur_probability = 0.5;
  o.noise = 0.05;
  SampleRng a1(5, 9, Stream::Generic), a2(5, 9, Stream::Generic), b(5, 10, Stream::Generic);
  const Augmented x = augment(image, mask, o, a1), y = augment(image, mask, o, a2), z = augment(image, mask, o, b);
  EXPECT_TRUE(at::equal(x.image, y.image));
  EXPECT_TRUE(at::equal(x.mask, y.mask));
  EXPECT_FALSE(at::equal(x.image, z.image));
  EXPECT_GE(x.image.min().item<float>(), 0.0f);
  EXPECT_LE(x.image.max().item<float>(), 1.0f);
}

}  // namespace
}  // namespace styleseg::train
