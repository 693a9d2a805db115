#include "io/torch_save.h"

#include <torch/csrc/jit/serialization/pickle.h>

#include <fstream>

#include "core/error.h"
#include "io/atomic_output.h"

namespace styleseg::io {

void save_torch_file(const std::string& path, const c10::IValue& root) {
  const std::vector<char> bytes = torch::jit::pickle_save(root);
  AtomicOutput output(path);
  {
    std::ofstream file(output.temp_path(), std::ios::binary);
    file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    file.close();
    if (!file) throw OutputError(path + ": could not write the file (disk full or not writable?)");
  }
  output.commit();
}

}  // namespace styleseg::io
