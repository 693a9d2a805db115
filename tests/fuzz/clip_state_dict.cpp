// A CLIP model file to an architecture and a model, as `name`, `embed` and `direction` load
// one: a TorchScript archive read as data, or a torch.save state dict.
#include "io/py_value.h"
#include "io/torch_file.h"
#include "models/clip/architecture.h"
#include "models/clip/model.h"
#include "models/state_dict.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = styleseg::fuzz::input_file(data, size, ".pt");
  styleseg::fuzz::expect_clean_refusal([&] {
    const styleseg::models::StateDict state = styleseg::clip::read_state_dict(path);
    const styleseg::clip::Architecture arch = styleseg::clip::infer_architecture(state);
    (void)styleseg::clip::Model(arch, state, {});
  });
  return 0;
}
