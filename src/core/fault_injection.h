// Failure injection for tests of what a real failure does: a rank killed in the middle of
// a stage (kill -9, an OOM kill, a node lost). Tests set
//     STYLESEG_KILL_AT=<point>:<rank>:<step>
// and the process of that rank sends itself SIGKILL when it reaches that step of that
// point: no handler, no clean-up, no message, as with a real kill. Unset (always, outside
// tests) the check is one comparison.
#pragma once

#include <cstdint>

namespace styleseg {

// Points: "cluster-iteration" (before k-means iteration `step`), "synthesize-round".
void fault_injection_point(const char* point, int rank, int64_t step);

}  // namespace styleseg
