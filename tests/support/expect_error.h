// Asserting on an error's type and message, for tests of user-facing errors: the message
// must name what is wrong (the option, the file), so tests check its words, not only its type.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace styleseg::test {

// Expects `action` to throw E whose message contains every one of `parts`.
template <typename E, typename Action>
void expect_error(Action action, const std::vector<std::string>& parts) {
  try {
    action();
    ADD_FAILURE() << "no exception thrown";
  } catch (const E& e) {
    const std::string message = e.what();
    for (const std::string& part : parts)
      EXPECT_NE(message.find(part), std::string::npos) << "'" << part << "' not in: " << message;
  }
}

}  // namespace styleseg::test
