// Which options change how a command runs but not what it makes: the one registry that
// provenance records and resume identities (cli), the job runner's stage fingerprints
// (pipeline) and `styleseg run`'s forwarding of its process settings to every stage (cli)
// all read. Names without the leading "--".
#pragma once

#include <set>
#include <string>

namespace styleseg {

// The process settings every command takes (threads, communication backend, logging,
// MPI-IO): they change speed and the last bits of float32 results (README "Determinism"),
// not what a command computes. `styleseg run` passes its own to every stage.
const std::set<std::string>& process_options();

// Options that change speed, memory or where a run stops, not its results: the process
// settings and --time-limit, --resume-interval, --checkpoint-interval, --cache-mb,
// --scratch, --phase-times. A job's stage run again with other values is up to date.
const std::set<std::string>& speed_only_options();

// Options left out of a command's provenance record and resume identity: the speed-only
// ones, those that name outputs or previews or say what to do with existing ones (--out,
// --grid, --force, --resume, ...), and --batch (every batched command gives the same
// samples whatever the batch; train, whose result depends on it, records its own).
const std::set<std::string>& non_result_options();

}  // namespace styleseg
