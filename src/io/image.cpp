#include "io/image.h"

#include <ATen/ops/empty.h>
#include <ATen/ops/equal.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <filesystem>
#include <cstdio>
#include <cstring>
#include <memory>

#include "core/error.h"
#include "io/atomic_output.h"
#include "io/image_decode.h"

// stb_image_write is compiled here, once for the library (reading: io/image_decode.h).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>
#pragma GCC diagnostic pop

namespace styleseg {

void write_png(const std::string& path, const std::uint8_t* pixels, int height, int width, int channels) {
  if (height <= 0 || width <= 0 || channels < 1 || channels > 4 || pixels == nullptr) {
    throw OutputError("cannot write PNG " + path + ": invalid image (" + std::to_string(height) +
                      " x " + std::to_string(width) + " x " + std::to_string(channels) + ")");
  }
  AtomicOutput output(path);
  const int stride = width * channels;
  if (stbi_write_png(output.temp_path().c_str(), width, height, channels, pixels, stride) == 0) {
    throw OutputError("cannot write PNG " + path + " (as " + output.temp_path() +
                      "): " + std::strerror(errno));
  }
  output.commit();
}

void write_png(const std::string& path, const at::Tensor& image) {
  const bool shape_ok = image.defined() && (image.dim() == 2 || (image.dim() == 3 && image.size(2) >= 1 && image.size(2) <= 4));
  if (!shape_ok || image.scalar_type() != at::kByte || !image.device().is_cpu()) {
    throw OutputError("cannot write PNG " + path +
                      ": expected a uint8 CPU tensor [H, W, C] with C in 1..4, or [H, W]");
  }
  const at::Tensor pixels = image.contiguous();
  write_png(path, pixels.data_ptr<std::uint8_t>(), static_cast<int>(pixels.size(0)),
            static_cast<int>(pixels.size(1)), pixels.dim() == 2 ? 1 : static_cast<int>(pixels.size(2)));
}

std::vector<std::string> image_files_in(const std::string& folder) {
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(folder)) {
    std::string ext = entry.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (entry.is_regular_file() && (ext == ".png" || ext == ".jpg" || ext == ".jpeg")) files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

at::Tensor read_image(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) throw InputError("cannot read image " + path + ": " + std::strerror(errno));
  unsigned char head[8] = {};
  const std::size_t got = std::fread(head, 1, sizeof head, file.get());
  std::rewind(file.get());
  static const unsigned char kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (got == sizeof head && std::memcmp(head, kPng, sizeof kPng) == 0) return io_detail::decode_png(file.get(), path);
  if (got >= 3 && head[0] == 0xff && head[1] == 0xd8 && head[2] == 0xff) return io_detail::decode_jpeg(file.get(), path);
  if (got == 0) throw InputError("cannot read image " + path + ": empty file");
  throw InputError("cannot read image " + path + ": not a PNG or JPEG file" +
                   (got >= 2 && head[0] == 'B' && head[1] == 'M' ? " (a BMP: convert it to PNG)" : ""));
}

at::Tensor read_label_image(const std::string& path) {
  const at::Tensor rgb = read_image(path);  // grey is replicated into the three channels
  const at::Tensor grey = rgb.select(2, 0);
  if (!at::equal(grey, rgb.select(2, 1)) || !at::equal(grey, rgb.select(2, 2)))
    throw InputError(path + " is a colour image, not an index mask (a grey PNG of class indices)");
  return grey.contiguous();
}

at::Tensor make_grid(const at::Tensor& images, int columns, int padding, std::uint8_t pad_value) {
  if (!images.defined() || images.dim() != 4 || images.scalar_type() != at::kByte ||
      !images.device().is_cpu()) {
    throw Error("make_grid expects a uint8 CPU tensor [N, H, W, C]");
  }
  if (columns < 0 || padding < 0) throw Error("make_grid: columns and padding must be >= 0");
  const std::int64_t count = images.size(0), height = images.size(1), width = images.size(2),
                     channels = images.size(3);
  if (columns == 0) {
    columns = static_cast<int>(std::ceil(std::sqrt(static_cast<double>(count))));
    while (static_cast<std::int64_t>(columns) * columns < count) ++columns;  // guard rounding
    columns = std::max(columns, 1);
  }
  const std::int64_t rows = (count + columns - 1) / columns;
  const std::int64_t grid_height = rows * (height + padding) + padding;
  const std::int64_t grid_width = columns * (width + padding) + padding;
  at::Tensor grid = at::empty({grid_height, grid_width, channels}, at::TensorOptions().dtype(at::kByte));
  std::uint8_t* out = grid.data_ptr<std::uint8_t>();
  std::memset(out, pad_value, static_cast<std::size_t>(grid.numel()));

  const at::Tensor source = images.contiguous();
  const std::uint8_t* in = source.data_ptr<std::uint8_t>();
  const std::size_t tile_row_bytes = static_cast<std::size_t>(width * channels);
  for (std::int64_t i = 0; i < count; ++i) {
    const std::int64_t top = padding + (i / columns) * (height + padding);
    const std::int64_t left = padding + (i % columns) * (width + padding);
    for (std::int64_t y = 0; y < height; ++y) {
      std::memcpy(out + ((top + y) * grid_width + left) * channels,
                  in + ((i * height + y) * width) * channels, tile_row_bytes);
    }
  }
  return grid;
}

}  // namespace styleseg
