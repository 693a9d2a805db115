// Job files (INI), as `--job` and `styleseg run` read them: sections, keys, values, the
// command-line tokens each entry becomes.
#include "core/options.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = styleseg::fuzz::input_file(data, size, ".ini");
  styleseg::fuzz::expect_clean_refusal([&] {
    for (const styleseg::JobEntry& entry : styleseg::read_job_file(path)) (void)styleseg::option_tokens(entry);
  });
  return 0;
}
