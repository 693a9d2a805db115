// Images: PNG output (masks, grids, previews; stb_image_write) and PNG/JPEG input (libpng,
// libjpeg-turbo: io/image_decode.h).
// Pixels are uint8, row-major, channels last ([H, W, C]).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace styleseg {

// Writes a PNG of `height` x `width` pixels with `channels` (1 grey, 2 grey+alpha, 3 RGB,
// 4 RGBA) interleaved 8-bit values per pixel. Atomic (temp file, then rename; see
// io/atomic_output.h): the folder is created when missing. Throws OutputError naming the
// file on failure.
void write_png(const std::string& path, const std::uint8_t* pixels, int height, int width, int channels);

// The same for a uint8 CPU tensor [H, W, C] (C in 1..4) or [H, W] (grey).
void write_png(const std::string& path, const at::Tensor& image);

// The PNG and JPEG files directly in `folder` (by extension, any case), sorted.
std::vector<std::string> image_files_in(const std::string& folder);

// The most pixels an image may declare (16384 x 16384): larger headers are refused before
// anything is allocated.
constexpr std::int64_t kMaxImagePixels = std::int64_t{1} << 28;

// Reads a PNG or JPEG as uint8 [H, W, 3] (grey is expanded, alpha dropped, 16-bit PNGs
// reduced to 8 bits; a truncated file is refused). Throws InputError naming the file and why
// it cannot be read.
at::Tensor read_image(const std::string& path);

// Reads an index mask (a grey PNG whose values are class indices) as uint8 [H, W]. Throws
// InputError naming the file when it is unreadable or a colour image.
at::Tensor read_label_image(const std::string& path);

// Tiles uint8 images [N, H, W, C] into one image, row by row, `columns` per row (0: the
// smallest count with columns * columns >= N). `padding` pixels of `pad_value` surround
// every tile, so the result is [rows*(H+padding)+padding, columns*(W+padding)+padding, C];
// tile i has its top-left pixel at (padding + (i / columns) * (H + padding),
// padding + (i % columns) * (W + padding)). Slots after the last image are `pad_value`.
at::Tensor make_grid(const at::Tensor& images, int columns = 0, int padding = 2,
                     std::uint8_t pad_value = 0);

}  // namespace styleseg
