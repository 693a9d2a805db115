#include "models/stylegan2/feature_layer.h"

#include <cctype>
#include <regex>

#include "core/error.h"

namespace styleseg::stylegan2 {
namespace {

bool all_digits(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  return true;
}

std::string valid_choices(const Architecture& arch) {
  std::string numbers;
  for (int n = 1; n + 1 < arch.num_conv_layers(); n += 2) numbers += (numbers.empty() ? "" : ", ") + std::to_string(n);
  return "official numbers " + numbers + "; conv1, convs.0 .. convs." + std::to_string(arch.num_conv_layers() - 2) +
         "; synthesis.b4 .. synthesis.b" + std::to_string(arch.resolution) + "[.conv0|.conv1]; image";
}

}  // namespace

FeatureLayer resolve_feature_layer(const std::string& spec, const Architecture& arch, const std::string& option) {
  auto fail = [&](const std::string& why) -> FeatureLayer {
    throw ConfigError(option + " '" + spec + "': " + why + " (this " + std::to_string(arch.resolution) +
                      "x" + std::to_string(arch.resolution) + " generator accepts " + valid_choices(arch) + ")");
  };
  if (spec == "image") {
    FeatureLayer image;
    image.conv_layer = FeatureLayer::kImage;
    image.resolution = arch.resolution;
    image.channels = arch.image_channels;
    image.rosinality_name = image.nvlabs_name = "image";
    return image;
  }
  int layer = -1;
  std::smatch m;
  static const std::regex convs_re(R"(convs\.(\d+))");
  static const std::regex block_re(R"((?:synthesis\.)?b(\d+)(?:\.(conv0|conv1))?)");
  if (all_digits(spec)) {
    const int n = std::stoi(spec);
    if (n % 2 == 0) return fail("the official numbering uses odd numbers (N names the block whose first convolution takes style N)");
    layer = n + 1;
  } else if (spec == "conv1") {
    layer = 0;
  } else if (std::regex_match(spec, m, convs_re)) {
    layer = std::stoi(m[1]) + 1;
  } else if (std::regex_match(spec, m, block_re)) {
    const int res = std::stoi(m[1]);
    if (res < 4 || (res & (res - 1)) != 0 || res > arch.resolution) return fail("no block at that resolution");
    const int block = __builtin_ctz(static_cast<unsigned>(res)) - 2;  // 0 for b4
    const bool conv0 = m[2].matched && m[2] == "conv0";
    if (block == 0) {
      if (conv0) return fail("the 4x4 block has only conv1");
      layer = 0;
    } else {
      layer = conv0 ? 2 * block - 1 : 2 * block;
    }
  } else {
    return fail("not a layer name");
  }
  if (layer < 0 || layer >= arch.num_conv_layers()) return fail("no such layer");
  FeatureLayer out;
  out.conv_layer = layer;
  out.resolution = arch.conv_layer_resolution(layer);
  out.channels = arch.conv_layer_out_channels(layer);
  out.rosinality_name = conv_layer_name(Layout::Rosinality, layer);
  out.nvlabs_name = conv_layer_name(Layout::NVlabs, layer);
  return out;
}

}  // namespace styleseg::stylegan2
