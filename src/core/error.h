// Errors: exceptions with context at the library level, turned into one message and an
// exit code by the CLI (src/cli/main.cpp). User mistakes (options, files) get their own
// types so the CLI can tell them from internal faults.
#pragma once

#include <stdexcept>
#include <string>

namespace styleseg {

// Base of every error styleseg throws on purpose.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A bad option value or job file (exit code 2). The message names the option.
class ConfigError : public Error {
 public:
  using Error::Error;
};

// A missing, unreadable, corrupt or ill-shaped input file (exit code 3). The message
// names the file and what is wrong with it.
class InputError : public Error {
 public:
  using Error::Error;
};

// Output could not be written (disk full, permissions) (exit code 4).
class OutputError : public Error {
 public:
  using Error::Error;
};

// Communication failed (exit code 5).
class CommError : public Error {
 public:
  using Error::Error;
};

// A styleseg bug, not a user mistake (exit code 1): a broken invariant between styleseg's own
// parts. Thrown by STYLESEG_ASSERT, whose message names the source line to report.
class InternalError : public Error {
 public:
  using Error::Error;
};

// Exit codes the CLI uses for each error type.
int exit_code_for(const std::exception& e);

// "internal error at src/train/gan_losses.cpp:46 (ema.size() == current.size()): MESSAGE (a
// styleseg bug: please report it)"; `file` is cut to the part from the repository's top folder.
std::string internal_error_text(const char* file, int line, const char* condition, const std::string& message);

}  // namespace styleseg

// Throws ErrorType(message) when cond is false. For user-facing checks: the message must
// say what is wrong in the user's terms (which option, which file). A check that only a bug in
// styleseg can fail is a STYLESEG_ASSERT instead.
#define STYLESEG_CHECK(cond, ErrorType, message) \
  do {                                           \
    if (!(cond)) throw ErrorType(message);       \
  } while (0)

// Throws InternalError naming the file, line and condition when cond is false: for invariants
// between styleseg's own parts (shapes one module hands another), never for user input.
#define STYLESEG_ASSERT(cond, message)                                                                        \
  do {                                                                                                        \
    if (!(cond)) throw ::styleseg::InternalError(::styleseg::internal_error_text(__FILE__, __LINE__, #cond, message)); \
  } while (0)
