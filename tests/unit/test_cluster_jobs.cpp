// Running on clusters: stop requests (core/stop_request), the sbatch script and batch
// sizing of `styleseg submit` (pipeline/submit), parameter sweeps (pipeline/sweep).
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>

#include "cluster/clusters_file.h"
#include "core/error.h"
#include "core/stop_request.h"
#include "pipeline/submit.h"
#include "pipeline/sweep.h"
#include "support/fixtures.h"

namespace styleseg {
namespace {

namespace fs = std::filesystem;
using pipeline::RunOptions;

TEST(StopRequest, SignalOnAnyRankAndTimeLimitOnRankZero) {
  clear_stop_request();
  install_stop_signal_handler();
  const StopCheck rank0(1e-9, 0), rank1(1e-9, 1), unlimited(0, 0);
  EXPECT_TRUE(rank0.due());       // its time limit passed
  EXPECT_FALSE(rank1.due());      // only rank 0's clock counts: every rank agrees on one
  EXPECT_FALSE(unlimited.due());
  EXPECT_EQ(rank0.reason(), "at --time-limit");
  std::raise(SIGUSR1);            // what Slurm's --signal=USR1@T delivers
  EXPECT_TRUE(stop_signal_received());
  EXPECT_TRUE(rank1.due());
  EXPECT_TRUE(unlimited.due());
  EXPECT_NE(rank1.reason().find("SIGUSR1"), std::string::npos);
  clear_stop_request();
  EXPECT_FALSE(unlimited.due());
}

RunOptions eye_job() {
  RunOptions o;
  o.workdir = "w";
  o.generator = "g.pt";
  return o;
}

TEST(Submit, GlobalBatchesMustSplitOverTheRanksOrAreFitted) {
  const auto stages = pipeline::plan_stages(eye_job());
  const std::vector<JobEntry> entries{{"train", "batch", "16"}, {"supervised", "batch", "12"}};
  // 4 ranks: 16 and 12 split.
  auto sizes = pipeline::size_batches(stages, entries, 4, false);
  ASSERT_EQ(sizes.size(), 2u);  // train and supervised (the generator is given: no train-gan)
  EXPECT_EQ(sizes[0].stage, "train");
  EXPECT_EQ(sizes[0].fitted, 16);
  EXPECT_EQ(sizes[1].stage, "supervised");
  EXPECT_EQ(sizes[1].fitted, 12);
  // 3 ranks: train's 16 does not; the error names the option and the nearest valid sizes.
  try {
    pipeline::size_batches(stages, entries, 3, false);
    ADD_FAILURE() << "16 over 3 ranks was accepted";
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("[train] batch = 16"), std::string::npos) << what;
    EXPECT_NE(what.find("15 or 18"), std::string::npos) << what;
  }
  sizes = pipeline::size_batches(stages, entries, 3, true);
  EXPECT_EQ(sizes[0].fitted, 18);
  EXPECT_EQ(sizes[1].fitted, 12);
  // A stage without a batch option has the command's default (train: 16).
  sizes = pipeline::size_batches(stages, {}, 5, true);
  EXPECT_EQ(sizes[0].batch, 16);
  EXPECT_EQ(sizes[0].fitted, 20);
}

TEST(Submit, TrainGanPerRankBatchesAreAtMostFourOrAMultipleOfFour) {
  RunOptions o = eye_job();
  o.generator.clear();  // train-gan makes it
  o.stages = {"train-gan"};
  const auto stages = pipeline::plan_stages(o);
  const std::vector<JobEntry> entries{{"train-gan", "batch", "12"}};
  EXPECT_NO_THROW(pipeline::size_batches(stages, entries, 3, false));  // 4 per rank
  EXPECT_THROW(pipeline::size_batches(stages, entries, 2, false), ConfigError);  // 6 per rank
  const auto sizes = pipeline::size_batches(stages, entries, 2, true);
  EXPECT_EQ(sizes[0].stage, "train-gan");
  EXPECT_EQ(sizes[0].fitted, 16);  // 8 per rank
}

TEST(Submit, TheScriptAsksForOneRankPerGpuAndHandsOverToRunSbatch) {
  pipeline::Submission s;
  s.resources.nodes = 2;
  s.resources.gpus_per_node = 4;
  s.resources.partition = "gpu";
  s.resources.time = "12:00:00";
  s.resources.sbatch_options = {"--qos=high"};
  s.job_file = "/jobs/ffhq.ini";
  s.workdir = "/lustre/me/ffhq";
  s.chdir = "/home/me";
  s.overrides = {"cluster.clusters=12", "synthesize.count=1000000"};
  s.run_args = {"--stages", "cluster", "synthesize"};
  s.batches = {{"train", 16, 16}, {"supervised", 12, 16}};
  s.styleseg_home = "/opt/styleseg";
  s.styleseg_bin = "/opt/styleseg/build/styleseg";
  const std::string text = pipeline::sbatch_script(s);
  for (const char* line : {"#SBATCH --nodes=2\n", "#SBATCH --ntasks-per-node=4\n", "#SBATCH --gpus-per-task=1\n",
                           "#SBATCH --cpus-per-task=8\n", "#SBATCH --partition=gpu\n", "#SBATCH --time=12:00:00\n",
                           "#SBATCH --signal=USR1@300\n", "#SBATCH --requeue\n", "#SBATCH --chdir=/home/me\n",
                           "#SBATCH --output=/lustre/me/ffhq/slurm-%j.out\n", "#SBATCH --qos=high\n",
                           "# [train] global batch 16 = 2 per rank\n",
                           "exec \"$STYLESEG_HOME/slurm/run.sbatch\" '/jobs/ffhq.ini' --workdir '/lustre/me/ffhq' '--stages' "
                           "'cluster' 'synthesize' --set 'cluster.clusters=12' 'synthesize.count=1000000' 'supervised.batch=16'\n"})
    EXPECT_NE(text.find(line), std::string::npos) << "missing: " << line << "in:\n" << text;
  EXPECT_EQ(text.find("--account"), std::string::npos);  // not given, not written
  EXPECT_EQ(text.find("--array"), std::string::npos);
  // CPU only: no GPU request, one thread per rank unless given; a sweep is an array.
  s.resources.gpus_per_node = 0;
  s.resources.tasks_per_node = 16;
  s.sweep_values = 3;
  const std::string cpu = pipeline::sbatch_script(s);
  EXPECT_EQ(cpu.find("--gpus-per-task"), std::string::npos);
  EXPECT_NE(cpu.find("#SBATCH --ntasks-per-node=16\n#SBATCH --cpus-per-task=1\n"), std::string::npos) << cpu;
  EXPECT_NE(cpu.find("#SBATCH --array=0-2\n"), std::string::npos) << cpu;
  EXPECT_NE(cpu.find("--sweep-index \"$SLURM_ARRAY_TASK_ID\""), std::string::npos) << cpu;
  EXPECT_EQ(pipeline::shell_quote("it's"), "'it'\\''s'");
}

// The request is checked before anything is planned or written, naming the option.
TEST(Submit, ARequestOutsideItsRangesIsAConfigErrorNamingTheOption) {
  pipeline::SubmitRequest q;
  auto message = [&] {
    try {
      pipeline::write_submission(q);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message().find("give the job file"), std::string::npos);
  q.job_file = "job.ini";
  EXPECT_NE(message().find("--workdir is required"), std::string::npos);
  q.job.workdir = test::scratch_dir("submit_request");
  q.resources.nodes = 0;
  EXPECT_NE(message().find("--nodes must be >= 1"), std::string::npos);
  q.resources.nodes = 1;
  q.resources.signal_seconds = -1;
  EXPECT_NE(message().find("--signal-seconds"), std::string::npos);
  q.resources.signal_seconds = 300;
  q.resources.time = "";
  EXPECT_NE(message().find("--time must not be empty"), std::string::npos);
  EXPECT_FALSE(fs::exists(q.job.workdir + "/submit.sbatch"));
}

TEST(Sweep, ParsesValuesAndGivesEachItsFolderAndOverride) {
  const pipeline::Sweep sweep = pipeline::parse_sweep("cluster.clusters=8, 12,16");
  EXPECT_EQ(sweep.option(), "cluster.clusters");
  EXPECT_EQ(sweep.values, (std::vector<std::string>{"8", "12", "16"}));
  RunOptions job = eye_job();
  job.set = {"cluster.clusters=4", "train.steps=10"};
  const RunOptions point = pipeline::sweep_point(job, sweep, 1);
  EXPECT_EQ(point.workdir, "w/cluster.clusters=12");
  EXPECT_EQ(point.set.back(), "cluster.clusters=12");  // after the job's own: it wins
  for (const char* bad : {"clusters=8", "cluster.clusters", "cluster.clusters=", "cluster.clusters=8,8", "cluster.x=a/b", ".k=1"})
    EXPECT_THROW(pipeline::parse_sweep(bad), ConfigError) << bad;
}

TEST(Sweep, TheTableListsEachValuesInertiaAndPixelSharesLargestFirst) {
  const fs::path dir = fs::temp_directory_path() / ("styleseg_sweep_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  RunOptions job = eye_job();
  job.workdir = dir.string();
  const pipeline::Sweep sweep = pipeline::parse_sweep("cluster.clusters=2,3,5");
  for (size_t i = 0; i < 2; ++i) {  // value 5 never ran
    cluster::Clusters c;
    const int64_t k = i == 0 ? 2 : 3;
    c.centroids = at::zeros({k, 4});
    c.counts = i == 0 ? at::tensor({30, 70}, at::kLong) : at::tensor({20, 50, 30}, at::kLong);
    c.inertia = i == 0 ? 50.0 : 30.0;
    c.fixed_vectors = 100;
    c.iterations = 7;
    fs::create_directories(sweep.point_workdir(job.workdir, i));
    cluster::write_clusters(sweep.point_workdir(job.workdir, i) + "/clusters.h5", c);
  }
  EXPECT_FALSE(pipeline::sweep_point_complete(job, sweep, 0));  // no stage records
  const std::string md = pipeline::write_sweep_table(job, sweep);
  EXPECT_NE(md.find("| 2 | 2 | 50 | 0.5 | 7 | 1:70.0%, 0:30.0% |"), std::string::npos) << md;
  EXPECT_NE(md.find("| 3 | 3 | 30 | 0.3 | 7 | 1:50.0%, 2:30.0%, 0:20.0% |"), std::string::npos) << md;
  EXPECT_NE(md.find("| 5 | (no clusters.h5) |"), std::string::npos) << md;
  std::ifstream csv(dir / "sweep.csv");
  std::string header;
  std::getline(csv, header);
  EXPECT_EQ(header, "cluster.clusters,clusters,inertia,inertia_per_vector,iterations,converged,pixel_shares");
  EXPECT_GT(fs::file_size(dir / "sweep.png"), 1000u);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace styleseg
