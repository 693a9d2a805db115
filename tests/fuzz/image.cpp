// Image files (PNG, JPEG, BMP: what `segment --input` and `evaluate` read), as RGB images
// and as label maps.
#include "io/image.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = styleseg::fuzz::input_file(data, size, ".png");
  styleseg::fuzz::expect_clean_refusal([&] { (void)styleseg::read_image(path); });
  styleseg::fuzz::expect_clean_refusal([&] { (void)styleseg::read_label_image(path); });
  return 0;
}
