// The exported model file, applying it to images of any size (`segment`), and the curves
// picture of training.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "io/image.h"
#include "io/visualize.h"
#include "models/segmenter/model_file.h"
#include "models/segmenter/predict.h"
#include "mpi/local_communicator.h"
#include "stages/segment.h"
#include "support/fixtures.h"

namespace styleseg::segmenter {
namespace {

ModelInfo three_classes(int64_t input_size) {  // square
  ModelInfo info;
  info.classes = {"background", "disc", "square"};
  info.palette = {{{0, 0, 0}}, {{230, 25, 75}}, {{60, 180, 75}}};
  info.input_height = input_size;
  info.input_width = input_size;
  info.provenance = {{"note", "test"}};
  return info;
}

at::Tensor random_image(int64_t h, int64_t w, uint64_t seed) {
  at::manual_seed(seed);
  return at::randint(0, 256, {h, w, 3}, at::kByte);
}

TEST(ModelFile, SavedModelLoadsWithItsWeightsAndMetadata) {
  const std::string dir = test::scratch_dir("model_file");
  at::manual_seed(3);
  Segmenter net(3);
  net.train(false);
  save_model(dir + "/seg.pt", net, three_classes(32));
  LoadedModel loaded = load_model(dir + "/seg.pt");
  EXPECT_EQ(loaded.info.classes, three_classes(32).classes);
  EXPECT_EQ(loaded.info.palette[1], (std::array<uint8_t, 3>{230, 25, 75}));
  EXPECT_EQ(loaded.info.input_height, 32);
  EXPECT_EQ(loaded.info.input_width, 32);
  EXPECT_EQ(loaded.info.provenance["note"], "test");
  EXPECT_FLOAT_EQ(loaded.info.mean[1], kImageMean[1]);
  const auto a = net.state(), b = loaded.net.state();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(at::equal(a[i].second, b[i].second)) << a[i].first;
}

TEST(ModelFile, OtherFilesAreRefusedByName) {
  const std::string dir = test::scratch_dir("model_file_bad");
  EXPECT_THROW(load_model(dir + "/missing.pt"), InputError);
  std::ofstream(dir + "/junk.pt") << "not a zip";
  try {
    load_model(dir + "/junk.pt");
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("junk.pt"), std::string::npos) << e.what();
  }
}

TEST(Predict, LabelsHaveEachImagesOwnSize) {
  at::manual_seed(4);
  Segmenter net(3);
  net.train(false);
  const ModelInfo info = three_classes(32);
  const std::vector<at::Tensor> images{random_image(50, 70, 1), random_image(32, 32, 2), random_image(17, 9, 3)};
  const auto labels = predict_labels(net, info, images, c10::Device(c10::kCPU));
  ASSERT_EQ(labels.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(labels[i].size(0), images[i].size(0));
    EXPECT_EQ(labels[i].size(1), images[i].size(1));
    EXPECT_GE(labels[i].min().item<int64_t>(), 0);
    EXPECT_LT(labels[i].max().item<int64_t>(), 3);
  }
  // Batching does not change an image's result.
  EXPECT_TRUE(at::equal(predict_labels(net, info, {images[1]}, c10::Device(c10::kCPU))[0], labels[1]));
}

TEST(Segment, WritesMasksAndOverlaysAndSkipsUnreadableImagesByName) {
  const std::string dir = test::scratch_dir("segment");
  at::manual_seed(5);
  Segmenter net(3);
  save_model(dir + "/seg.pt", net, three_classes(32));
  std::filesystem::create_directories(dir + "/in");
  write_png(dir + "/in/wide.png", random_image(40, 60, 7));
  write_png(dir + "/in/small.png", random_image(20, 20, 8));
  std::ofstream(dir + "/in/broken.png") << "\x89PNG but not really";
  std::ofstream(dir + "/in/notes.txt") << "not an image: not listed";

  stages::SegmentOptions o;
  o.model = dir + "/seg.pt";
  o.inputs = {dir + "/in"};
  o.out = dir + "/out";
  o.batch = 2;
  o.device = "cpu";
  comm::LocalCommunicator comm;
  const stages::SegmentSummary s = stages::segment(o, comm);
  EXPECT_EQ(s.images, 2);
  EXPECT_EQ(s.failed, 1);
  const at::Tensor mask = read_label_image(dir + "/out/wide.png");
  EXPECT_EQ(mask.sizes(), (std::vector<int64_t>{40, 60}));
  EXPECT_LT(mask.max().item<int>(), 3);
  // The mask is the model's prediction for that image.
  LoadedModel loaded = load_model(o.model);
  const at::Tensor expected = predict_labels(loaded.net, loaded.info, {read_image(dir + "/in/wide.png")}, c10::Device(c10::kCPU))[0];
  EXPECT_TRUE(at::equal(mask.to(at::kLong), expected));
  EXPECT_EQ(read_image(dir + "/out/overlay/small.png").sizes(), (std::vector<int64_t>{20, 20, 3}));
  EXPECT_TRUE(std::filesystem::exists(dir + "/out/overlay/_legend.png"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/out/broken.png"));
}

TEST(Segment, InputListRefusesMissingInputsAndClashingNames) {
  const std::string dir = test::scratch_dir("segment_inputs");
  std::filesystem::create_directories(dir + "/a");
  std::filesystem::create_directories(dir + "/b");
  write_png(dir + "/a/x.png", random_image(4, 4, 1));
  write_png(dir + "/b/x.png", random_image(4, 4, 2));
  write_png(dir + "/b/y.png", random_image(4, 4, 3));
  EXPECT_EQ(stages::list_input_images({dir + "/b"}).size(), 2u);
  EXPECT_EQ(stages::list_input_images({dir + "/b/y.png", dir + "/b"}).size(), 2u);  // listed once
  try {
    stages::list_input_images({dir + "/a", dir + "/b"});
    ADD_FAILURE();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("x.png"), std::string::npos) << e.what();
  }
  // A missing input file is an input error (exit 3), as for evaluate's --pred and --gt.
  EXPECT_THROW(stages::list_input_images({dir + "/nowhere"}), InputError);
}

TEST(Curves, PlotDrawsEachCurveInItsColourInItsPanel) {
  Curve rising{"rising", {0, 1, 2, 3}, {0, 1, 2, 3}, {200, 10, 10}};
  Curve empty{"empty", {}, {}, {10, 10, 200}};
  const at::Tensor picture = plot_curves({rising, empty}, 300, 120);
  EXPECT_EQ(picture.sizes(), (std::vector<int64_t>{240, 300, 3}));
  auto has_colour = [&](const at::Tensor& region, const std::array<uint8_t, 3>& rgb) {
    return ((region.select(2, 0) == rgb[0]) & (region.select(2, 1) == rgb[1]) & (region.select(2, 2) == rgb[2])).any().item<bool>();
  };
  EXPECT_TRUE(has_colour(picture.narrow(0, 0, 120), rising.colour));
  EXPECT_FALSE(has_colour(picture.narrow(0, 120, 120), rising.colour));
  EXPECT_FALSE(has_colour(picture, empty.colour));
  // Rising: the curve's leftmost pixels lie lower in the panel than its rightmost ones.
  const at::Tensor red = (picture.narrow(0, 0, 120).select(2, 0) == 200) & (picture.narrow(0, 0, 120).select(2, 1) == 10);
  const at::Tensor where = red.nonzero();
  const at::Tensor left = where.index_select(0, (where.select(1, 1) < 100).nonzero().squeeze(1));
  const at::Tensor right = where.index_select(0, (where.select(1, 1) > 250).nonzero().squeeze(1));
  ASSERT_GT(left.size(0), 0);
  ASSERT_GT(right.size(0), 0);
  EXPECT_GT(left.select(1, 0).to(at::kFloat).mean().item<float>(), right.select(1, 0).to(at::kFloat).mean().item<float>());
}

}  // namespace
}  // namespace styleseg::segmenter
