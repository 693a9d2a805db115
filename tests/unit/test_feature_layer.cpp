#include <gtest/gtest.h>

#include "core/error.h"
#include "models/stylegan2/checkpoint.h"
#include "models/stylegan2/feature_layer.h"

namespace styleseg::stylegan2 {
namespace {

Architecture arch_of(int resolution) {
  Architecture a;
  a.resolution = resolution;
  a.z_dim = a.w_dim = 512;
  a.mapping_layers = 8;
  a.channels = default_channels(resolution, 2);
  return a;
}

TEST(FeatureLayer, OfficialNumberSevenIsThe64BlockOfA1024Model) {
  const Architecture a = arch_of(1024);
  EXPECT_EQ(a.num_ws(), 18);
  const FeatureLayer layer = resolve_feature_layer("7", a);
  EXPECT_EQ(layer.resolution, 64);
  EXPECT_EQ(layer.conv_layer, 8);
  EXPECT_EQ(layer.rosinality_name, "convs.7");
  EXPECT_EQ(layer.nvlabs_name, "synthesis.b64.conv1");
  EXPECT_EQ(layer.channels, 512);
}

TEST(FeatureLayer, EveryOddNumberIsTheSecondConvOfItsBlock) {
  const Architecture a = arch_of(256);
  for (int n = 1; n + 1 < a.num_conv_layers(); n += 2) {
    const FeatureLayer layer = resolve_feature_layer(std::to_string(n), a);
    EXPECT_EQ(layer.resolution, 1 << ((n + 1) / 2 + 2)) << n;
    EXPECT_EQ(layer.rosinality_name, "convs." + std::to_string(n)) << n;
  }
}

TEST(FeatureLayer, ModuleNamesOfBothLayoutsAgree) {
  const Architecture a = arch_of(256);
  EXPECT_EQ(resolve_feature_layer("conv1", a).conv_layer, 0);
  EXPECT_EQ(resolve_feature_layer("synthesis.b4.conv1", a).conv_layer, 0);
  EXPECT_EQ(resolve_feature_layer("b4", a).conv_layer, 0);
  EXPECT_EQ(resolve_feature_layer("convs.4", a).conv_layer, resolve_feature_layer("synthesis.b32.conv0", a).conv_layer);
  EXPECT_EQ(resolve_feature_layer("synthesis.b32", a).conv_layer, resolve_feature_layer("5", a).conv_layer);
  EXPECT_EQ(resolve_feature_layer("b256.conv1", a).resolution, 256);
  EXPECT_EQ(resolve_feature_layer("synthesis.b128.conv0", a).channels, 256);
}

TEST(FeatureLayer, ImageIsTheOutputAtFullResolution) {
  const Architecture a = arch_of(256);
  const FeatureLayer image = resolve_feature_layer("image", a);
  EXPECT_TRUE(image.is_image());
  EXPECT_EQ(image.resolution, 256);
  EXPECT_EQ(image.channels, 3);
  EXPECT_EQ(image.rosinality_name, "image");
  EXPECT_FALSE(resolve_feature_layer("7", a).is_image());
}

TEST(FeatureLayer, BadSpellingsAreConfigErrorsNamingTheOption) {
  const Architecture a = arch_of(64);
  for (const char* bad : {"2", "13", "convs.99", "b512", "b4.conv0", "b48", "layer7", ""}) {
    try {
      resolve_feature_layer(bad, a);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("--feature-layer"), std::string::npos) << e.what();
    }
  }
}

TEST(Architecture, SizesOfConfigF256) {
  const Architecture a = arch_of(256);
  EXPECT_EQ(a.num_ws(), 14);
  EXPECT_EQ(a.num_conv_layers(), 13);
  EXPECT_EQ(a.conv_layer_resolution(0), 4);
  EXPECT_EQ(a.conv_layer_resolution(1), 8);
  EXPECT_EQ(a.conv_layer_resolution(12), 256);
  EXPECT_EQ(a.conv_layer_in_channels(11), 256);   // upsampling conv of the 256 block reads 128's
  EXPECT_EQ(a.conv_layer_out_channels(11), 128);
  EXPECT_TRUE(a.conv_layer_upsamples(11));
  EXPECT_FALSE(a.conv_layer_upsamples(12));
  EXPECT_EQ(conv_layer_name(Layout::NVlabs, 11), "synthesis.b256.conv0");
  EXPECT_EQ(to_rgb_name(Layout::Rosinality, 256), "to_rgbs.5");
  EXPECT_EQ(to_rgb_name(Layout::NVlabs, 4), "synthesis.b4.torgb");
}

}  // namespace
}  // namespace styleseg::stylegan2
