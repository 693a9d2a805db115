#include "models/stylegan2/architecture.h"

#include <sstream>

#include "core/error.h"

namespace styleseg::stylegan2 {

const char* layout_name(Layout layout) {
  return layout == Layout::Rosinality ? "rosinality" : "nvlabs";
}

int Architecture::log2_resolution() const {
  int log2 = 0;
  while ((1 << log2) < resolution) ++log2;
  return log2;
}

int Architecture::conv_layer_resolution(int layer) const {
  return layer == 0 ? 4 : 1 << ((layer + 1) / 2 + 2);
}

int Architecture::conv_layer_out_channels(int layer) const {
  return channels.at(conv_layer_resolution(layer));
}

int Architecture::conv_layer_in_channels(int layer) const {
  // The upsampling conv of a block reads the previous block's channels.
  if (layer == 0) return channels.at(4);
  const int res = conv_layer_resolution(layer);
  return conv_layer_upsamples(layer) ? channels.at(res / 2) : channels.at(res);
}

std::string Architecture::describe() const {
  std::ostringstream out;
  out << resolution << "x" << resolution << ", z_dim " << z_dim << ", w_dim " << w_dim << ", "
      << mapping_layers << " mapping layers, channels {";
  bool first = true;
  for (const auto& [res, ch] : channels) {
    out << (first ? "" : ", ") << res << ": " << ch;
    first = false;
  }
  out << "}";
  return out.str();
}

std::string conv_layer_name(Layout layout, int layer) {
  if (layout == Layout::Rosinality) return layer == 0 ? "conv1" : "convs." + std::to_string(layer - 1);
  if (layer == 0) return "synthesis.b4.conv1";
  const int res = 1 << ((layer + 1) / 2 + 2);
  return "synthesis.b" + std::to_string(res) + (layer % 2 == 1 ? ".conv0" : ".conv1");
}

std::string to_rgb_name(Layout layout, int resolution) {
  if (layout == Layout::NVlabs) return "synthesis.b" + std::to_string(resolution) + ".torgb";
  if (resolution == 4) return "to_rgb1";
  int log2 = 0;
  while ((1 << log2) < resolution) ++log2;
  return "to_rgbs." + std::to_string(log2 - 3);
}

}  // namespace styleseg::stylegan2
