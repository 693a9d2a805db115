// Where the reference fixtures (../shared/fixtures) and the repo's own test data are.
#pragma once

#include <c10/core/Device.h>

#include <string>

namespace styleseg::test {

// The device the parity tests run their models on: STYLESEG_TEST_DEVICE (cpu, cuda, cuda:N;
// tools/gpu/check.sh sets cuda), cpu when unset. Results are compared on the CPU in float64.
c10::Device test_device();

// STYLESEG_FIXTURES, else the default CMake computed (../shared/fixtures beside the repo).
// Empty when the folder does not exist.
std::string fixtures_dir();

// Path of a fixture file, e.g. fixture_path("stylegan2_rosinality/checkpoint.pt").
// When the fixtures are absent: GTEST_SKIP with a message, or a test failure under CI=true.
// Use through the macro below so the skip returns from the test body.
std::string fixture_path_or_empty(const std::string& relative, std::string* why_missing);

// Folder of tests/data (STYLESEG_TEST_DATA).
std::string test_data_dir();

// A fresh empty folder for a test's outputs, unique per test and process:
// TMPDIR/styleseg_test_PID/SUITE.TEST/NAME.
std::string scratch_dir(const std::string& name);

// From now on, a test that passes has its scratch folders removed when it ends (a failing
// test's stay, for a look at what it wrote), and the process's folder goes at the end when
// nothing is left in it; STYLESEG_KEEP_SCRATCH=1 keeps all. For executables whose tests run
// in one process (unit tests): under mpiexec, rank 0 would remove what other ranks still read.
void remove_scratch_of_passing_tests();

// Why bfloat16 convolutions cannot run under tools/test_numerics.sh's restriction of oneDNN,
// or "" when they can. With ONEDNN_MAX_CPU_ISA below AVX-512 on an AVX-512 machine, LibTorch
// still sends bfloat16 convolutions to oneDNN (it asks the hardware, not the variable), and
// oneDNN refuses some shapes; a real AVX2 CPU takes LibTorch's own path instead, so without
// the variable (or with an AVX-512 value) this is always "".
std::string emulated_isa_lacks_bfloat16();

}  // namespace styleseg::test

// Skips a bfloat16 test under an emulated older instruction set that cannot run it.
#define STYLESEG_SKIP_IF_EMULATED_ISA_LACKS_BFLOAT16()                                       \
  do {                                                                                      \
    const std::string why_ = ::styleseg::test::emulated_isa_lacks_bfloat16();               \
    if (!why_.empty()) GTEST_SKIP() << why_;                                                \
  } while (0)

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
