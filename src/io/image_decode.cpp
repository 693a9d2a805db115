#include "io/image_decode.h"

#include <jpeglib.h>
#include <jerror.h>  // JWRN_JPEG_EOF
#include <png.h>

#include <ATen/ops/empty.h>

#include <csetjmp>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "io/image.h"

// Both libraries report errors by longjmp. The functions that call them under setjmp hold
// only plain data (no C++ object may be skipped by the jump); tensors and vectors are made
// by their callers, between the header and the pixels.
namespace styleseg::io_detail {
namespace {

[[noreturn]] void refuse(const std::string& path, const std::string& why) {
  throw InputError("cannot read image " + path + ": " + why);
}

void check_size(const std::string& path, std::uint64_t width, std::uint64_t height) {
  if (width == 0 || height == 0) refuse(path, "it declares an empty image");
  if (width * height > static_cast<std::uint64_t>(kMaxImagePixels))
    refuse(path, "it declares " + std::to_string(width) + " x " + std::to_string(height) +
                     " pixels, more than styleseg reads (" + std::to_string(kMaxImagePixels) + " pixels)");
}

// ---- PNG ------------------------------------------------------------------------------

struct PngState {
  png_structp png = nullptr;
  png_infop info = nullptr;
  char message[200] = "corrupt PNG data";
  ~PngState() { png_destroy_read_struct(&png, info ? &info : nullptr, nullptr); }
};

void on_png_error(png_structp png, png_const_charp message) {
  auto* state = static_cast<PngState*>(png_get_error_ptr(png));
  std::snprintf(state->message, sizeof state->message, "%s", message);
  png_longjmp(png, 1);
}
void on_png_warning(png_structp, png_const_charp) {}

// Reads the header and sets the transformations to 8-bit RGB. False on error.
bool png_read_header(PngState& s, std::FILE* file, png_uint_32& width, png_uint_32& height) {
  if (setjmp(png_jmpbuf(s.png))) return false;
  png_init_io(s.png, file);
  png_set_user_limits(s.png, 1u << 20, 1u << 20);
  png_read_info(s.png, s.info);
  width = png_get_image_width(s.png, s.info);
  height = png_get_image_height(s.png, s.info);
  png_set_expand(s.png);       // palette -> RGB, grey below 8 bits -> 8, tRNS -> alpha
  png_set_strip_16(s.png);     // 16-bit samples -> their high byte
  png_set_strip_alpha(s.png);  // alpha dropped, not composited (as stb did)
  png_set_gray_to_rgb(s.png);
  png_set_interlace_handling(s.png);
  png_read_update_info(s.png, s.info);
  return png_get_rowbytes(s.png, s.info) == static_cast<png_size_t>(width) * 3;
}

bool png_read_pixels(PngState& s, png_bytepp rows) {
  if (setjmp(png_jmpbuf(s.png))) return false;
  png_read_image(s.png, rows);
  return true;
}

// ---- JPEG -----------------------------------------------------------------------------

// A progressive JPEG may hold thousands of tiny scans, each a pass over the whole image:
// a small file that takes minutes. libjpeg-turbo's advice (libjpeg.txt) is to stop early.
constexpr int kMaxJpegScans = 500;

struct JpegState {
  jpeg_decompress_struct info{};
  jpeg_error_mgr errors{};
  jpeg_progress_mgr progress{};
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX] = "corrupt JPEG data";
  bool created = false;
  bool truncated = false;  // libjpeg warned of a premature end and filled in the rest
  ~JpegState() {
    if (created) jpeg_destroy_decompress(&info);
  }
};

void on_jpeg_error(j_common_ptr common) {
  auto* state = reinterpret_cast<JpegState*>(common->client_data);
  (*common->err->format_message)(common, state->message);
  std::longjmp(state->jump, 1);
}
// Warnings and traces are not printed. A truncated file is only a warning to libjpeg (it
// fills the missing rows with grey); styleseg refuses it as it refuses a truncated PNG.
void on_jpeg_message(j_common_ptr common, int level) {
  if (level < 0 && common->err->msg_code == JWRN_JPEG_EOF)
    reinterpret_cast<JpegState*>(common->client_data)->truncated = true;
}
void on_jpeg_progress(j_common_ptr common) {
  auto* d = reinterpret_cast<j_decompress_ptr>(common);
  if (d->is_decompressor && d->input_scan_number > kMaxJpegScans) {
    auto* state = reinterpret_cast<JpegState*>(common->client_data);
    std::snprintf(state->message, sizeof state->message, "more than %d progressive scans", kMaxJpegScans);
    std::longjmp(state->jump, 1);
  }
}

bool jpeg_read_header_rgb(JpegState& s, std::FILE* file) {
  s.info.err = jpeg_std_error(&s.errors);
  s.errors.error_exit = on_jpeg_error;
  s.errors.emit_message = on_jpeg_message;
  s.info.client_data = &s;
  if (setjmp(s.jump)) return false;
  jpeg_create_decompress(&s.info);
  s.created = true;
  s.progress.progress_monitor = on_jpeg_progress;
  s.info.progress = &s.progress;
  s.info.mem->max_memory_to_use = std::size_t{1} << 31;
  jpeg_stdio_src(&s.info, file);
  jpeg_read_header(&s.info, TRUE);
  s.info.out_color_space = JCS_RGB;
  return true;
}

bool jpeg_read_pixels(JpegState& s, std::uint8_t* out, std::size_t row_bytes) {
  if (setjmp(s.jump)) return false;
  jpeg_start_decompress(&s.info);
  if (s.info.output_components != 3 || s.info.output_width != s.info.image_width ||
      s.info.output_height != s.info.image_height) {
    std::snprintf(s.message, sizeof s.message, "decodes to %u x %u x %d, not the RGB image its header declares",
                  s.info.output_width, s.info.output_height, s.info.output_components);
    return false;
  }
  while (s.info.output_scanline < s.info.output_height) {
    JSAMPROW row = out + s.info.output_scanline * row_bytes;
    jpeg_read_scanlines(&s.info, &row, 1);
  }
  if (s.truncated) {
    std::snprintf(s.message, sizeof s.message, "the file ends before the image data does");
    return false;
  }
  jpeg_finish_decompress(&s.info);
  return true;
}

}  // namespace

