// A parameter sweep of a job: one option (SECTION.KEY) over a list of values, each value a
// job of its own in WORKDIR/SECTION.KEY=VALUE (`styleseg run --sweep`; on Slurm a job
// array runs one value per array task: slurm/sweep.sbatch, `styleseg submit --sweep`),
// collected into one table once every value is complete:
//   WORKDIR/sweep.csv   value, clusters, inertia (total and per vector), iterations,
//                       converged, pixel shares (largest first), test mIoU when evaluated
//   WORKDIR/sweep.md    the same as a Markdown table
//   WORKDIR/sweep.png   inertia per vector against the value, and each value's pixel
//                       shares as a bar in the cluster palette
#pragma once

#include <string>
#include <vector>

#include "pipeline/plan.h"
#include "pipeline/runner.h"

namespace styleseg::pipeline {

struct Sweep {
  std::string section, key;
  std::vector<std::string> values;

  std::string option() const { return section + "." + key; }
  // The job's --set override for value i: "SECTION.KEY=VALUE".
  std::string override_of(size_t i) const;
  // Where value i runs: WORKDIR/SECTION.KEY=VALUE.
  std::string point_workdir(const std::string& workdir, size_t i) const;
};

// "SECTION.KEY=V1,V2,..." (at least one value, no duplicates, no '/' in values). Throws
// ConfigError naming `option` otherwise.
Sweep parse_sweep(const std::string& spec, const std::string& option = "--sweep");

// The run options of value i: the job's options with that workdir and override.
RunOptions sweep_point(const RunOptions& job, const Sweep& sweep, size_t i);

// True when every stage of value i's job has its record (the job completed).
bool sweep_point_complete(const RunOptions& job, const Sweep& sweep, size_t i);

// Runs value `index` (every value in turn when index < 0) as run_job in its own workdir,
// then (rank 0) writes the table once every value is complete, so whichever array task
// finishes last writes it. Returns 0, or the first non-zero exit code of a value's job.
// Throws ConfigError for an index out of range.
int run_sweep(const RunSettings& settings, const Sweep& sweep, int index, comm::Communicator& comm,
              const CommandRunner& run_command);

// Writes sweep.csv, sweep.md and sweep.png into WORKDIR (each atomically) from the values'
// workdirs; returns the Markdown table. Values without a clusters file are listed as
// missing. Local (rank 0).
std::string write_sweep_table(const RunOptions& job, const Sweep& sweep);

}  // namespace styleseg::pipeline
