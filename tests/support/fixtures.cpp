#include "support/fixtures.h"

#include "core/device.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>

#include <cstdlib>
#include <filesystem>

#include <gtest/gtest.h>

namespace fs = std::filesystem;

namespace styleseg::test {

std::string fixtures_dir() {
  const char* env = std::getenv("STYLESEG_FIXTURES");
  std::string dir = env && *env ? env : "";
  if (dir.empty()) {
    dir = STYLESEG_FIXTURES_DEFAULT_PATH;
  }
  return fs::is_directory(dir) ? dir : "";
}

std::string fixture_path_or_empty(const std::string& relative, std::string* why_missing) {
  const std::string dir = fixtures_dir();
  if (dir.empty()) {
    *why_missing = "reference fixtures not found: set STYLESEG_FIXTURES to the fixtures folder "
                   "(default ../shared/fixtures beside the repo)";
    return "";
  }
  fs::path path = fs::path(dir) / relative;
  if (!fs::exists(path)) {
    *why_missing = "fixture file missing: " + path.string();
    return "";
  }
  return path.string();
}

std::string test_data_dir() {
  const char* env = std::getenv("STYLESEG_TEST_DATA");
  return env && *env ? env : STYLESEG_TEST_DATA_PATH;
}

namespace {

fs::path process_scratch_dir() { return fs::temp_directory_path() / ("styleseg_test_" + std::to_string(getpid())); }

std::string test_folder_name(const ::testing::TestInfo& info) {
  return std::string(info.test_suite_name()) + "." + info.name();
}

class ScratchRemover : public ::testing::EmptyTestEventListener {
  void OnTestEnd(const ::testing::TestInfo& info) override {
    if (info.result()->Failed()) return;
    std::error_code ignored;
    fs::remove_all(process_scratch_dir() / test_folder_name(info), ignored);
  }
  void OnTestProgramEnd(const ::testing::UnitTest&) override {
    std::error_code ignored;
    fs::remove(process_scratch_dir(), ignored);  // only when empty
  }
};

}  // namespace

std::string scratch_dir(const std::string& name) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  fs::path dir = process_scratch_dir() / (info ? test_folder_name(*info) : "global") / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

void remove_scratch_of_passing_tests() {
  const char* keep = std::getenv("STYLESEG_KEEP_SCRATCH");
  if (keep && std::string(keep) == "1") return;
  ::testing::UnitTest::GetInstance()->listeners().Append(new ScratchRemover);
}

c10::Device test_device() {
  const char* spec = std::getenv("STYLESEG_TEST_DEVICE");
  return resolve_device(spec && *spec ? spec : "cpu", 0, "STYLESEG_TEST_DEVICE");
}

std::string emulated_isa_lacks_bfloat16() {
  const char* isa = std::getenv("ONEDNN_MAX_CPU_ISA");
  if (!isa || !*isa) return "";
  std::string name(isa);
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  if (name == "ALL" || name.find("AVX512") != std::string::npos || name.find("AMX") != std::string::npos) return "";
  return "bfloat16 convolutions skipped with ONEDNN_MAX_CPU_ISA=" + std::string(isa) +
         ": on an AVX-512 CPU LibTorch still sends them to oneDNN, which refuses below AVX-512";
}

}  // namespace styleseg::test
