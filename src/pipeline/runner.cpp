#include "pipeline/runner.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/log.h"
#include "core/option_roles.h"
#include "core/stop_request.h"
#include "io/atomic_output.h"
#include "mpi/communicator.h"
#include "pipeline/report.h"
#include "pipeline/stage_record.h"

namespace fs = std::filesystem;

namespace styleseg::pipeline {
namespace {

// Whether an argument ("--name", "--name=value" or a value) may change what a stage makes:
// not a speed-only option (core/option_roles.h).
bool affects_results(const std::string& token) {
  if (token.compare(0, 2, "--") != 0) return true;
  const size_t equals = token.find('=');
  const std::string name = token.substr(2, equals == std::string::npos ? std::string::npos : equals - 2);
  return speed_only_options().count(name) == 0;
}

// Arguments as fingerprinted: the workdir written as $WORKDIR (a moved workdir stays up to
// date) and options that do not change results left out.
std::vector<std::string> fingerprint_args(const std::vector<std::string>& args, const std::string& workdir) {
  static const std::string placeholder = "$WORKDIR";
  std::vector<std::string> out;
  for (std::string token : args) {
    if (!affects_results(token)) continue;
    for (size_t at = token.find(workdir); at != std::string::npos; at = token.find(workdir, at + placeholder.size()))
      token.replace(at, workdir.size(), placeholder);
    out.push_back(token);
  }
  return out;
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return text;
}

void remove_path(const std::string& path) {
  std::error_code error;
  fs::remove_all(path, error);
  STYLESEG_CHECK(!error, OutputError, "run: cannot remove the stale output " + path + ": " + error.message());
}


// ---- the steps of run_job ---------------------------------------------------------------------

// The job's sections and --redo name what this job has.
void check_job(const RunSettings& settings, const std::vector<StageSpec>& stages, const std::vector<JobEntry>& entries) {
  for (const JobEntry& e : entries)
    STYLESEG_CHECK(e.section != "name" || settings.options.name, ConfigError,
                   "job file '" + settings.job_file + "': [name] " + e.key +
                       ": the job does not name its clusters; set name = true in [run] (CLIP names them)");
  for (const auto& name : settings.options.redo)
    STYLESEG_CHECK(std::any_of(stages.begin(), stages.end(), [&](const StageSpec& s) { return s.name == name; }), ConfigError,
                   "run: --redo " + name + ": not a stage of this job");
}

// What rank 0 decided for one stage, and (on rank 0) what its record will say it read.
struct StageDecision {
  StageAction action = StageAction::Run;
  std::string fingerprint;
  std::map<std::string, std::string> inputs;  // path -> content hash
};

// Rank 0's view of the workdir: up to date (its record matches and its outputs are as
// recorded), resumable (a started run of the same fingerprint left its resume file), or run
// afresh (stale outputs removed). `hashes` (path -> content hash) grows with what it hashed.
StageDecision decide_stage(const StageSpec& stage, const std::vector<std::string>& args, const RunSettings& settings,
                           const WorkdirLayout& w, std::map<std::string, std::string>& hashes) {
  StageDecision d;
  for (const auto& input : stage.inputs) {
    if (!hashes.count(input)) {
      STYLESEG_CHECK(fs::exists(input), InputError,
                     "stage " + stage.name + " needs " + input + ", which is missing (an earlier stage makes it: run the whole job)");
      hashes[input] = content_hash(input);
    }
    d.inputs[input] = hashes[input];
  }
  d.fingerprint = stage_fingerprint(stage.command, fingerprint_args(args, w.workdir), d.inputs);
  const auto record = read_stage_record(w.record(stage.name));
  const bool redo = std::count(settings.options.redo.begin(), settings.options.redo.end(), stage.name) > 0;
  if (record && !redo && record->fingerprint == d.fingerprint &&
      std::all_of(record->outputs.begin(), record->outputs.end(), output_unchanged)) {
    d.action = StageAction::UpToDate;
    for (const auto& o : record->outputs) hashes[o.path] = o.hash;
    return d;
  }
  std::string started;
  if (auto text = std::ifstream(w.started(stage.name))) std::getline(text, started);
  if (!redo && started == d.fingerprint && !stage.resume_file.empty() && fs::exists(stage.resume_file)) {
    d.action = StageAction::Resume;
  } else {
    for (const auto& o : stage.outputs) remove_path(o);
    if (!stage.resume_file.empty()) remove_path(stage.resume_file);
  }
  fs::remove(w.record(stage.name));
  write_text_file(w.started(stage.name), d.fingerprint + "\n");
  return d;
}

// Rank 0: the record of a stage that completed (its outputs hashed into `hashes`).
void record_stage(const StageSpec& stage, const std::vector<std::string>& full, const StageDecision& decision,
                  double seconds, const WorkdirLayout& w, std::map<std::string, std::string>& hashes) {
  StageRecord record;
  record.stage = stage.name;
  record.command = stage.command;
  record.args = full;
  record.fingerprint = decision.fingerprint;
  record.inputs = decision.inputs;
  for (const auto& output : stage.outputs) {
    STYLESEG_CHECK(fs::exists(output), OutputError, "stage " + stage.name + " completed without making " + output);
    record.outputs.push_back(stamp_output(output));
    hashes[output] = record.outputs.back().hash;
  }
  record.seconds = seconds;
  record.finished = utc_now();
  write_stage_record(w.record(stage.name), record);
  fs::remove(w.started(stage.name));
}

}  // namespace

std::vector<JobEntry> job_entries(const std::string& job_file, const std::vector<std::string>& overrides) {
  std::vector<JobEntry> entries;
  for (const auto& o : overrides) {
    const auto dot = o.find('.'), eq = o.find('=');
    STYLESEG_CHECK(dot != std::string::npos && eq != std::string::npos && dot < eq && dot > 0, ConfigError,
                   "run: --set '" + o + "': expected SECTION.KEY=VALUE, e.g. cluster.clusters=12");
    JobEntry entry{o.substr(0, dot), o.substr(dot + 1, eq - dot - 1), o.substr(eq + 1), true};
    // A later --set of the same option replaces an earlier one.
    entries.erase(std::remove_if(entries.begin(), entries.end(),
                                 [&](const JobEntry& e) { return e.section == entry.section && e.key == entry.key; }),
                  entries.end());
    entries.push_back(entry);
  }
  if (!job_file.empty()) {
    // An override replaces every value the file gives that option in that section.
    std::set<std::pair<std::string, std::string>> overridden;
    for (const auto& e : entries) overridden.insert({e.section, e.key});
    for (const auto& e : read_job_file(job_file))
      if (!overridden.count({e.section, e.key})) entries.push_back(e);
  }
  std::set<std::string> known{"run", "submit", "features", "make-eyes", "segment", "evaluate"};
  for (const auto& name : method_stage_names()) known.insert(name);
  for (const auto& e : entries)
    STYLESEG_CHECK(known.count(e.section), ConfigError,
                   "job file '" + job_file + "': [" + e.section + "] " + e.key +
                       ": no stage reads this section (sections: run, submit, features, make-eyes, segment, evaluate and the stages)");
  return entries;
}

std::vector<std::string> stage_arguments(const StageSpec& stage, const std::vector<JobEntry>& entries) {
  std::vector<std::string> args;
  std::set<std::string> wired;
  for (const auto& [key, value] : stage.wired) {
    args.push_back("--" + key + "=" + value);
    wired.insert(key);
  }
  std::vector<std::string> sections{stage.name};
  sections.insert(sections.end(), stage.sections.begin(), stage.sections.end());
  std::map<std::string, std::string> owner;  // option -> the section that set it
  for (const auto& section : sections) {
    for (const auto& e : entries) {
      if (e.section != section) continue;
      STYLESEG_CHECK(!wired.count(e.key), ConfigError,
                     "[" + section + "] " + e.key + ": styleseg run sets it for stage " + stage.name +
                         " (paths live in the workdir); remove it from the job");
      const auto it = owner.find(e.key);
      if (it != owner.end() && it->second != section) continue;  // an earlier section set it
      owner[e.key] = section;
      const auto tokens = option_tokens(e);
      args.insert(args.end(), tokens.begin(), tokens.end());
    }
  }
  return args;
}

int run_job(const RunSettings& settings, comm::Communicator& comm, const CommandRunner& run_command) {
  const std::vector<StageSpec> stages = plan_stages(settings.options);
  const std::vector<JobEntry> entries = job_entries(settings.job_file, settings.options.set);
  check_job(settings, stages, entries);
  const WorkdirLayout w(settings.options.workdir);
  const bool root = comm.rank() == 0;
  // Every stage's options before any stage runs: a misspelt key in [train] must not wait for
  // the stages before it.
  std::vector<std::vector<std::string>> stage_args;
  for (const StageSpec& stage : stages) {
    stage_args.push_back(stage_arguments(stage, entries));
    const int code = settings.check_options ? settings.check_options(stage.command, stage_args.back()) : 0;
    if (code != 0) {
      log::error("stage {}: its options from the job do not parse (above); no stage was run", stage.name);
      return code;
    }
  }
  if (root) fs::create_directories(w.records());

  // path -> content hash: outputs of the stages so far (hashed when made) and the job's own
  // inputs (hashed once, however many stages read them). Rank 0's.
  std::map<std::string, std::string> hashes;
  const auto started_at = std::chrono::steady_clock::now();
  for (size_t i = 0; i < stages.size(); ++i) {
    const StageSpec& stage = stages[i];
    // Rank 0 decides (its error, such as a missing input, ends every rank); every rank runs
    // the same.
    StageDecision decision;
    decision.action = comm::decide_on_root(comm, [&] {
      decision = decide_stage(stage, stage_args[i], settings, w, hashes);
      return decision.action;
    });
    const std::string counter = "[" + std::to_string(i + 1) + "/" + std::to_string(stages.size()) + "] ";
    if (decision.action == StageAction::UpToDate) {
      log::info("{}{}: up to date (outputs and inputs as recorded), skipped", counter, stage.name);
      continue;
    }
    std::vector<std::string> full = stage_args[i];
    full.insert(full.end(), settings.common_args.begin(), settings.common_args.end());
    // --force: the outputs this stage replaces (io/output_policy.h).
    full.push_back(decision.action == StageAction::Resume ? "--resume" : "--force");
    log::info("{}{}{}: {}", counter, stage.name, decision.action == StageAction::Resume ? " (resuming)" : "",
              command_line(stage.command, full));
    const auto t0 = std::chrono::steady_clock::now();
    const int code = run_command(stage.command, full);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (code != 0) {
      log::error("stage {} ended with exit code {}{}", stage.name, code,
                 code == kExitResumable ? ": stopped at a resume point (time limit or stop signal); run the job again to continue"
                                        : "; later stages not run");
      return code;
    }
    if (root) {
      record_stage(stage, full, decision, seconds, w, hashes);
      log::info("{}{}: done in {:.1f} s", counter, stage.name, seconds);
    }
    comm.barrier();
    // A stop signal that came while a stage without resume points ran (or as one finished):
    // stop between stages; the next run starts at the next stage.
    if (i + 1 < stages.size() && comm::allreduce_max(comm, stop_signal_received() ? 1.0 : 0.0) > 0) {
      log::warn("stopped after stage {} on a stop signal (SIGUSR1); run the job again to continue with {}", stage.name,
                stages[i + 1].name);
      return kExitResumable;
    }
  }
  if (root) {
    const std::string report = w.path(settings.options.report);
    write_report(ReportInputs{settings.options, stages, settings.job_file}, report);
    log::info("all {} stages complete in {:.0f} s; report: {}", stages.size(),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - started_at).count(), report);
  }
  comm.barrier();
  return 0;
}

}  // namespace styleseg::pipeline
