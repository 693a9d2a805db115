// `styleseg submit`: the sbatch script that runs a job file (`styleseg run`, or a sweep as a
// job array) on a Slurm allocation of N nodes x G GPUs (or CPU tasks), with the batches
// checked against the rank count. The script sets the #SBATCH resources and hands over to
// slurm/run.sbatch (srun, GPU binding, requeue on USR1: slurm/lib/styleseg.sh).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/options.h"
#include "pipeline/plan.h"

namespace styleseg::pipeline {

struct SlurmResources {
  int nodes = 1;
  int gpus_per_node = 0;        // 0: a CPU partition
  int tasks_per_node = 0;       // ranks per node (0: one per GPU, or 1 without GPUs)
  int cpus_per_task = 0;        // threads per rank (0: 8 with GPUs, else 1)
  std::string partition, account, time = "24:00:00", job_name;
  int signal_seconds = 300;     // USR1 this long before the time limit: the stage saves and the job requeues
  std::vector<std::string> sbatch_options;  // more #SBATCH lines, e.g. "--qos=high", "--constraint=a100"

  int ranks_per_node() const;
  int ranks() const { return nodes * ranks_per_node(); }
};

// A stage whose batch is global (split evenly over ranks): train, supervised, train-gan.
struct BatchSize {
  std::string stage;
  int64_t batch = 0;            // the job's (or the command's default)
  int64_t fitted = 0;           // what the submission uses (== batch unless fitted)
};

// The global batches of the job's stages over `ranks`. A batch that does not split evenly
// (or, for train-gan, into per-rank batches of at most 4 or a multiple of 4) is a ConfigError
// naming the option and the nearest valid values, unless `fit`: then it is raised to the
// next valid value and the returned `fitted` differs (the caller adds --set STAGE.batch=...).
std::vector<BatchSize> size_batches(const std::vector<StageSpec>& stages, const std::vector<JobEntry>& entries, int ranks,
                                    bool fit);

struct Submission {
  SlurmResources resources;
  std::string job_file;                   // absolute
  std::string workdir;                    // absolute
  std::string chdir;                      // the job's working folder (relative paths in the job file)
  std::vector<std::string> run_args;      // after JOB.ini --workdir DIR: --stages, --redo, --sweep ... (not --set)
  std::vector<std::string> overrides;     // the job's --set SECTION.KEY=VALUE (fitted batches are added)
  size_t sweep_values = 0;                // > 0: a job array of this many tasks (run_args hold --sweep)
  std::vector<BatchSize> batches;
  std::string styleseg_home, styleseg_bin;  // absolute
};

// The sbatch script's text.
std::string sbatch_script(const Submission& submission);

// What `styleseg submit` was asked for (the CLI only parses it).
struct SubmitRequest {
  SlurmResources resources;
  std::string job_file;
  RunOptions job;                          // the job file's [run] section, parsed (--workdir included)
  std::vector<std::string> overrides;      // --set SECTION.KEY=VALUE
  std::vector<std::string> stages, redo;   // passed to styleseg run
  std::optional<std::string> generator;    // passed to styleseg run when given
  std::string sweep_spec;                  // "": no job array
  bool fit_batches = false;
  std::string script;                      // "": WORKDIR/submit.sbatch
};

struct WrittenSubmission {
  Submission submission;
  std::string script_path, text;
};

// Checks the request (ConfigError naming the option), plans the job as `styleseg run` will
// see it, sizes its batches over the ranks and writes the executable sbatch script.
WrittenSubmission write_submission(const SubmitRequest& request);

// Submits the script (`sbatch --parsable`, with --wait when `wait`), printing sbatch's
// output; returns its exit code (with `wait`: the job's). ConfigError naming the script when
// there is no sbatch, or when it fails without `wait`.
int run_sbatch(const std::string& script_path, bool wait);

// Single-quoted for bash ('it'\''s').
std::string shell_quote(const std::string& text);

}  // namespace styleseg::pipeline
