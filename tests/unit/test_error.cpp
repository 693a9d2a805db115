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

}  // namespace styleseg
