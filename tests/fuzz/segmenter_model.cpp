// An exported segmenter (`segment --model`, `evaluate --model`): the metadata (classes,
// palette, input size, normalisation, provenance JSON) and the weights checked against the
// architecture.
#include "models/segmenter/model_file.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = styleseg::fuzz::input_file(data, size, ".pt");
  styleseg::fuzz::expect_clean_refusal([&] { (void)styleseg::segmenter::load_model(path); });
  return 0;
}
