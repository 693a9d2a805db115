#include "pipeline/submit.h"

#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>

#include "core/error.h"
#include "core/log.h"
#include "io/atomic_output.h"
#include "pipeline/runner.h"
#include "pipeline/sweep.h"
#include "stages/train.h"
#include "stages/train_gan.h"

namespace styleseg::pipeline {
namespace {

// The command's default global batch when the job does not set one.
int64_t default_batch(const std::string& command) {
  return command == "train-gan" ? stages::TrainGanOptions{}.batch : stages::TrainOptions{}.batch;
}

// Whether `batch` splits over `ranks` as the command needs (train: evenly).
bool splits(const std::string& command, int64_t batch, int ranks) {
  return command == "train-gan" ? stages::gan_batch_splits(batch, ranks) : batch % ranks == 0;
}

int64_t next_valid(const std::string& command, int64_t batch, int ranks) {
  int64_t b = std::max<int64_t>(batch, ranks);
  while (!splits(command, b, ranks)) ++b;
  return b;
}

int64_t previous_valid(const std::string& command, int64_t batch, int ranks) {
  for (int64_t b = batch; b >= ranks; --b)
    if (splits(command, b, ranks)) return b;
  return 0;
}

std::string sbatch_line_if_set(const std::string& option, const std::string& value) {
  return value.empty() ? "" : "#SBATCH --" + option + "=" + value + "\n";
}

}  // namespace

int SlurmResources::ranks_per_node() const {
  if (tasks_per_node > 0) return tasks_per_node;
  return gpus_per_node > 0 ? gpus_per_node : 1;
}

std::vector<BatchSize> size_batches(const std::vector<StageSpec>& stages, const std::vector<JobEntry>& entries, int ranks,
                                    bool fit) {
  std::vector<BatchSize> sizes;
  for (const StageSpec& stage : stages) {
    if (stage.command != "train" && stage.command != "train-gan") continue;
    BatchSize size{stage.name, default_batch(stage.command), 0};
    for (const std::string& token : stage_arguments(stage, entries)) {
      if (token.rfind("--batch=", 0) != 0) continue;
      char* end = nullptr;
      size.batch = std::strtoll(token.c_str() + 8, &end, 10);
      STYLESEG_CHECK(end && *end == '\0' && size.batch > 0, ConfigError,
                     "[" + stage.name + "] batch = '" + token.substr(8) + "': expected a positive whole number");
    }
    size.fitted = size.batch;
    if (!splits(stage.command, size.batch, ranks)) {
      const int64_t up = next_valid(stage.command, size.batch, ranks), down = previous_valid(stage.command, size.batch, ranks);
      STYLESEG_CHECK(fit, ConfigError,
                     "[" + stage.name + "] batch = " + std::to_string(size.batch) + " does not split over " + std::to_string(ranks) +
                         " ranks" + (stage.command == "train-gan" ? " (per rank: at most 4 or a multiple of 4)" : "") +
                         ": use " + (down > 0 ? std::to_string(down) + " or " : "") + std::to_string(up) + " (--set " +
                         stage.name + ".batch=" + std::to_string(up) + "), or --fit-batches to raise it (results then differ "
                         "from the job as written)");
      size.fitted = up;
    }
    sizes.push_back(size);
  }
  return sizes;
}

std::string shell_quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string sbatch_script(const Submission& s) {
  const SlurmResources& r = s.resources;
  const bool gpus = r.gpus_per_node > 0;
  const int cpus = r.cpus_per_task > 0 ? r.cpus_per_task : (gpus ? 8 : 1);
  char date[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));

