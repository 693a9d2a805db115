// Writing files that Python's torch.load reads (the zip layout of torch >= 1.6), from
// LibTorch's pickler: styleseg's checkpoints and exported models.
#pragma once

#include <ATen/core/ivalue.h>

#include <string>

namespace styleseg::io {

// Writes `root` (dicts, lists, tensors, scalars, strings) atomically (temporary name, then
// rename). Throws OutputError naming the file when it cannot be written.
void save_torch_file(const std::string& path, const c10::IValue& root);

}  // namespace styleseg::io
