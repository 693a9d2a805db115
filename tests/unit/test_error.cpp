#include <gtest/gtest.h>

#include "core/error.h"

namespace styleseg {

TEST(ExitCodes, EachErrorTypeHasItsOwnCode) {
  EXPECT_EQ(exit_code_for(ConfigError("x")), 2);
  EXPECT_EQ(exit_code_for(InputError("x")), 3);
  EXPECT_EQ(exit_code_for(OutputError("x")), 4);
  EXPECT_EQ(exit_code_for(CommError("x")), 5);
  EXPECT_EQ(exit_code_for(std::runtime_error("x")), 1);
}

TEST(Check, ThrowsTheNamedTypeWithTheMessage) {
  try {
    STYLESEG_CHECK(1 + 1 == 3, ConfigError, "--count must be positive");
    FAIL() << "no throw";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "--count must be positive");
  }
  EXPECT_NO_THROW(STYLESEG_CHECK(true, InputError, "never"));
}

// A broken invariant is a bug: the message says so and names this file, its line and the
// condition, and the CLI gives it the exit code of an internal fault.
TEST(Assert, NamesTheSourceLineAndTheConditionOfABug) {
  const int line = __LINE__ + 2;
  try {
    STYLESEG_ASSERT(2 + 2 == 5, "two lists differ in length");
    FAIL() << "no throw";
  } catch (const InternalError& e) {
    EXPECT_EQ(std::string(e.what()), "internal error at tests/unit/test_error.cpp:" + std::to_string(line) +
                                         " (2 + 2 == 5): two lists differ in length (a styleseg bug: please report it)");
    EXPECT_EQ(exit_code_for(e), 1);
  }
  EXPECT_NO_THROW(STYLESEG_ASSERT(true, "never"));
}

}  // namespace styleseg
