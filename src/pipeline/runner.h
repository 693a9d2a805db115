// `styleseg run`: executes the stages of pipeline/plan.h in order, each one a styleseg
// command with its options from the job file, skipping a stage that is up to date
// (pipeline/stage_record.h), resuming one that stopped part way, and stopping at the first
// that fails. Every rank runs the same commands (each is collective); rank 0 decides what
// is up to date and tells the others, so all ranks agree.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/options.h"
#include "pipeline/plan.h"

namespace styleseg::comm {
class Communicator;
}

namespace styleseg::pipeline {

// Runs one styleseg command in this process (all ranks); returns its exit code.
using CommandRunner = std::function<int(const std::string& command, const std::vector<std::string>& args)>;

struct RunSettings {
  std::string job_file;
  RunOptions options;
  std::vector<std::string> common_args;  // passed to every command; not part of fingerprints
  // Parses a command's options without running it (returns its exit code for them): every
  // stage's options are checked before the first stage runs. Empty: not checked.
  CommandRunner check_options;
};

enum class StageAction { UpToDate, Run, Resume };

// A stage's arguments: the runner's wired paths first, then the job's options from the
// stage's sections (first section wins per option; --set overrides the file). Throws
// ConfigError when the job sets an option the runner wires, naming section and option.
std::vector<std::string> stage_arguments(const StageSpec& stage, const std::vector<JobEntry>& entries);

// The job's entries: the --set overrides ("section.key=value"; the last of two for one option
// wins), then the file's (less the options an override replaces). Throws
// ConfigError for a malformed override or a section that is neither `run`, `features`, a
// stage nor a command of the method (a misspelt section would otherwise be ignored).
std::vector<JobEntry> job_entries(const std::string& job_file, const std::vector<std::string>& overrides);

// Returns the exit code of the job: 0 when every stage is complete; a stage's non-zero
// code otherwise; kExitResumable (75) when a stage stopped at a resume point or a stop
// signal (core/stop_request.h) came between stages: run the job again to continue.
int run_job(const RunSettings& settings, comm::Communicator& comm, const CommandRunner& run_command);

}  // namespace styleseg::pipeline
