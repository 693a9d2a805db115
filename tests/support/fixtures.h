// Where the reference fixtures (../shared/fixtures) and the repo's own test data are.
#pragma once

#include <string>

namespace styleseg::test {

// STYLESEG_FIXTURES, else the default CMake computed (../shared/fixtures beside the repo).
// Empty when the folder does not exist.
std::string fixtures_dir();

// Path of a fixture file, e.g. fixture_path("stylegan2_rosinality/checkpoint.pt").
// When the fixtures are absent: GTEST_SKIP with a message, or a test failure under CI=true.
// Use through the macro below so the skip returns from the test body.
std::string fixture_path_or_empty(const std::string& relative, std::string* why_missing);

// Folder of tests/data (STYLESEG_TEST_DATA).
std::string test_data_dir();

// A fresh empty folder for a test's outputs, unique per test and process.
std::string scratch_dir(const std::string& name);

}  // namespace styleseg::test

// Sets `var` to the fixture's path, or skips the test (fails it when CI=true).
#define STYLESEG_REQUIRE_FIXTURE(var, relative)                                              \
  std::string var;                                                                          \
  do {                                                                                      \
    std::string why_;                                                                       \
    var = ::styleseg::test::fixture_path_or_empty(relative, &why_);                         \
    if (var.empty()) {                                                                      \
      const char* ci_ = std::getenv("CI");                                                  \
      if (ci_ && std::string(ci_) == "true") FAIL() << why_ << " (required when CI=true)";   \
      GTEST_SKIP() << why_;                                                                 \
    }                                                                                       \
  } while (0)
