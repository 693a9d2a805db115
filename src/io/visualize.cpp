#include "io/visualize.h"

#include <ATen/ATen.h>

#include <cstdio>
#include <cstring>

#include <algorithm>
#include <cmath>

// stb_easy_font is header-only with static functions: one include is its implementation.
#include <stb_easy_font.h>

#include "core/error.h"
#include "io/image.h"

namespace styleseg {

at::Tensor features_to_rgb(const at::Tensor& features) {
  STYLESEG_ASSERT(features.dim() == 4 && features.size(1) >= 1, "features_to_rgb: expected [N, C, h, w] features");
  const int64_t n = features.size(0), c = features.size(1), h = features.size(2), w = features.size(3);
  at::Tensor x = features.to(at::kCPU, at::kDouble).permute({0, 2, 3, 1}).reshape({-1, c});
  // Statistics from at most ~65k pixels (evenly strided: deterministic).
  const int64_t stride = std::max<int64_t>(1, x.size(0) / 65536);
  at::Tensor sample = x.slice(0, 0, x.size(0), stride);
  at::Tensor mean = sample.mean(0, true);
  at::Tensor centred = sample - mean;
  at::Tensor cov = at::matmul(centred.t(), centred) / std::max<int64_t>(1, centred.size(0) - 1);
  auto [eigenvalues, eigenvectors] = at::linalg_eigh(cov);
  const int64_t k = std::min<int64_t>(3, c);
  at::Tensor basis = eigenvectors.narrow(1, c - k, k).flip({1});  // largest first
  at::Tensor projected = at::matmul(x - mean, basis);             // [pixels, k]
  at::Tensor sample_proj = at::matmul(centred, basis);
  at::Tensor lo = at::quantile(sample_proj, 0.01, 0).unsqueeze(0);
  at::Tensor hi = at::quantile(sample_proj, 0.99, 0).unsqueeze(0);
  // One scale for all components (the widest spread), each centred on its own range: a
  // weak component stays near grey instead of stretching noise to full colour.
  const at::Tensor span = (hi - lo).max() + 1e-12;
  at::Tensor scaled = ((projected - (lo + hi) / 2) / span + 0.5).clamp(0, 1) * 255.0;
  if (k < 3) scaled = at::cat({scaled, scaled.narrow(1, 0, 1).expand({-1, 3 - k})}, 1);
  return scaled.round().to(at::kByte).reshape({n, h, w, 3}).contiguous();
}

}  // namespace styleseg

// ---- labels, text, legends ------------------------------------------------------------

