// core/option_roles.h: process settings are speed-only, speed-only options are left out of
// provenance, and options that change results are in neither list.
#include <gtest/gtest.h>

#include <algorithm>

#include "core/option_roles.h"

namespace styleseg {
namespace {

bool includes(const std::set<std::string>& outer, const std::set<std::string>& inner) {
  return std::includes(outer.begin(), outer.end(), inner.begin(), inner.end());
}

TEST(OptionRoles, EachListHoldsTheOneBeforeIt) {
  EXPECT_TRUE(includes(speed_only_options(), process_options()));
  EXPECT_TRUE(includes(non_result_options(), speed_only_options()));
  EXPECT_EQ(process_options(), (std::set<std::string>{"threads", "backend", "log-level", "log-all-ranks", "mpi-io-hints", "h5-alignment"}));
}

TEST(OptionRoles, OptionsThatChangeResultsAreInNoList) {
  // batch changes what train makes (a job's train stage reruns), not what generate makes.
  EXPECT_EQ(speed_only_options().count("batch"), 0u);
  EXPECT_EQ(non_result_options().count("batch"), 1u);
  for (const char* name : {"seed", "count", "steps", "lr", "clusters", "checkpoint", "truncation"})
    EXPECT_EQ(non_result_options().count(name), 0u) << name;
  for (const char* name : {"out", "force", "resume"}) EXPECT_EQ(speed_only_options().count(name), 0u) << name;
}

}  // namespace
}  // namespace styleseg
