// The CLIP BPE merges file (bpe_simple_vocab_16e6.txt.gz) from any bytes: gzip framing,
// UTF-8, the merge lines.
#include "models/clip/tokenizer.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = styleseg::fuzz::input_file(data, size, ".txt.gz");
  styleseg::fuzz::expect_clean_refusal([&] { styleseg::clip::Tokenizer tokenizer(path); });
  return 0;
}
