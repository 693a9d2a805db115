// core/json_diff.h: the first difference between two job descriptions, and the one refusal
// every command gives for a file another job made.
#include <gtest/gtest.h>

#include "core/error.h"
#include "core/json_diff.h"
#include "support/expect_error.h"

namespace styleseg {
namespace {

using test::expect_error;

TEST(JsonDiff, NamesTheFirstDifferingPathWithBothValues) {
  const nlohmann::json now{{"options", {{"seed", 6}, {"lr", 0.1}}}}, before{{"options", {{"seed", 5}, {"lr", 0.1}}}};
  EXPECT_EQ(first_difference(now, before), "options.seed: 6 now, 5 in that file");
  EXPECT_EQ(first_difference(now, now), "");
  EXPECT_EQ(first_difference({{"a", 1}, {"b", 2}}, {{"a", 1}}), "b is new");
  EXPECT_EQ(first_difference({{"a", 1}}, {{"a", 1}, {"b", 2}}), "b is gone");
}

TEST(JsonDiff, AnotherJobsFileIsRefusedNamingFileDifferenceAndRemedy) {
  const std::string now = R"({"options":{"seed":6}})", before = R"({"options":{"seed":5}})";
  EXPECT_NO_THROW(require_same_job("out.h5", now, now));
  expect_error<ConfigError>([&] { require_same_job("out.h5.tmp.partial", now, before); },
                            {"--resume: out.h5.tmp.partial was made by a different job (options.seed: 6 now, 5 in that file)",
                             "; --force starts afresh"});
  expect_error<ConfigError>([&] { require_same_job("out.h5", now, before, SavedRun::Complete); },
                            {"out.h5 is complete but was made by a different job", "--force replaces it"});
  // A file without an identity, or with one that is not JSON.
  expect_error<ConfigError>([&] { require_same_job("old.h5", now, ""); }, {"old.h5", "options is new"});
  expect_error<ConfigError>([&] { require_same_job("bad.h5", now, "{not json"); }, {"bad.h5", "cannot be read"});
}

}  // namespace
}  // namespace styleseg