  std::string text = "#!/bin/bash\n";
  text += "# Written by `styleseg submit` on " + std::string(date) + ": " + s.job_file + "\n";
  text += "# on " + std::to_string(r.nodes) + " node(s) x " + std::to_string(r.ranks_per_node()) + " rank(s) = " +
          std::to_string(r.ranks()) + " ranks" + (gpus ? ", one GPU each" : ", CPU only") + ", " + std::to_string(cpus) +
          " thread(s) per rank.\n";
  if (s.sweep_values > 0)
    text += "# A job array: task I runs value I of the sweep; the last task to finish writes WORKDIR/sweep.{md,csv,png}.\n";
  for (const BatchSize& b : s.batches)
    text += "# [" + b.stage + "] global batch " + std::to_string(b.fitted) + " = " + std::to_string(b.fitted / r.ranks()) +
            " per rank" + (b.fitted != b.batch ? " (raised from " + std::to_string(b.batch) + " by --fit-batches)" : "") + "\n";
  text += "# Stopped by USR1 " + std::to_string(r.signal_seconds) +
          " s before the time limit (or preempted), the job saves, requeues itself and resumes.\n";
  text += "#SBATCH --job-name=" + (r.job_name.empty() ? std::string("styleseg") : r.job_name) + "\n";
  text += "#SBATCH --nodes=" + std::to_string(r.nodes) + "\n";
  text += "#SBATCH --ntasks-per-node=" + std::to_string(r.ranks_per_node()) + "\n";
  if (gpus) text += "#SBATCH --gpus-per-task=1\n";
  text += "#SBATCH --cpus-per-task=" + std::to_string(cpus) + "\n";
  text += "#SBATCH --time=" + r.time + "\n";
  text += sbatch_line_if_set("partition", r.partition) + sbatch_line_if_set("account", r.account);
  text += "#SBATCH --signal=USR1@" + std::to_string(r.signal_seconds) + "\n";
  text += "#SBATCH --requeue\n#SBATCH --open-mode=append\n";
  text += "#SBATCH --chdir=" + s.chdir + "\n";
  if (s.sweep_values > 0) {
    text += "#SBATCH --array=0-" + std::to_string(s.sweep_values - 1) + "\n";
    text += "#SBATCH --output=" + s.workdir + "/slurm-%A_%a.out\n";
  } else {
    text += "#SBATCH --output=" + s.workdir + "/slurm-%j.out\n";
  }
  for (const std::string& option : r.sbatch_options) text += "#SBATCH " + option + "\n";
  text += "set -euo pipefail\n";
  text += "export STYLESEG_HOME=" + shell_quote(s.styleseg_home) + "\n";
  text += "export STYLESEG_BIN=" + shell_quote(s.styleseg_bin) + "\n";
  text += "exec \"$STYLESEG_HOME/slurm/run.sbatch\" " + shell_quote(s.job_file) + " --workdir " + shell_quote(s.workdir);
  for (const std::string& arg : s.run_args) text += " " + shell_quote(arg);
  // One --set with every override (a list option takes one occurrence).
  std::vector<std::string> overrides = s.overrides;
  for (const BatchSize& b : s.batches)
    if (b.fitted != b.batch) overrides.push_back(b.stage + ".batch=" + std::to_string(b.fitted));
  if (!overrides.empty()) text += " --set";
  for (const std::string& o : overrides) text += " " + shell_quote(o);
  if (s.sweep_values > 0) text += " --sweep-index \"$SLURM_ARRAY_TASK_ID\"";
  return text + "\n";
}

