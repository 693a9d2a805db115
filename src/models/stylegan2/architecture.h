// StyleGAN2 generator architecture: sizes and the layer numbering shared by both
// checkpoint layouts (rosinality/stylegan2-pytorch and NVlabs/stylegan2-ada-pytorch).
//
// Layer numbering used throughout styleseg ("conv layer" L and "style index"):
//   conv layer 0        : the 4x4 convolution (rosinality `conv1`, NVlabs `synthesis.b4.conv1`)
//   conv layer 2i-1, 2i : the two convolutions of the block at resolution 2^(i+2)
//                         (rosinality `convs.2i-2`, `convs.2i-1`; NVlabs `synthesis.bR.conv0`, `.conv1`);
//                         the first of them upsamples x2.
//   conv layer L takes style (per-layer w) L; the ToRGB of block i takes style 2i+1.
//   num_ws = 2*log2(resolution) - 2, num_conv_layers = num_ws - 1.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace styleseg::stylegan2 {

enum class Layout { Rosinality, NVlabs };
const char* layout_name(Layout layout);

// The largest image size accepted from a command line or a file (StyleGAN2 was published up
// to 1024): a size is checked against it before any table, loop or allocation depends on it.
constexpr int kMaxResolution = 8192;

struct Architecture {
  int resolution = 0;          // output image size (a power of two >= 4)
  int z_dim = 0;
  int w_dim = 0;
  int mapping_layers = 0;      // fully connected layers of the mapping network
  std::map<int, int> channels; // resolution -> feature channels, for 4..resolution
  int image_channels = 3;

  int log2_resolution() const;
  int num_ws() const { return 2 * log2_resolution() - 2; }
  int num_conv_layers() const { return num_ws() - 1; }
  int conv_layer_resolution(int layer) const;   // 4 for layer 0, 2^((layer+1)/2 + 2) after
  int conv_layer_in_channels(int layer) const;
  int conv_layer_out_channels(int layer) const;
  bool conv_layer_upsamples(int layer) const { return layer % 2 == 1; }
  std::string describe() const;
};

// Module names of conv layer L and of the ToRGB of the block at `resolution`, in the
// naming of each reference implementation (used for activation capture and --feature-layer).
std::string conv_layer_name(Layout layout, int layer);
std::string to_rgb_name(Layout layout, int resolution);

}  // namespace styleseg::stylegan2
