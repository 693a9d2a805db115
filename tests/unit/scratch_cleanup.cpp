// The unit tests' scratch folders (support/fixtures.h) are removed once their test passed:
// a full run otherwise leaves about a gigabyte in the temporary folder.
#include "support/fixtures.h"

namespace {
[[maybe_unused]] const bool kRegistered = (styleseg::test::remove_scratch_of_passing_tests(), true);
}  // namespace
