// Prompt text (`name --prompts`, `direction --positive`) through CLIP's tokenizer with the
// real merges: cleaning, the Unicode split, BPE, and the context-length check. The merges
// file is the fixtures' (clip/bpe_simple_vocab_16e6.txt.gz), or $STYLESEG_FUZZ_BPE.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "models/clip/tokenizer.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

std::unique_ptr<styleseg::clip::Tokenizer> tokenizer;

// $STYLESEG_FUZZ_BPE, else the merges in $STYLESEG_FIXTURES or $STYLESEG_FIXTURES_DEFAULT.
std::string merges_path() {
  if (const char* bpe = std::getenv("STYLESEG_FUZZ_BPE")) return bpe;
  for (const char* variable : {"STYLESEG_FIXTURES", "STYLESEG_FIXTURES_DEFAULT"})
    if (const char* folder = std::getenv(variable)) {
      const std::string path = std::string(folder) + "/clip/bpe_simple_vocab_16e6.txt.gz";
      if (std::filesystem::exists(path)) return path;
    }
  return "";
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const std::string path = merges_path();
  if (path.empty()) {
    const char* ci = std::getenv("CI");
    if (ci != nullptr && std::string(ci) == "true")
      styleseg::fuzz::finding("CLIP's merges file not found (fixtures missing under CI=true)");
    std::fprintf(stderr, "SKIPPED: CLIP's bpe_simple_vocab_16e6.txt.gz not found (set STYLESEG_FIXTURES)\n");
    std::exit(77);
  }
  tokenizer = std::make_unique<styleseg::clip::Tokenizer>(path);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  styleseg::fuzz::expect_clean_refusal([&] {
    (void)tokenizer->encode(text);
    (void)tokenizer->tokenize({text});
  });
  return 0;
}
