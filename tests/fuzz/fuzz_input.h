// What every fuzz target shares: the input as a file (styleseg's readers take paths, as
// users give them), and the rule each target checks.
//
// The rule: a reader given any bytes either succeeds or throws a styleseg::Error (InputError,
// ConfigError: one clear message). Anything else is a finding, and the target aborts so
// that libFuzzer keeps the input: a crash or undefined behaviour (the sanitizers), an
// allocation beyond -malloc_limit_mb (a size trusted before it was checked), a hang
// (-timeout), or another exception type (c10::Error, std::out_of_range, nlohmann's:
// something was not validated, and the user would have seen a raw library message).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace styleseg::fuzz {

// Writes data[0, size) to this process's input file (same path every call, so one file
// whatever the number of executions) and returns its path. `suffix` is the extension the
// reader expects (".pt", ".png", ".h5"). Under $STYLESEG_FUZZ_TMP, else /dev/shm, else /tmp.
std::string input_file(const std::uint8_t* data, std::size_t size, const std::string& suffix);

// A path for a file the target makes itself (HDF5 files built from the input).
std::string scratch_path(const std::string& suffix);

// Runs `read` under the rule above.
template <typename Read>
void expect_clean_refusal(Read&& read);

// Aborts with `what` (the message libFuzzer prints above its crash report).
[[noreturn]] void finding(const std::string& what);

}  // namespace styleseg::fuzz

// ---- implementation -------------------------------------------------------------------

#include <exception>

#include "core/error.h"

template <typename Read>
void styleseg::fuzz::expect_clean_refusal(Read&& read) {
  try {
    read();
  } catch (const styleseg::Error&) {
    // A clean refusal: what users see as one line naming the file.
  } catch (const std::exception& e) {
    finding(std::string("an exception that is not a styleseg::Error escaped the reader: ") + e.what());
  }
}
