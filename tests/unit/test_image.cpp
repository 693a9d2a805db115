#include <gtest/gtest.h>

#include <ATen/ops/arange.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/full.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "core/error.h"
#include "io/image.h"
#include "support/fixtures.h"

namespace styleseg {
namespace {

namespace fs = std::filesystem;

// [H, W, 3] with every byte different from its neighbours.
at::Tensor test_pattern(int height, int width) {
  return at::arange(height * width * 3, at::kLong).mul(7).remainder(256).to(at::kByte).reshape({height, width, 3});
}

TEST(Image, PngRoundTripIsExact) {
  const std::string path = test::scratch_dir("image") + "/sub/pattern.png";  // folder made on the way
  const at::Tensor image = test_pattern(5, 7);
  write_png(path, image);
  const at::Tensor back = read_image(path);
  EXPECT_EQ(back.scalar_type(), at::kByte);
  EXPECT_EQ(back.sizes(), (std::vector<std::int64_t>{5, 7, 3}));
  EXPECT_TRUE(at::equal(back, image));
  // Nothing left behind but the PNG itself.
  EXPECT_EQ(std::distance(fs::directory_iterator(fs::path(path).parent_path()), fs::directory_iterator()), 1);
}

TEST(Image, GreyPngIsExpandedToRgb) {
  const std::string path = test::scratch_dir("image") + "/grey.png";
  const at::Tensor grey = at::arange(12, at::kLong).mul(20).to(at::kByte).reshape({3, 4});
  write_png(path, grey);
  const at::Tensor back = read_image(path);
  ASSERT_EQ(back.sizes(), (std::vector<std::int64_t>{3, 4, 3}));
  for (int c = 0; c < 3; ++c) EXPECT_TRUE(at::equal(back.select(2, c), grey)) << "channel " << c;
}

TEST(Image, NonUint8TensorIsRefused) {
  const std::string path = test::scratch_dir("image") + "/bad.png";
  EXPECT_THROW(write_png(path, at::full({2, 2, 3}, 1.0, at::kFloat)), OutputError);
  EXPECT_FALSE(fs::exists(path));
}

TEST(Image, CorruptFileIsAnInputErrorNamingIt) {
  const std::string path = test::scratch_dir("image") + "/corrupt.png";
  std::ofstream(path, std::ios::binary) << "\x89PNG\r\n\x1a\n but then garbage";
  try {
    read_image(path);
    FAIL() << "no error for a corrupt file";
  } catch (const InputError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(path), std::string::npos) << message;
    EXPECT_NE(message.find("cannot read image"), std::string::npos) << message;
  }
}

// A grey PNG whose header declares 20,000 x 20,000 pixels (1.2 GB once expanded to RGB; within
// stb's own limit, which refuses larger ones by itself) and holds no data: refused from the
// header, before stb allocates anything.
// PNG's CRC-32 (ISO 3309), bit by bit: the test's own, independent of the reader's zlib.
uint32_t png_crc(const std::string& bytes) {
  uint32_t crc = 0xffffffffu;
  for (unsigned char byte : bytes) {
    crc ^= byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  return crc ^ 0xffffffffu;
}

TEST(Image, HugeDeclaredSizeIsRefusedBeforeAllocation) {
  const std::string path = test::scratch_dir("image_huge") + "/bomb.png";
  std::string bytes("\x89PNG\r\n\x1a\n", 8);
  auto be32 = [](std::string& out, uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
  };
  // A valid IHDR chunk (libpng checks its CRC) of 20000 x 20000 8-bit grey, then the start
  // of the pixel data (the header is read up to there), which the file never completes.
  std::string chunk = "IHDR";
  be32(chunk, 20000);
  be32(chunk, 20000);
  chunk += std::string("\x08\x00\x00\x00\x00", 5);  // 8-bit grey, deflate, no filter, no interlace
  be32(bytes, 13);
  bytes += chunk;
  be32(bytes, png_crc(chunk));
  const std::string data = std::string("IDAT") + std::string("\x78\x9c\x63\x00", 4);
  be32(bytes, 4);
  bytes += data;
  be32(bytes, png_crc(data));
  be32(bytes, 0);
  bytes += "IEND";
  be32(bytes, png_crc("IEND"));
  std::ofstream(path, std::ios::binary) << bytes;
  try {
    read_image(path);
    ADD_FAILURE() << "a 20000 x 20000 header was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(path + ": it declares 20000 x 20000 pixels"), std::string::npos) << e.what();
  }
}

// A PNG cut short is refused, whatever byte it ends at after the header; never read as a
// partly black image.
TEST(Image, TruncatedPngIsRefused) {
  const std::string folder = test::scratch_dir("image_truncated");
  const at::Tensor image = at::arange(0, 16 * 16 * 3, at::kInt).remainder(251).to(at::kByte).reshape({16, 16, 3});
  write_png(folder + "/whole.png", image);
  std::ifstream in(folder + "/whole.png", std::ios::binary);
  const std::string whole((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_TRUE(at::equal(read_image(folder + "/whole.png"), image));
  for (size_t keep : {size_t{8}, size_t{33}, whole.size() / 2, whole.size() - 13}) {
    SCOPED_TRACE(keep);
    const std::string path = folder + "/cut.png";
    std::ofstream(path, std::ios::binary | std::ios::trunc) << whole.substr(0, keep);
    EXPECT_THROW(read_image(path), InputError);
  }
}

TEST(Image, OtherFormatsAreRefusedByName) {
  const std::string path = test::scratch_dir("image_bmp") + "/picture.bmp";
  std::ofstream(path, std::ios::binary) << std::string("BM\x3a\x00\x00\x00\x00\x00\x00\x00", 10);
  try {
    read_image(path);
    ADD_FAILURE() << "a BMP header was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(path + ": not a PNG or JPEG file (a BMP: convert it to PNG)"), std::string::npos)
        << e.what();
  }
}

TEST(Image, MissingFileIsAnInputErrorNamingIt) {
  const std::string path = test::scratch_dir("image") + "/absent.png";
  try {
    read_image(path);
    FAIL() << "no error for a missing file";
  } catch (const InputError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(path), std::string::npos) << message;
    EXPECT_NE(message.find("No such file"), std::string::npos) << message;
  }
}

TEST(Image, GridPlacesTilesRowByRowWithPadding) {
  // Five 2x3 tiles, each filled with its index + 1; 3 columns, padding 1 of value 200.
  const int count = 5, height = 2, width = 3, padding = 1;
  const at::Tensor tiles =
      (at::arange(1, count + 1, at::kLong).reshape({count, 1, 1, 1}).expand({count, height, width, 3}))
          .to(at::kByte)
          .contiguous();
  const at::Tensor grid = make_grid(tiles, 3, padding, 200);
  ASSERT_EQ(grid.sizes(), (std::vector<std::int64_t>{2 * (height + 1) + 1, 3 * (width + 1) + 1, 3}));
  const auto* pixels = grid.data_ptr<std::uint8_t>();
  const int grid_width = static_cast<int>(grid.size(1));
  for (int y = 0; y < grid.size(0); ++y) {
    for (int x = 0; x < grid_width; ++x) {
      // Expected: the tile covering (y, x), or padding.
      int expected = 200;
      const int tile_row = (y - padding) / (height + padding), in_y = (y - padding) % (height + padding);
      const int tile_col = (x - padding) / (width + padding), in_x = (x - padding) % (width + padding);
      if (y >= padding && x >= padding && in_y < height && in_x < width) {
        const int index = tile_row * 3 + tile_col;
        if (index < count) expected = index + 1;
      }
      for (int c = 0; c < 3; ++c) {
        ASSERT_EQ(pixels[(y * grid_width + x) * 3 + c], expected) << "y " << y << " x " << x << " c " << c;
      }
    }
  }
  // Spot checks written out: tile 0 at (1, 1), tile 4 at (1 + 3, 1 + 4); slot 5 empty.
  EXPECT_EQ(pixels[(1 * grid_width + 1) * 3], 1);
  EXPECT_EQ(pixels[(4 * grid_width + 5) * 3], 5);
  EXPECT_EQ(pixels[(4 * grid_width + 9) * 3], 200);
}

TEST(Image, GridDefaultColumnsAreAboutSquareRoot) {
  const at::Tensor tiles = at::full({5, 4, 4, 3}, 9, at::kByte);
  const at::Tensor grid = make_grid(tiles, 0, 0, 0);
  EXPECT_EQ(grid.sizes(), (std::vector<std::int64_t>{2 * 4, 3 * 4, 3}));  // 3 columns, 2 rows
  EXPECT_EQ(make_grid(at::full({4, 4, 4, 3}, 9, at::kByte), 0, 0, 0).sizes(),
            (std::vector<std::int64_t>{8, 8, 3}));
  EXPECT_THROW(make_grid(at::full({4, 4, 3}, 9, at::kByte), 0, 0, 0), Error);
}

}  // namespace
}  // namespace styleseg
