// Decoding PNG and JPEG files from strangers, with libpng and libjpeg-turbo (both fuzzed
// continuously upstream; stb_image, used before, says it is not meant for untrusted files,
// and Debian's copy wrote out of bounds on a crafted JPEG: tests/fuzz/corpus/image).
// Internal to io/image.cpp, which owns the format detection and the public readers.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdio>
#include <string>

namespace styleseg::io_detail {

// uint8 [H, W, 3]: palette and grey expanded, alpha dropped, 16-bit samples reduced to 8 bits,
// interlacing undone. The header's size is checked against kMaxImagePixels before any pixel
// memory is allocated. Throws InputError naming `path` and what the decoder reported.
at::Tensor decode_png(std::FILE* file, const std::string& path);
at::Tensor decode_jpeg(std::FILE* file, const std::string& path);

}  // namespace styleseg::io_detail
