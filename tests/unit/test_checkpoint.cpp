// Checkpoint layouts: detection errors, and styleseg's own files (save -> load) giving the
// same generator, including conversion of an NVlabs file to the rosinality layout.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "core/error.h"
#include "models/stylegan2/checkpoint.h"
#include "support/fixtures.h"

namespace styleseg::stylegan2 {
namespace {

Architecture small_arch() {
  Architecture a;
  a.resolution = 16;
  a.z_dim = 32;
  a.w_dim = 24;
  a.mapping_layers = 3;
  a.channels = {{4, 16}, {8, 12}, {16, 8}};
  return a;
}

at::Tensor render(const Generator& g, uint64_t seed) {
  at::manual_seed(seed);
  at::Tensor z = at::randn({2, g.architecture().z_dim});
  return g.synthesize(g.broadcast(g.map(z)), Noise::constant(), 2).image;
}

TEST(Checkpoint, InitSaveLoadGivesTheSameGenerator) {
  const Generator g = init_generator(small_arch(), 3, 0.02);
  const std::string path = test::scratch_dir("ckpt") + "/g.pt";
  save_generator(g, path);
  const Generator loaded = load_generator(path);
  EXPECT_EQ(loaded.layout(), Layout::Rosinality);
  EXPECT_EQ(loaded.architecture().channels, small_arch().channels);
  EXPECT_EQ(loaded.architecture().mapping_layers, 3);
  EXPECT_DOUBLE_EQ(loaded.settings().lr_mapping, 0.02);  // stored in the 'styleseg' entry
  EXPECT_TRUE(at::allclose(render(g, 1), render(loaded, 1), 1e-6, 1e-6));
}

// A float16 file (init-gan --dtype float16, the carried eye generator) holds every stored value
// rounded to half precision, in about half the bytes, and loads as float32.
TEST(Checkpoint, Float16FileHoldsTheWeightsRoundedToHalf) {
  const Generator g = init_generator(small_arch(), 3, 0.02);
  const std::string dir = test::scratch_dir("ckpt_half");
  save_generator(g, dir + "/g32.pt");
  save_generator(g, dir + "/g16.pt", at::kHalf);
  const auto size = [](const std::string& path) { return static_cast<double>(std::ifstream(path, std::ios::ate | std::ios::binary).tellg()); };
  const auto original = rosinality_state_dict(g);
  double values = 0;
  for (const auto& entry : original) values += static_cast<double>(entry.second.numel());
  EXPECT_NEAR(size(dir + "/g32.pt") - size(dir + "/g16.pt"), 2 * values, 0.05 * 2 * values);  // 2 bytes a value saved
  const Generator loaded = load_generator(dir + "/g16.pt");
  const auto reread = rosinality_state_dict(loaded);
  ASSERT_EQ(original.size(), reread.size());
  for (size_t i = 0; i < original.size(); ++i) {
    ASSERT_EQ(original[i].first, reread[i].first);
    EXPECT_EQ(reread[i].second.scalar_type(), at::kFloat);
    // Loading applies the equalised-lr gain and saving undoes it: float32 rounding (1e-6) on
    // top of the half rounding (2^-11 relative), which is what must show.
    const at::Tensor rounded = original[i].second.to(at::kHalf).to(at::kFloat);
    EXPECT_TRUE(at::allclose(reread[i].second, rounded, 1e-6, 1e-7)) << original[i].first;
    if (original[i].second.numel() > 100)
      EXPECT_FALSE(at::allclose(reread[i].second, original[i].second, 1e-6, 1e-7)) << original[i].first;
  }
  EXPECT_THROW(save_generator(g, dir + "/g64.pt", at::kDouble), ConfigError);
}

// One NaN weight would make every image black without a word: refused on loading.
TEST(Checkpoint, NonFiniteWeightsAreAnInputErrorNamingTheFile) {
  Generator g = init_generator(small_arch(), 3);
  at::Tensor(g.trainable_weights().at(2)).view({-1})[0] = std::nan("");
  const std::string path = test::scratch_dir("ckpt_nan") + "/nan.pt";
  save_generator(g, path);
  try {
    load_generator(path);
    ADD_FAILURE() << "a NaN weight was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(path + ": holds a NaN or infinite weight"), std::string::npos) << e.what();
  }
}

// A resolution past the limit is refused before any table or loop depends on it.
TEST(Checkpoint, DefaultChannelsEndsForTheLargestResolutions) {
  EXPECT_EQ(default_channels(1 << 30, 2).size(), 29u);  // 4 ... 2^30, each once
}

TEST(Checkpoint, InitIsSeeded) {
  EXPECT_TRUE(at::equal(render(init_generator(small_arch(), 5), 1), render(init_generator(small_arch(), 5), 1)));
  EXPECT_FALSE(at::equal(render(init_generator(small_arch(), 5), 1), render(init_generator(small_arch(), 6), 1)));
}

TEST(Checkpoint, NVlabsConvertedToRosinalityLayoutRendersTheSame) {
  STYLESEG_REQUIRE_FIXTURE(checkpoint, "stylegan2_nvlabs/checkpoint.pt");
  LoadOptions no_clamp;
  no_clamp.conv_clamp = 0.0;  // the rosinality layout has no clamp
  const Generator nv = load_generator(checkpoint, no_clamp);
  const std::string path = test::scratch_dir("ckpt") + "/converted.pt";
  save_generator(nv, path);
  const Generator ros = load_generator(path);
  EXPECT_EQ(ros.layout(), Layout::Rosinality);
  EXPECT_TRUE(at::equal(ros.average_latent(), nv.average_latent()));
  const at::Tensor a = render(nv, 2), b = render(ros, 2);
  EXPECT_LE((a - b).norm().item<double>() / a.norm().item<double>(), 1e-5);
}

TEST(Checkpoint, LegacyAndZipFilesGiveTheSameGenerator) {
  STYLESEG_REQUIRE_FIXTURE(zip, "stylegan2_rosinality/checkpoint.pt");
  STYLESEG_REQUIRE_FIXTURE(legacy, "stylegan2_rosinality/checkpoint_legacy.pt");
  EXPECT_TRUE(at::equal(render(load_generator(zip), 4), render(load_generator(legacy), 4)));
}

void expect_input_error(const std::string& path, const std::vector<std::string>& needles) {
  try {
    load_generator(path);
    ADD_FAILURE() << "accepted " << path;
  } catch (const InputError& e) {
    for (const auto& needle : needles)
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what() << " lacks " << needle;
  }
}

TEST(Checkpoint, ATrainingFileWithoutAGeneratorIsRefusedWithItsKeys) {
  // A torch.save file with an optimizer state and an argparse.Namespace but no generator.
  const std::string path = test::test_data_dir() + "/torch_files/train_ckpt.pt";
  ASSERT_TRUE(std::ifstream(path).good()) << path;
  expect_input_error(path, {path, "not a StyleGAN2 generator checkpoint", "top-level keys"});
}

TEST(Checkpoint, MissingFileAndNVlabsPickleAreRefused) {
  expect_input_error(test::scratch_dir("ckpt") + "/missing.pt", {"missing.pt"});
  expect_input_error(test::test_data_dir() + "/torch_files/fake_nvlabs_network.pkl", {"tools/convert_nvlabs_pkl.py"});
}

}  // namespace
}  // namespace styleseg::stylegan2
