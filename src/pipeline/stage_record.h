// What `styleseg run` remembers about each stage it ran, so that a second run skips a stage
// whose output is complete and was made from the same inputs and options, and redoes one
// whose inputs or options changed (as make, DVC or Snakemake decide).
//
// A stage's fingerprint is the SHA-256 of its command, its options (output paths written
// relative to the workdir) and the content hash of every input. The record
// (WORKDIR/records/STAGE.json) is written once the stage completed, with the content hash,
// size and modification time of every output. A stage is up to date when its record's
// fingerprint equals the one computed now and every output is still as recorded. Inputs
// made by earlier stages are hashed once, when they are made; a re-made input with the same
// content leaves later stages up to date.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace styleseg::pipeline {

// SHA-256 of a file's content, or of a folder's (its files' relative paths and contents,
// in sorted order, recursively). Throws InputError naming a missing path.
std::string content_hash(const std::string& path);

// An output as it was when its stage completed.
struct OutputStamp {
  std::string path;
  std::string hash;
  uint64_t size = 0;       // bytes (a folder: all its files)
  int64_t mtime_ns = 0;    // modification time (a folder: the sum over its files)
};
OutputStamp stamp_output(const std::string& path);
// Unchanged when size and modification time are as stamped, or failing that, the content.
bool output_unchanged(const OutputStamp& stamp);

struct StageRecord {
  std::string stage;
  std::string command;
  std::vector<std::string> args;                  // as run (paths as given)
  std::string fingerprint;
  std::map<std::string, std::string> inputs;      // path -> content hash
  std::vector<OutputStamp> outputs;
  double seconds = 0;                             // wall time of the run that made the outputs
  std::string finished;                           // UTC, ISO 8601
};

// The record at `path`; nullopt when there is none. A damaged record counts as none (the
// stage is redone) with a warning naming the file.
std::optional<StageRecord> read_stage_record(const std::string& path);
void write_stage_record(const std::string& path, const StageRecord& record);

// "styleseg COMMAND ARG ...": how a stage's command is shown (log, report).
std::string command_line(const std::string& command, const std::vector<std::string>& args);

// The fingerprint of a stage about to run: SHA-256 over the command, the arguments and the
// input hashes.
std::string stage_fingerprint(const std::string& command, const std::vector<std::string>& args,
                              const std::map<std::string, std::string>& input_hashes);

}  // namespace styleseg::pipeline
