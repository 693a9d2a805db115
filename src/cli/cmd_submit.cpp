#include <cstdio>

#include "cli/cli.h"
#include "core/log.h"
#include "pipeline/submit.h"

namespace styleseg::cli {

int submit_main(const std::vector<std::string>& args) {
  pipeline::SubmitRequest q;
  pipeline::SlurmResources& r = q.resources;
  std::string workdir, generator;
  bool dry_run = false, wait = false;
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
      .add_list("set", &q.overrides, "SECTION.KEY=VALUE overrides of the job file, passed to styleseg run")
      .add_list("stages", &q.stages, "run only these stages (passed to styleseg run)")
      .add_list("redo", &q.redo, "stages to redo even when up to date (passed to styleseg run)")
      .add_optional("generator", &generator, "generator checkpoint (passed to styleseg run; default: the job's)")
      .add_optional("sweep", &q.sweep_spec, "SECTION.KEY=V1,V2,...: a job array, one value per task (styleseg run --sweep)")
      .add_flag("fit-batches", &q.fit_batches, "raise global batches that do not split over the ranks to the next that does")
      .add_optional("script", &q.script, "where to write the script (default: WORKDIR/submit.sbatch)")
      .add_flag("dry-run", &dry_run, "write the script and print it; do not submit")
      .add_flag("wait", &wait, "submit with sbatch --wait: return when the job ends, with its exit code");
  return run_command(set, args, [&](comm::Communicator&) {
    q.job_file = set.job_file();
    if (set.was_given("generator")) q.generator = generator;
    if (!q.job_file.empty() && !workdir.empty()) {  // the job's [run] section, as `styleseg run` reads it
      OptionSet run_set("run", "");
      add_run_options(run_set, q.job);
      run_set.parse({q.job_file, "--workdir", workdir});
    }
    const pipeline::WrittenSubmission written = pipeline::write_submission(q);
    if (dry_run) {
      std::printf("%s", written.text.c_str());
      log::info("wrote {} ({} ranks); not submitted (--dry-run): sbatch {}", written.script_path, r.ranks(), written.script_path);
      return 0;
    }
    log::info("wrote {} ({} ranks)", written.script_path, r.ranks());
    const int code = pipeline::run_sbatch(written.script_path, wait);
    if (wait) log::info("the job ended with exit code {}; logs: {}/slurm-*.out", code, written.submission.workdir);
    return code;
  });
}

}  // namespace styleseg::cli
