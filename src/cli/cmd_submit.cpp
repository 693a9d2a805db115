#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "cli/cli.h"
#include "core/error.h"
#include "core/log.h"
#include "io/atomic_output.h"
#include "pipeline/runner.h"
#include "pipeline/submit.h"
#include "pipeline/sweep.h"

namespace fs = std::filesystem;

namespace styleseg::cli {
namespace {

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

int submit_main(const std::vector<std::string>& args) {
  pipeline::Submission submission;
  pipeline::SlurmResources& r = submission.resources;
  std::string workdir, script, sweep_spec, generator;
  std::vector<std::string> overrides, stages, redo;
  bool fit_batches = false, dry_run = false, wait = false;
  OptionSet set("submit",
                "Writes the sbatch script that runs a job file on Slurm, and submits it (sbatch) unless --dry-run:\n"
                "NODES x GPUS-PER-NODE ranks (one per GPU; on CPU partitions --tasks-per-node), srun --mpi=pmix, USR1\n"
                "--signal-seconds before the time limit so the running stage saves, the job requeues itself and\n"
                "resumes. The global batches of train, supervised and train-gan must split evenly over the ranks\n"
                "(else an error naming valid sizes, or --fit-batches raises them). --sweep makes a job array, one\n"
                "value per task, tabulated in WORKDIR/sweep.md when the last finishes. The job file's [submit]\n"
                "section may hold these options. The script hands over to slurm/run.sbatch (README: Running on a cluster).");
  set.positional("job");
  set.add("workdir", &workdir, "the job's folder (styleseg run --workdir); the script and Slurm logs go there too")
      .add("nodes", &r.nodes, "nodes")
      .add("gpus-per-node", &r.gpus_per_node, "GPUs per node, one rank each (0: CPU partition)")
      .add("tasks-per-node", &r.tasks_per_node, "ranks per node (0: one per GPU, or 1 without GPUs)")
      .add("cpus-per-task", &r.cpus_per_task, "threads per rank (0: 8 with GPUs, else 1)")
      .add("partition", &r.partition, "Slurm partition (empty: the cluster's default)")
      .add("account", &r.account, "Slurm account to charge (empty: your default)")
      .add("time", &r.time, "time limit, Slurm's format (HH:MM:SS, D-HH:MM)")
      .add("job-name", &r.job_name, "Slurm job name (empty: styleseg)")
      .add("signal-seconds", &r.signal_seconds, "seconds before the time limit at which USR1 stops the stage to requeue")
      .add_list("sbatch-option", &r.sbatch_options, "more sbatch options written as #SBATCH lines, e.g. --qos=high")
      .add_list("set", &overrides, "SECTION.KEY=VALUE overrides of the job file, passed to styleseg run")
      .add_list("stages", &stages, "run only these stages (passed to styleseg run)")
      .add_list("redo", &redo, "stages to redo even when up to date (passed to styleseg run)")
      .add_optional("generator", &generator, "generator checkpoint (passed to styleseg run; default: the job's)")
      .add_optional("sweep", &sweep_spec, "SECTION.KEY=V1,V2,...: a job array, one value per task (styleseg run --sweep)")
      .add_flag("fit-batches", &fit_batches, "raise global batches that do not split over the ranks to the next that does")
      .add_optional("script", &script, "where to write the script (default: WORKDIR/submit.sbatch)")
      .add_flag("dry-run", &dry_run, "write the script and print it; do not submit")
      .add_flag("wait", &wait, "submit with sbatch --wait: return when the job ends, with its exit code");
  return run_command(set, args, [&](comm::Communicator&) {
    STYLESEG_CHECK(!set.job_file().empty(), ConfigError, "submit: give the job file: styleseg submit JOB.ini --workdir DIR");
    STYLESEG_CHECK(!workdir.empty(), ConfigError, "submit: --workdir is required (the job's folder on a shared file system)");
    STYLESEG_CHECK(r.nodes >= 1, ConfigError, "submit: --nodes must be >= 1");
    STYLESEG_CHECK(r.gpus_per_node >= 0 && r.tasks_per_node >= 0 && r.cpus_per_task >= 0, ConfigError,
                   "submit: --gpus-per-node, --tasks-per-node and --cpus-per-task must be >= 0");
    STYLESEG_CHECK(r.signal_seconds >= 0, ConfigError, "submit: --signal-seconds must be >= 0");
    STYLESEG_CHECK(!r.time.empty(), ConfigError, "submit: --time must not be empty");

    // The job as `styleseg run` will see it: its [run] section, then these overrides.
    pipeline::RunOptions job;
    OptionSet run_set("run", "");
    add_run_options(run_set, job);
    run_set.parse({set.job_file(), "--workdir", workdir});
    job.set = overrides;
    if (!stages.empty()) job.stages = stages;
    if (set.was_given("generator")) job.generator = generator;
    const auto planned = pipeline::plan_stages(job);
    const auto entries = pipeline::job_entries(set.job_file(), overrides);
    submission.batches = pipeline::size_batches(planned, entries, r.ranks(), fit_batches);
    if (!sweep_spec.empty()) submission.sweep_values = pipeline::parse_sweep(sweep_spec).values.size();

    submission.styleseg_bin = fs::canonical("/proc/self/exe").string();
    if (const char* bin = std::getenv("STYLESEG_BIN"); bin && *bin) submission.styleseg_bin = fs::absolute(bin).string();
    submission.styleseg_home = find_styleseg_home(submission.styleseg_bin);
    submission.job_file = fs::absolute(set.job_file()).string();
    submission.workdir = fs::absolute(workdir).lexically_normal().string();
    submission.chdir = fs::current_path().string();
    submission.overrides = overrides;
    auto add_list = [&](const char* option, const std::vector<std::string>& values) {
      if (values.empty()) return;
      submission.run_args.push_back(option);
      submission.run_args.insert(submission.run_args.end(), values.begin(), values.end());
    };
    add_list("--stages", stages);
    add_list("--redo", redo);
    if (set.was_given("generator")) submission.run_args.insert(submission.run_args.end(), {"--generator", generator});
    if (!sweep_spec.empty()) submission.run_args.insert(submission.run_args.end(), {"--sweep", sweep_spec});

    const std::string path = script.empty() ? submission.workdir + "/submit.sbatch" : script;
    const std::string text = pipeline::sbatch_script(submission);
    write_text_file(path, text);
    fs::permissions(path, fs::perms::owner_exec | fs::perms::group_exec | fs::perms::others_exec, fs::perm_options::add);
    if (dry_run) {
      std::printf("%s", text.c_str());
      log::info("wrote {} ({} ranks); not submitted (--dry-run): sbatch {}", path, r.ranks(), path);
      return 0;
    }
    const std::string command = std::string("sbatch --parsable") + (wait ? " --wait " : " ") + pipeline::shell_quote(path);
    log::info("wrote {} ({} ranks); {}", path, r.ranks(), command);
    const auto [code, out] = run_shell(command);
    if (!out.empty()) std::printf("%s", out.c_str());
    STYLESEG_CHECK(code != 127, ConfigError,
                   "submit: no sbatch on this machine (a Slurm login node has it); the script is " + path +
                       " (--dry-run only writes it)");
    STYLESEG_CHECK(code == 0 || wait, ConfigError,
                   "submit: sbatch failed (exit code " + std::to_string(code) + "); the script is " + path);
    if (wait) log::info("the job ended with exit code {}; logs: {}/slurm-*.out", code, submission.workdir);
    return code;
  });
}

}  // namespace styleseg::cli