namespace styleseg {

at::Tensor palette(int64_t count) {
  // Kelly/tab20-like colours first: distinct for the handful of parts a face has.
  static const uint8_t kBase[20][3] = {
      {230, 25, 75},  {60, 180, 75},  {255, 225, 25}, {0, 130, 200},  {245, 130, 48},
      {145, 30, 180}, {70, 240, 240}, {240, 50, 230}, {210, 245, 60}, {250, 190, 212},
      {0, 128, 128},  {220, 190, 255}, {170, 110, 40}, {255, 250, 200}, {128, 0, 0},
      {170, 255, 195}, {128, 128, 0}, {255, 215, 180}, {0, 0, 128},   {128, 128, 128}};
  at::Tensor colours = at::empty({count, 3}, at::kByte);
  auto c = colours.accessor<uint8_t, 2>();
  for (int64_t k = 0; k < count; ++k) {
    if (k < 20) {
      for (int j = 0; j < 3; ++j) c[k][j] = kBase[k][j];
      continue;
    }
    // Golden-ratio hue steps, full saturation, alternating value.
    const double hue = std::fmod(0.61803398875 * static_cast<double>(k), 1.0) * 6.0;
    const double value = k % 2 ? 0.95 : 0.7;
    const int sector = static_cast<int>(hue);
    const double f = hue - sector, p = 0, q = value * (1 - f), t = value * f;
    const double rgb[6][3] = {{value, t, p}, {q, value, p}, {p, value, t}, {p, q, value}, {t, p, value}, {value, p, q}};
    for (int j = 0; j < 3; ++j) c[k][j] = static_cast<uint8_t>(std::lround(rgb[sector % 6][j] * 255));
  }
  return colours;
}

at::Tensor colour_table(const std::vector<std::array<uint8_t, 3>>& colours) {
  at::Tensor table = at::empty({static_cast<int64_t>(colours.size()), 3}, at::kByte);
  if (!colours.empty()) std::memcpy(table.data_ptr<uint8_t>(), colours.data(), colours.size() * 3);
  return table;
}

at::Tensor colorize_labels(const at::Tensor& labels, const at::Tensor& colours) {
  STYLESEG_ASSERT(labels.dim() == 3, "colorize_labels: expected labels [N, H, W]");
  const int64_t k = colours.size(0);
  at::Tensor table = at::cat({colours.to(at::kByte), at::zeros({1, 3}, at::kByte)});  // row k: black
  at::Tensor index = labels.to(at::kCPU, at::kLong);
  index = at::where((index >= 0) & (index < k), index, at::full_like(index, k));
  return table.index_select(0, index.reshape({-1})).reshape({labels.size(0), labels.size(1), labels.size(2), 3});
}

void draw_text(at::Tensor& image, const std::string& text, int x, int y, int scale, const std::array<uint8_t, 3>& rgb) {
  STYLESEG_ASSERT(image.dim() == 3 && image.size(2) == 3 && image.scalar_type() == at::kByte && image.is_contiguous(),
                  "draw_text: expected a contiguous uint8 image [H, W, 3]");
  // stb_easy_font emits axis-aligned quads (4 vertices of 16 bytes: x, y, z, colour).
  std::vector<char> buffer(text.size() * 270 + 1024);
  std::string mutable_text = text;
  unsigned char colour[4] = {rgb[0], rgb[1], rgb[2], 255};
  const int quads = stb_easy_font_print(0, 0, mutable_text.data(), colour, buffer.data(), static_cast<int>(buffer.size()));
  const int64_t height = image.size(0), width = image.size(1);
  uint8_t* pixels = image.data_ptr<uint8_t>();
  for (int q = 0; q < quads; ++q) {
    const float* v0 = reinterpret_cast<const float*>(buffer.data() + (q * 4 + 0) * 16);
    const float* v2 = reinterpret_cast<const float*>(buffer.data() + (q * 4 + 2) * 16);
    const int64_t x0 = x + static_cast<int64_t>(std::lround(v0[0] * scale)), y0 = y + static_cast<int64_t>(std::lround(v0[1] * scale));
    const int64_t x1 = x + static_cast<int64_t>(std::lround(v2[0] * scale)), y1 = y + static_cast<int64_t>(std::lround(v2[1] * scale));
    for (int64_t py = std::max<int64_t>(0, y0); py < std::min(height, y1); ++py)
      for (int64_t px = std::max<int64_t>(0, x0); px < std::min(width, x1); ++px)
        for (int j = 0; j < 3; ++j) pixels[(py * width + px) * 3 + j] = rgb[static_cast<size_t>(j)];
  }
}

at::Tensor make_legend(const std::vector<std::string>& entries, const at::Tensor& colours, int64_t width) {
  constexpr int kScale = 2, kLine = 28, kSwatch = 20, kMargin = 8;
  size_t longest = 1;
  for (const auto& e : entries) longest = std::max(longest, e.size());
  const int64_t column_width = kSwatch + 2 * kMargin + static_cast<int64_t>(longest) * 6 * kScale;
  const int64_t columns = std::max<int64_t>(1, (width - kMargin) / column_width);
  const int64_t rows = (static_cast<int64_t>(entries.size()) + columns - 1) / columns;
  at::Tensor legend = at::full({rows * kLine + 2 * kMargin, width, 3}, 255, at::kByte);
  for (size_t i = 0; i < entries.size(); ++i) {
    const int64_t row = static_cast<int64_t>(i) / columns, column = static_cast<int64_t>(i) % columns;
    const int64_t x = kMargin + column * column_width, y = kMargin + row * kLine;
    legend.narrow(0, y + (kLine - kSwatch) / 2, kSwatch).narrow(1, x, std::min<int64_t>(kSwatch, width - x)).copy_(
        colours[static_cast<int64_t>(i)].view({1, 1, 3}).expand({kSwatch, std::min<int64_t>(kSwatch, width - x), 3}));
    draw_text(legend, entries[i], static_cast<int>(x + kSwatch + kMargin), static_cast<int>(y + 4), kScale, {0, 0, 0});
  }
  return legend;
}

at::Tensor stack_vertically(const std::vector<at::Tensor>& images) {
  int64_t width = 0, height = 0;
  for (const auto& image : images) width = std::max(width, image.size(1)), height += image.size(0);
  at::Tensor out = at::full({height, width, 3}, 255, at::kByte);
  int64_t y = 0;
  for (const auto& image : images) {
    const int64_t x = (width - image.size(1)) / 2;
    out.narrow(0, y, image.size(0)).narrow(1, x, image.size(1)).copy_(image);
    y += image.size(0);
  }
  return out;
}

at::Tensor make_segmentation_preview(const at::Tensor& images, const at::Tensor& labels, const at::Tensor& colours,
                                     const std::vector<std::string>& entries) {
  at::Tensor maps = colorize_labels(labels, colours);  // [n, h, w, 3]
  at::Tensor tiles = maps;
  if (images.defined()) {
    const at::Tensor pictures = images.cpu();
    const int64_t height = pictures.size(1), width = pictures.size(2);
    if (maps.size(1) != height || maps.size(2) != width)
      maps = at::upsample_nearest2d(maps.permute({0, 3, 1, 2}).to(at::kFloat), {height, width})
                 .round().to(at::kByte).permute({0, 2, 3, 1}).contiguous();
    tiles = at::cat({pictures, maps}, 2);
  }
  // Small samples (tests, thumbnails) are enlarged, nearest-neighbour, to stay legible.
  const int64_t enlarge = std::max<int64_t>(1, 128 / tiles.size(1));
  if (enlarge > 1) tiles = tiles.repeat_interleave(enlarge, 1).repeat_interleave(enlarge, 2);
  const at::Tensor grid = make_grid(tiles.contiguous(), std::min<int64_t>(tiles.size(0), 4), 4, 255);
  return stack_vertically({grid, make_legend(entries, colours, std::max<int64_t>(grid.size(1), 480))});
}

namespace {

// A line of `thickness` pixels from (x0, y0) to (x1, y1), clipped to the image (Bresenham).
void draw_line(uint8_t* pixels, int64_t height, int64_t width, int64_t x0, int64_t y0, int64_t x1, int64_t y1,
               const std::array<uint8_t, 3>& rgb, int thickness) {
  const int64_t dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
  int64_t error = dx + dy;
  for (;;) {
    for (int64_t oy = 0; oy < thickness; ++oy)
      for (int64_t ox = 0; ox < thickness; ++ox) {
        const int64_t x = x0 + ox - thickness / 2, y = y0 + oy - thickness / 2;
        if (x >= 0 && x < width && y >= 0 && y < height) std::memcpy(pixels + (y * width + x) * 3, rgb.data(), 3);
      }
    if (x0 == x1 && y0 == y1) break;
    const int64_t e2 = 2 * error;
    if (e2 >= dy) error += dy, x0 += sx;
    if (e2 <= dx) error += dx, y0 += sy;
  }
}

std::string short_number(double v) {
  char text[32];
  std::snprintf(text, sizeof(text), std::fabs(v) >= 1e4 || (v != 0 && std::fabs(v) < 1e-3) ? "%.3g" : "%.4g", v);
  return text;
}

at::Tensor plot_panel(const Curve& curve, int64_t width, int64_t height) {
  at::Tensor panel = at::full({height, width, 3}, 255, at::kByte);
  const int64_t left = 70, right = width - 16, top = 30, bottom = height - 28;
  draw_text(panel, curve.title, 8, 6, 2, {0, 0, 0});
  uint8_t* pixels = panel.data_ptr<uint8_t>();
  const std::array<uint8_t, 3> axis{120, 120, 120};
  draw_line(pixels, height, width, left, top, left, bottom, axis, 1);
  draw_line(pixels, height, width, left, bottom, right, bottom, axis, 1);
  std::vector<std::pair<double, double>> points;
  for (size_t i = 0; i < std::min(curve.x.size(), curve.y.size()); ++i)
    if (std::isfinite(curve.x[i]) && std::isfinite(curve.y[i])) points.emplace_back(curve.x[i], curve.y[i]);
  if (points.empty()) {
    draw_text(panel, "(no data)", static_cast<int>(left + 10), static_cast<int>(top + 10), 1, {0, 0, 0});
    return panel;
  }
  double x_min = points.front().first, x_max = x_min, y_min = points.front().second, y_max = y_min;
  for (const auto& [x, y] : points) x_min = std::min(x_min, x), x_max = std::max(x_max, x), y_min = std::min(y_min, y), y_max = std::max(y_max, y);
  if (x_max == x_min) x_max = x_min + 1;
  if (y_max == y_min) y_max = y_min + (y_min == 0 ? 1 : std::fabs(y_min) * 0.1);
  draw_text(panel, short_number(y_max), 4, static_cast<int>(top), 1, {0, 0, 0});
  draw_text(panel, short_number(y_min), 4, static_cast<int>(bottom - 10), 1, {0, 0, 0});
  draw_text(panel, short_number(x_min), static_cast<int>(left), static_cast<int>(bottom + 6), 1, {0, 0, 0});
  const std::string x_end = short_number(x_max);
  draw_text(panel, x_end, static_cast<int>(right - 6 * static_cast<int64_t>(x_end.size())), static_cast<int>(bottom + 6), 1, {0, 0, 0});
  auto px = [&](double x) { return left + std::lround((x - x_min) / (x_max - x_min) * static_cast<double>(right - left)); };
  auto py = [&](double y) { return bottom - std::lround((y - y_min) / (y_max - y_min) * static_cast<double>(bottom - top)); };
  for (size_t i = 1; i < points.size(); ++i)
    draw_line(pixels, height, width, px(points[i - 1].first), py(points[i - 1].second), px(points[i].first), py(points[i].second),
              curve.colour, 2);
  if (points.size() <= 40)
    for (const auto& [x, y] : points) draw_line(pixels, height, width, px(x), py(y), px(x), py(y), curve.colour, 5);
  return panel;
}

}  // namespace

at::Tensor plot_curves(const std::vector<Curve>& curves, int64_t width, int64_t panel_height) {
  std::vector<at::Tensor> panels;
  for (const Curve& curve : curves) panels.push_back(plot_panel(curve, width, panel_height));
  return panels.empty() ? at::full({1, width, 3}, 255, at::kByte) : stack_vertically(panels);
}

Curve running_mean(const Curve& curve, std::string title) {
  Curve smooth = curve;
  smooth.title = std::move(title);
  const size_t window = std::max<size_t>(1, curve.y.size() / 50);
  double sum = 0;
  for (size_t i = 0; i < curve.y.size(); ++i) {
    sum += curve.y[i] - (i >= window ? curve.y[i - window] : 0.0);
    smooth.y[i] = sum / static_cast<double>(std::min(i + 1, window));
  }
  return smooth;
}

}  // namespace styleseg
