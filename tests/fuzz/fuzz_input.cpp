#include "tests/fuzz/fuzz_input.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace styleseg::fuzz {
namespace {

std::string scratch_folder() {
  if (const char* dir = std::getenv("STYLESEG_FUZZ_TMP")) return dir;
  return std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
}

// Removes this process's scratch files when it exits normally (libFuzzer's exit after -runs
// or -max_total_time); a crashing run leaves them for inspection.
struct ScratchCleanup {
  ~ScratchCleanup() {
    std::error_code ignored;
    for (const auto& entry : std::filesystem::directory_iterator(scratch_folder(), ignored)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind(prefix, 0) == 0) std::filesystem::remove(entry.path(), ignored);
    }
  }
  std::string prefix = "styleseg_fuzz_" + std::to_string(::getpid());
};

}  // namespace

std::string scratch_path(const std::string& suffix) {
  // One name per process: parallel fuzzers (-jobs) must not share files.
  static ScratchCleanup cleanup;
  return scratch_folder() + "/styleseg_fuzz_" + std::to_string(::getpid()) + suffix;
}

std::string input_file(const std::uint8_t* data, std::size_t size, const std::string& suffix) {
  const std::string path = scratch_path("_input" + suffix);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  out.close();
  if (!out) finding("cannot write the fuzz input to " + path);
  return path;
}

void finding(const std::string& what) {
  std::fprintf(stderr, "styleseg fuzz finding: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace styleseg::fuzz
