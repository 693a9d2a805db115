#include <cstdio>

#include "cli/cli.h"
#include "core/error.h"
#include "mpi/communicator.h"
#include "pipeline/runner.h"
#include "pipeline/sweep.h"

namespace styleseg::cli {

void add_run_options(OptionSet& set, pipeline::RunOptions& o) {
  set.positional("job");
  set.add("workdir", &o.workdir, "folder of every stage's outputs and records (required)")
      .add_list("stages", &o.stages, "run only these stages (their inputs must exist)")
      .add("generator", &o.generator, "generator checkpoint to use (empty: stage train-gan trains one)")
      .add("real", &o.real, "real images: make-eyes (procedural eyes, made by the job) or files (below)")
      .add("real-train", &o.real_train, "with real = files: training split, a dataset .h5 with masks")
      .add("real-labelled", &o.real_labelled, "with real = files: folder with images/ and masks/ (the labelled subset)")
      .add("real-test", &o.real_test, "with real = files: folder with images/ and masks/ (the test split)")
      .add_flag("name", &o.name, "stage name: CLIP names the clusters ([name] gives clip, vocab, prompts)")
      .add_list("set", &o.set, "SECTION.KEY=VALUE overrides of the job file (several allowed)")
      .add_list("redo", &o.redo, "stages to redo even when up to date")
      .add("report", &o.report, "report file name in WORKDIR");
}

int run_main(const std::vector<std::string>& args) {
  pipeline::RunSettings settings;
  pipeline::RunOptions& o = settings.options;
  std::string sweep_spec;
  int sweep_index = -1;
  OptionSet set("run",
                "Runs the whole method as one restartable job: the stages of the job file in order (make-eyes real\n"
                "splits, train-gan or a given generator, cluster, synthesize, train, segment and map on a labelled\n"
                "subset, segment and evaluate the test split, the supervised reference), each stage's outputs in\n"
                "WORKDIR with a record of its options and input hashes. A second run skips every stage that is up to\n"
                "date and redoes those whose inputs or options changed; a stage stopped at its time limit resumes.\n"
                "Ends with WORKDIR/report.html. Options of the stages come from the job file's sections ([cluster],\n"
                "[train], ...; [features] for what cluster and synthesize share); --set overrides them.\n"
                "With name = true, CLIP names the clusters ([name]: clip, vocab, prompts) and synthesize merges\n"
                "clusters of one name into one class.\n"
                "Stages: make-real-train make-real-labelled make-real-test train-gan cluster name synthesize train\n"
                "segment-labelled map segment-test evaluate supervised segment-supervised evaluate-supervised.");
  add_run_options(set, o);
  set.add_optional("sweep", &sweep_spec,
                    "SECTION.KEY=V1,V2,...: run the job once per value in WORKDIR/SECTION.KEY=VALUE, then tabulate "
                    "inertia, pixel shares and mIoU in WORKDIR/sweep.{md,csv,png}")
      .add("sweep-index", &sweep_index, "run only value I of --sweep (a Slurm array task: $SLURM_ARRAY_TASK_ID; -1: all)");
  return run_command(set, args, [&](comm::Communicator& comm) {
    STYLESEG_CHECK(!set.job_file().empty(), ConfigError, "run: give the job file: styleseg run JOB.ini --workdir DIR");
    settings.job_file = set.job_file();
    // Every stage runs with this run's process settings; they change speed and the last bits
    // of float32 results (README "Determinism"), not what a stage computes.
    const nlohmann::json values = set.to_json();
    for (const std::string& name : process_options()) {
      if (!set.was_given(name)) continue;
      const auto& v = values[name];
      if (v.is_boolean()) {  // a switch (--log-all-ranks)
        if (v.get<bool>()) settings.common_args.push_back("--" + name);
        continue;
      }
      settings.common_args.push_back("--" + name + "=" + (v.is_string() ? v.get<std::string>() : v.dump()));
    }
    const pipeline::CommandRunner run_command = [](const std::string& command, const std::vector<std::string>& command_args) {
      return command_named(command).run(command_args);
    };
    settings.check_options = check_command_options;
    STYLESEG_CHECK(sweep_index == -1 || !sweep_spec.empty(), ConfigError, "run: --sweep-index needs --sweep");
    if (sweep_spec.empty()) return pipeline::run_job(settings, comm, run_command);
    STYLESEG_CHECK(sweep_index >= -1, ConfigError, "run: --sweep-index must be >= 0 (or -1: every value)");
    return pipeline::run_sweep(settings, pipeline::parse_sweep(sweep_spec), sweep_index, comm, run_command);
  });
}

}  // namespace styleseg::cli