namespace {

namespace fs = std::filesystem;

void check_resources(const SlurmResources& r) {
  STYLESEG_CHECK(r.nodes >= 1, ConfigError, "submit: --nodes must be >= 1");
  STYLESEG_CHECK(r.gpus_per_node >= 0 && r.tasks_per_node >= 0 && r.cpus_per_task >= 0, ConfigError,
                 "submit: --gpus-per-node, --tasks-per-node and --cpus-per-task must be >= 0");
  STYLESEG_CHECK(r.signal_seconds >= 0, ConfigError, "submit: --signal-seconds must be >= 0");
  STYLESEG_CHECK(!r.time.empty(), ConfigError, "submit: --time must not be empty");
}

// The styleseg folder (slurm/lib/styleseg.sh): $STYLESEG_HOME, else the folder above the
// running binary's (build/styleseg).
std::string find_styleseg_home(const std::string& binary) {
  const char* env = std::getenv("STYLESEG_HOME");
  const fs::path home = env && *env ? fs::path(env) : fs::path(binary).parent_path().parent_path();
  STYLESEG_CHECK(fs::exists(home / "slurm/lib/styleseg.sh"), ConfigError,
                 "submit: no slurm/lib/styleseg.sh under " + home.string() +
                     (env && *env ? " ($STYLESEG_HOME)" : " (the folder above the styleseg binary)") +
                     ": set STYLESEG_HOME to the styleseg folder");
  return fs::canonical(home).string();
}

// The arguments of `styleseg run` after JOB.ini --workdir DIR.
std::vector<std::string> run_arguments(const SubmitRequest& q) {
  std::vector<std::string> args;
  auto add_list = [&](const char* option, const std::vector<std::string>& values) {
    if (values.empty()) return;
    args.push_back(option);
    args.insert(args.end(), values.begin(), values.end());
  };
  add_list("--stages", q.stages);
  add_list("--redo", q.redo);
  if (q.generator) args.insert(args.end(), {"--generator", *q.generator});
  if (!q.sweep_spec.empty()) args.insert(args.end(), {"--sweep", q.sweep_spec});
  return args;
}

// Runs `command` through the shell; returns its exit status and its standard output.
std::pair<int, std::string> run_shell(const std::string& command) {
  std::FILE* pipe = popen(command.c_str(), "r");
  STYLESEG_CHECK(pipe, ConfigError, "submit: cannot run '" + command + "'");
  std::string out;
  std::array<char, 256> buffer{};
  while (std::fgets(buffer.data(), buffer.size(), pipe)) out += buffer.data();
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 1, out};
}

}  // namespace

WrittenSubmission write_submission(const SubmitRequest& q) {
  STYLESEG_CHECK(!q.job_file.empty(), ConfigError, "submit: give the job file: styleseg submit JOB.ini --workdir DIR");
  STYLESEG_CHECK(!q.job.workdir.empty(), ConfigError, "submit: --workdir is required (the job's folder on a shared file system)");
  check_resources(q.resources);

  // The job as `styleseg run` will see it: its [run] section, then the overrides.
  RunOptions job = q.job;
  job.set = q.overrides;
  if (!q.stages.empty()) job.stages = q.stages;
  if (q.generator) job.generator = *q.generator;
  WrittenSubmission w;
  Submission& s = w.submission;
  s.resources = q.resources;
  s.batches = size_batches(plan_stages(job), job_entries(q.job_file, q.overrides), q.resources.ranks(), q.fit_batches);
  if (!q.sweep_spec.empty()) s.sweep_values = parse_sweep(q.sweep_spec).values.size();
  s.styleseg_bin = fs::canonical("/proc/self/exe").string();
  if (const char* bin = std::getenv("STYLESEG_BIN"); bin && *bin) s.styleseg_bin = fs::absolute(bin).string();
  s.styleseg_home = find_styleseg_home(s.styleseg_bin);
  s.job_file = fs::absolute(q.job_file).string();
  s.workdir = fs::absolute(q.job.workdir).lexically_normal().string();
  s.chdir = fs::current_path().string();
  s.overrides = q.overrides;
  s.run_args = run_arguments(q);

  w.script_path = q.script.empty() ? s.workdir + "/submit.sbatch" : q.script;
  w.text = sbatch_script(s);
  write_text_file(w.script_path, w.text);
  fs::permissions(w.script_path, fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec, fs::perm_options::add);
  return w;
}

int run_sbatch(const std::string& script_path, bool wait) {
  const std::string command = std::string("sbatch --parsable") + (wait ? " --wait " : " ") + shell_quote(script_path);
  log::info("{}", command);
  const auto [code, out] = run_shell(command);
  if (!out.empty()) std::printf("%s", out.c_str());
  STYLESEG_CHECK(code != 127, ConfigError,
                 "submit: no sbatch on this machine (a Slurm login node has it); the script is " + script_path +
                     " (--dry-run only writes it)");
  STYLESEG_CHECK(code == 0 || wait, ConfigError,
                 "submit: sbatch failed (exit code " + std::to_string(code) + "); the script is " + script_path);
  return code;
}

}  // namespace styleseg::pipeline
