// The sampler's feature noise: features from a second pass with other noise inputs, the
// images unchanged.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "io/h5.h"
#include "io/h5_tensor.h"
#include "sampling/sampler.h"
#include "support/fixtures.h"

namespace styleseg::stages {
namespace {

sampling::SamplerOptions options_for(const std::string& checkpoint, const std::string& noise, const std::string& feature_noise) {
  sampling::SamplerOptions o;
  o.checkpoint = checkpoint;
  o.seed = 5;
  o.noise = parse_name<sampling::NoiseMode>(noise, "--noise");
  o.feature_noise = parse_name<sampling::FeatureNoise>(feature_noise, "--feature-noise");
  o.feature_layer = "7";
  o.device = "cpu";
  return o;
}

TEST(Sampler, FeatureNoiseChangesTheFeaturesPassOnly) {
  // A trained generator: a fresh one's noise strengths are zero (rosinality's initialisation).
  const std::string path = test::test_data_dir() + "/../../jobs/models/eyes64-cpu.pt";
  const sampling::SampleBatch textured = sampling::Sampler(options_for(path, "random", "same"), 0).make(3, 4);
  const sampling::SampleBatch smooth = sampling::Sampler(options_for(path, "none", "same"), 0).make(3, 4);
  const sampling::SampleBatch mixed = sampling::Sampler(options_for(path, "random", "none"), 0).make(3, 4);
  ASSERT_FALSE(at::equal(textured.features, smooth.features)) << "the noise inputs must matter for this test";
  EXPECT_TRUE(at::equal(mixed.images, textured.images));      // the images keep their noise
  EXPECT_TRUE(at::allclose(mixed.features, smooth.features));  // the features come without it
  EXPECT_THROW(options_for(path, "random", "zero"), ConfigError);
}

TEST(Sampler, L2NormalisedFeaturesAreTheSameDirectionsAtUnitLength) {
  const std::string path = test::test_data_dir() + "/../../jobs/models/eyes64-cpu.pt";
  sampling::SamplerOptions o = options_for(path, "random", "same");
  const at::Tensor raw = sampling::Sampler(o, 0).make(0, 2).features;
  o.feature_normalize = sampling::FeatureNormalize::L2;
  const at::Tensor unit = sampling::Sampler(o, 0).make(0, 2).features;
  EXPECT_TRUE(at::allclose(unit.norm(2, 1), at::ones({2, 64, 64}), 1e-5, 1e-5));
  EXPECT_TRUE(at::allclose(unit * raw.norm(2, 1, true), raw, 1e-4, 1e-5));
  EXPECT_THROW(parse_name<sampling::FeatureNormalize>("L2", "--feature-normalize"), ConfigError);
}

}  // namespace
}  // namespace styleseg::stages

namespace styleseg::stages {
namespace {

TEST(Sampler, SeveralLayersAreConcatenatedAtTheFinestResolution) {
  const std::string path = test::test_data_dir() + "/../../jobs/models/eyes64-cpu.pt";
  sampling::SamplerOptions o = options_for(path, "random", "same");
  o.feature_layer = "5";
  const at::Tensor coarse = sampling::Sampler(o, 0).make(0, 2, /*resize_features=*/false).features;  // [2, 64, 32, 32]
  o.feature_layer = "7";
  const at::Tensor fine = sampling::Sampler(o, 0).make(0, 2, false).features;                         // [2, 32, 64, 64]
  o.feature_layer = "5+7";
  const sampling::Sampler both(o, 0);
  EXPECT_EQ(both.feature_layer()->channels, coarse.size(1) + fine.size(1));
  EXPECT_EQ(both.feature_layer()->resolution, 64);
  const at::Tensor f = both.make(0, 2, false).features;
  ASSERT_EQ(f.sizes(), (std::vector<int64_t>{2, coarse.size(1) + fine.size(1), 64, 64}));
  const at::Tensor up = at::upsample_bilinear2d(coarse, {64, 64}, /*align_corners=*/true);
  EXPECT_TRUE(at::allclose(f.slice(1, 0, coarse.size(1)), up, 1e-4, 1e-5));
  EXPECT_TRUE(at::allclose(f.slice(1, coarse.size(1)), fine, 1e-4, 1e-5));
  o.feature_layer = "5+8";
  EXPECT_THROW(sampling::Sampler(o, 0), ConfigError);
}

// `image` in a hypercolumn is the generated image itself (the raw output, before clamping),
// never scaled to unit length; the layers beside it are, and are what they are alone.
TEST(Sampler, TheImageLayerIsTheRawOutputBesideTheFeatures) {
  const std::string path = test::test_data_dir() + "/../../jobs/models/eyes64-cpu.pt";
  sampling::SamplerOptions o = options_for(path, "random", "same");
  o.feature_normalize = sampling::FeatureNormalize::L2;
  const at::Tensor fine = sampling::Sampler(o, 0).make(0, 2, false).features;  // layer 7 alone, unit length
  o.feature_layer = "image+7";
  const sampling::Sampler both(o, 0);
  EXPECT_EQ(both.feature_layer()->channels, 3 + fine.size(1));
  const sampling::SampleBatch b = both.make(0, 2, false);
  ASSERT_EQ(b.features.sizes(), (std::vector<int64_t>{2, 3 + fine.size(1), 64, 64}));
  EXPECT_TRUE(at::equal(b.features.slice(1, 0, 3), b.raw));
  EXPECT_TRUE(at::allclose(b.features.slice(1, 3), fine, 1e-5, 1e-6));
  EXPECT_GT((b.raw.norm(2, 1) - 1).abs().max().item<double>(), 0.1);  // the image part is not unit length
}

}  // namespace
}  // namespace styleseg::stages

namespace styleseg::stages {
namespace {

// One NaN latent would make a black sample and a NaN w without a word: refused, naming the
// file and the samples.
TEST(Sampler, NonFiniteLatentsAreAnInputErrorNamingTheFile) {
  const std::string path = test::test_data_dir() + "/../../jobs/models/eyes64-cpu.pt";
  const std::string latents = test::scratch_dir("sampler_nan") + "/z.h5";
  sampling::SamplerOptions o = options_for(path, "const", "same");
  at::Tensor z = at::randn({3, sampling::Sampler(o, 0).generator().architecture().z_dim});
  z[1][4] = std::nan("");
  {
    h5::File file = h5::File::create(latents, MPI_COMM_NULL);
    h5::write_tensor(file, "z", z);
  }
  o.latents = latents;
  const sampling::Sampler sampler(o, 0);
  EXPECT_NO_THROW(sampler.make(0, 1));
  try {
    sampler.make(0, 3);
    ADD_FAILURE() << "a NaN latent was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(latents + ": dataset 'z' holds a NaN"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace styleseg::stages
