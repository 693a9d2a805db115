#include <gtest/gtest.h>

#include <ATen/ops/arange.h>
#include <ATen/ops/equal.h>
#include <ATen/ops/full.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
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
TEST(Image, HugeDeclaredSizeIsRefusedBeforeAllocation) {
  const std::string path = test::scratch_dir("image_huge") + "/bomb.png";
  std::string bytes("\x89PNG\r\n\x1a\n", 8);
  auto be32 = [&](uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<char>((v >> shift) & 0xff));
  };
  be32(13);
  bytes += "IHDR";
  be32(20000);
  be32(20000);
  bytes += std::string("\x08\x00\x00\x00\x00", 5);  // 8-bit grey, deflate, no filter, no interlace
  be32(0);                                               // CRC (stb does not check it)
  be32(0);
  bytes += "IEND";
  be32(0);
  std::ofstream(path, std::ios::binary) << bytes;
  try {
    read_image(path);
    ADD_FAILURE() << "a 20000 x 20000 header was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(path + ": it declares 20000 x 20000 pixels"), std::string::npos) << e.what();
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
