// A checkpoint to a StyleGAN2 generator, as `generate` loads one: layout detection
// (rosinality, NVlabs, styleseg), the architecture from tensor shapes, every weight checked.
#include "io/torch_file.h"
#include "models/stylegan2/checkpoint.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = styleseg::fuzz::input_file(data, size, ".pt");
  styleseg::fuzz::expect_clean_refusal([&] {
    const styleseg::io::PyValue root = styleseg::io::load_torch_file(path);
    (void)styleseg::stylegan2::generator_from_checkpoint(root, path);
  });
  return 0;
}