at::Tensor decode_png(std::FILE* file, const std::string& path) {
  PngState s;
  s.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &s, on_png_error, on_png_warning);
  if (s.png != nullptr) s.info = png_create_info_struct(s.png);
  if (s.png == nullptr || s.info == nullptr) refuse(path, "libpng could not start");
  png_uint_32 width = 0, height = 0;
  if (!png_read_header(s, file, width, height)) refuse(path, std::string("corrupt PNG (") + s.message + ")");
  check_size(path, width, height);
  at::Tensor image = at::empty({static_cast<int64_t>(height), static_cast<int64_t>(width), 3}, at::kByte);
  std::vector<png_bytep> rows(height);
  for (png_uint_32 y = 0; y < height; ++y) rows[y] = image.data_ptr<std::uint8_t>() + std::size_t{y} * width * 3;
  if (!png_read_pixels(s, rows.data())) refuse(path, std::string("corrupt PNG (") + s.message + ")");
  return image;
}

at::Tensor decode_jpeg(std::FILE* file, const std::string& path) {
  JpegState s;
  if (!jpeg_read_header_rgb(s, file)) refuse(path, std::string("corrupt JPEG (") + s.message + ")");
  check_size(path, s.info.image_width, s.info.image_height);
  at::Tensor image = at::empty({static_cast<int64_t>(s.info.image_height), static_cast<int64_t>(s.info.image_width), 3}, at::kByte);
  if (!jpeg_read_pixels(s, image.data_ptr<std::uint8_t>(), std::size_t{s.info.image_width} * 3))
    refuse(path, std::string("corrupt or unsupported JPEG (") + s.message + ")");
  return image;
}

}  // namespace styleseg::io_detail
