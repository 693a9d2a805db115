// Pictures of what the stages compute, for people to look at.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace styleseg {

// Per-pixel feature maps [N, C, h, w] -> uint8 RGB [N, h, w, 3]: the three principal
// components of the feature vectors (over all N maps together, so colours are comparable
// across samples), scaled together so that the widest spans its 1st to 99th percentile. Pixels of the same
// semantic part tend to share a colour, which is what clustering then finds.
at::Tensor features_to_rgb(const at::Tensor& features);

// A fixed palette, so that cluster (or class) k has the same colour in every picture of
// every run: 20 well-separated colours, then golden-ratio hues. uint8 [count, 3].
at::Tensor palette(int64_t count);

// A list of RGB colours as the uint8 [K, 3] table the functions below take.
at::Tensor colour_table(const std::vector<std::array<uint8_t, 3>>& colours);

// Label maps [N, H, W] (any integer dtype) -> uint8 RGB [N, H, W, 3] in `colours`
// ([K, 3] uint8); labels outside [0, K) (e.g. the ignore label 255) are black.
at::Tensor colorize_labels(const at::Tensor& labels, const at::Tensor& colours);

// Writes `text` (printable ASCII, stb_easy_font's 6x12 pixel glyphs times `scale`) into
// the uint8 RGB image [H, W, 3] (contiguous, CPU) with its top-left corner at (x, y),
// clipped to the image.
void draw_text(at::Tensor& image, const std::string& text, int x, int y, int scale, const std::array<uint8_t, 3>& rgb);

// A legend strip `width` pixels wide: one line per entry, a colour swatch then the text,
// laid out in as many columns as fit. uint8 [h, width, 3] on white.
at::Tensor make_legend(const std::vector<std::string>& entries, const at::Tensor& colours, int64_t width);

// The picture of a segmentation: tiles of each image beside its label map (or the label
// maps alone when `images` is undefined), label maps resized (nearest) to the images,
// small tiles enlarged to stay legible, 4 tiles a row, and under them a legend of
// `entries` (one per colour). images uint8 [n, H, W, 3], labels [n, h, w] (any integer type).
at::Tensor make_segmentation_preview(const at::Tensor& images, const at::Tensor& labels, const at::Tensor& colours,
                                     const std::vector<std::string>& entries);

// Stacks uint8 images [H_i, W_i, 3] vertically, centred on a white background as wide as
// the widest.
at::Tensor stack_vertically(const std::vector<at::Tensor>& images);

// A line plot panel per curve (training loss, validation mIoU, k-means inertia), stacked
// vertically: the title, the y range and the x range as text, the curve as a line, and
// the points as dots when there are few. uint8 [H, width, 3] on white.
struct Curve {
  std::string title;
  std::vector<double> x, y;
  std::array<uint8_t, 3> colour{31, 119, 180};
};
at::Tensor plot_curves(const std::vector<Curve>& curves, int64_t width = 720, int64_t panel_height = 240);

// The curve's running mean over ~2 % of its points, titled `title`: the trend of a noisy
// per-step curve (a training loss), not each batch's noise.
Curve running_mean(const Curve& curve, std::string title);

}  // namespace styleseg
