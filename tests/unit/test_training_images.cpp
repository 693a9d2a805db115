// The GAN's real images: from a folder or a dataset file, square, resized, in [-1, 1], flips.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "io/image.h"
#include "support/fixtures.h"
#include "support/toy_shapes.h"
#include "train/training_images.h"

namespace styleseg::train {
namespace {

TEST(TrainingImages, FolderImagesAreCroppedResizedScaledAndFlipped) {
  const std::string dir = test::scratch_dir("training_images");
  std::filesystem::create_directories(dir + "/in");
  // A 20x40 image: left half black, right half white; its centre square is 20x20 with the
  // boundary in the middle.
  at::Tensor wide = at::zeros({20, 40, 3}, at::kByte);
  wide.narrow(1, 20, 20).fill_(255);
  write_png(dir + "/in/a.png", wide);
  write_png(dir + "/in/b.png", at::full({8, 8, 3}, 255, at::kByte));
  const TrainingImages images(dir + "/in", 10);
  ASSERT_EQ(images.size(), 2);
  const at::Tensor x = images.batch({0, 1, 0}, {false, false, true});
  EXPECT_EQ(x.sizes(), (std::vector<int64_t>{3, 3, 10, 10}));
  EXPECT_NEAR(x[0][0][5][0].item<float>(), -1.0f, 1e-6);  // left: black
  EXPECT_NEAR(x[0][0][5][9].item<float>(), 1.0f, 1e-6);   // right: white
  EXPECT_NEAR(x[1].min().item<float>(), 1.0f, 1e-6);       // up-sampled white stays white
  EXPECT_TRUE(at::equal(x[2], x[0].flip({2})));
  EXPECT_THROW(TrainingImages(dir + "/none", 10), InputError);
  std::filesystem::create_directories(dir + "/empty");
  EXPECT_THROW(TrainingImages(dir + "/empty", 10), InputError);
}

TEST(TrainingImages, DatasetFileImagesMatchTheFile) {
  const std::string dir = test::scratch_dir("training_images_h5");
  const test::ToyShapes shapes = test::make_toy_shapes(5, 16, 2);
  test::write_toy_dataset(dir + "/toy.h5", 5, 16, 2);
  const TrainingImages images(dir + "/toy.h5", 16);
  ASSERT_EQ(images.size(), 5);
  const at::Tensor x = images.batch({4}, {false});
  EXPECT_TRUE(at::allclose(x[0], shapes.images[4].permute({2, 0, 1}).to(at::kFloat) / 127.5 - 1, 1e-6, 1e-6));
  EXPECT_EQ(images.batch({1, 2}, {true, false}).size(2), 16);
  const TrainingImages smaller(dir + "/toy.h5", 8);
  EXPECT_EQ(smaller.batch({0}, {false}).sizes(), (std::vector<int64_t>{1, 3, 8, 8}));
}

}  // namespace
}  // namespace styleseg::train
