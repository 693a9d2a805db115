// The pickle machine alone, on any bytes: opcodes, memo, stack, the allow-list of globals
// and tensor rebuilding. Storages come from a resolver that, like the torch file reader,
// refuses what it cannot back (here: more than 4096 bytes), so strides and offsets that
// reach past a storage must be caught by the unpickler itself.
#include <c10/core/CPUAllocator.h>
#include <c10/core/Storage.h>

#include "io/torch_file.h"
#include "io/unpickler.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

c10::Storage small_storage(const styleseg::io::StorageRef& ref) {
  const int64_t bytes = ref.nbytes();
  if (bytes < 0 || bytes > 4096) throw styleseg::InputError("fuzz resolver: storage of " + std::to_string(bytes) + " bytes");
  return c10::Storage(c10::Storage::use_byte_size_t(), bytes, c10::GetCPUAllocator(), /*resizable=*/false);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  styleseg::fuzz::expect_clean_refusal([&] {
    const styleseg::io::PyValue root = styleseg::io::unpickle(data, size, small_storage);
    (void)styleseg::io::describe_tree(root, 4);
  });
  return 0;
}
