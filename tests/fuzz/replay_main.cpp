// A driver that replays kept inputs through the fuzz targets without libFuzzer, so that the
// normal test suite (any compiler, no sanitizers) checks every seed and every former
// finding under the same rule (fuzz_input.h). Usage: fuzz_replay TARGET FILE_OR_FOLDER...
// Exits 1 when no input was found (a test that replays nothing proves nothing) and 2 for an
// unknown target; a finding aborts.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tests/fuzz/replay_targets.h"

namespace {

std::vector<std::filesystem::path> inputs_in(const std::filesystem::path& path) {
  if (!std::filesystem::is_directory(path)) return {path};
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(path))
    if (entry.is_regular_file() && entry.path().filename() != "README.md") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

int main(int argc, char** argv) {
  const styleseg::fuzz::ReplayTarget* target = nullptr;
  for (const auto& t : styleseg::fuzz::replay_targets())
    if (argc > 1 && std::string(argv[1]) == t.name) target = &t;
  if (target == nullptr) {
    std::fprintf(stderr, "usage: fuzz_replay TARGET FILE_OR_FOLDER... (TARGET: one of tests/fuzz/*.cpp)\n");
    return 2;
  }
  if (target->initialize) target->initialize(&argc, &argv);
  int replayed = 0;
  for (int i = 2; i < argc; ++i) {
    for (const std::filesystem::path& file : inputs_in(argv[i])) {
      std::ifstream in(file, std::ios::binary);
      const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (!in.eof() && in.fail()) {
        std::fprintf(stderr, "replay: cannot read %s\n", file.c_str());
        return 1;
      }
      std::printf("replay: %s (%zu bytes)\n", file.c_str(), bytes.size());
      std::fflush(stdout);
      target->one_input(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
      ++replayed;
    }
  }
  std::printf("replay: %d inputs, no finding\n", replayed);
  return replayed > 0 ? 0 : 1;
}
