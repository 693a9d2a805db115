// torch.save files (zip and legacy layouts), as `generate`, `train` and `inspect` read them:
// the archive, the pickle and every storage, then the tree printed as `inspect` prints it.
#include "io/torch_file.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = styleseg::fuzz::input_file(data, size, ".pt");
  styleseg::fuzz::expect_clean_refusal([&] {
    const styleseg::io::PyValue root = styleseg::io::load_torch_file(path);
    (void)styleseg::io::describe_tree(root, 4);
  });
  return 0;
}
