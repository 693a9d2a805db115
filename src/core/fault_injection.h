// Failure injection for tests of what a real failure or signal does at a given point of a
// stage. Tests set
//     STYLESEG_KILL_AT=<point>:<rank>:<step>     that rank sends itself SIGKILL there: no
//                                                handler, no clean-up, as with a real kill
//                                                (kill -9, an OOM kill, a node lost);
//     STYLESEG_SIGNAL_AT=<point>:<rank>:<step>   that rank sends itself SIGUSR1 there, as
//                                                Slurm's --signal would (to one rank only)
// when it reaches that step of that point. Unset (always, outside tests) the check is a
// comparison of two pointers.
#pragma once

#include <cstdint>

namespace styleseg {

// Points: "cluster-iteration" (before k-means iteration `step`), "synthesize-round",
// "train-step", "train-gan-step" (after step `step`).
void fault_injection_point(const char* point, int rank, int64_t step);

}  // namespace styleseg
