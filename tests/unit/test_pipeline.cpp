// styleseg run's bookkeeping without running the real stages: which arguments a stage gets,
// which stages a job has, content hashes, and the runner's skip / redo / resume decisions
// driven through a fake command runner that writes each stage's outputs from its arguments.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <ATen/ATen.h>

#include "core/error.h"
#include "io/atomic_output.h"
#include "io/image.h"
#include "mpi/local_communicator.h"
#include "pipeline/plan.h"
#include "pipeline/report.h"
#include "pipeline/runner.h"
#include "pipeline/stage_record.h"
#include "stages/train.h"
#include "support/fixtures.h"

namespace fs = std::filesystem;

namespace styleseg::pipeline {
namespace {

void write(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << text;
}

std::vector<std::string> names(const std::vector<StageSpec>& stages) {
  std::vector<std::string> out;
  for (const auto& s : stages) out.push_back(s.name);
  return out;
}

StageSpec stage_named(const std::vector<StageSpec>& stages, const std::string& name) {
  for (const auto& s : stages)
    if (s.name == name) return s;
  throw std::runtime_error("no stage " + name);
}

TEST(Pipeline, Base64MatchesRfc4648Vectors) {
  EXPECT_EQ(base64(""), "");
  EXPECT_EQ(base64("f"), "Zg==");
  EXPECT_EQ(base64("fo"), "Zm8=");
  EXPECT_EQ(base64("foo"), "Zm9v");
  EXPECT_EQ(base64("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64(std::string("\xff\x00\x10", 3)), "/wAQ");
}

TEST(Pipeline, TheEyeJobHasEveryStageAndAGivenGeneratorDropsTrainGan) {
  RunOptions o;
  o.workdir = "w";
  std::vector<std::string> without_name = method_stage_names();
  without_name.erase(std::find(without_name.begin(), without_name.end(), "name"));
  EXPECT_EQ(names(plan_stages(o)), without_name);
  o.generator = "g.pt";
  auto stages = plan_stages(o);
  EXPECT_EQ(stages.size(), without_name.size() - 1);
  EXPECT_EQ(stage_named(stages, "cluster").inputs, (std::vector<std::string>{"g.pt"}));
  // The labelled subset is the training split's first images: its options come after its own.
  EXPECT_EQ(stage_named(stages, "make-real-labelled").sections, (std::vector<std::string>{"make-real-train", "make-eyes"}));
  // Given data: no test split, no evaluation; no training split, no supervised reference.
  o.real = "files";
  o.real_labelled = "lab";
  EXPECT_EQ(names(plan_stages(o)), (std::vector<std::string>{"cluster", "synthesize", "train", "segment-labelled", "map"}));
  o.real_test = "test";
  EXPECT_EQ(names(plan_stages(o)).back(), "evaluate");
  o.stages = {"supervised"};
  EXPECT_THROW(plan_stages(o), ConfigError);  // no training split given
  o.stages = {"clustr"};
  EXPECT_THROW(plan_stages(o), ConfigError);
  o.stages = {"train", "cluster"};
  EXPECT_EQ(names(plan_stages(o)), (std::vector<std::string>{"cluster", "train"}));  // method order
  o.generator.clear();
  EXPECT_THROW(plan_stages(o), ConfigError);  // nothing to train a generator on
}

// The plan names each file through the layout and the stages' own naming, so the runner,
// the report and the stages agree: what one stage makes is what the next one reads, and a
// stage resumes from the file its command keeps for --resume.
TEST(Pipeline, StagesReadWhatTheLayoutNamesAndResumeFromTheirCommandsFiles) {
  RunOptions o;
  o.workdir = "w/";
  const WorkdirLayout w(o.workdir);
  const auto stages = plan_stages(o);
  EXPECT_EQ(w.clusters(), "w/clusters.h5");
  EXPECT_EQ(w.record("train"), "w/records/train.json");
  EXPECT_EQ(stage_named(stages, "cluster").outputs.front(), w.clusters());
  EXPECT_EQ(stage_named(stages, "cluster").resume_file, partial_path_of(w.clusters()));
  EXPECT_EQ(stage_named(stages, "synthesize").inputs, (std::vector<std::string>{w.gan(), w.clusters()}));
  EXPECT_EQ(stage_named(stages, "train").inputs, (std::vector<std::string>{w.synthetic()}));
  stages::TrainOptions seg;
  seg.out = w.segmenter();
  EXPECT_EQ(stage_named(stages, "train").resume_file, stages::train_files(seg).checkpoint);
  EXPECT_EQ(stage_named(stages, "train").resume_file, "w/seg.checkpoint.pt");
  EXPECT_EQ(stage_named(stages, "train-gan").resume_file, w.gan());
  EXPECT_EQ(stage_named(stages, "evaluate").inputs.back(), w.mapping());
  EXPECT_EQ(stage_named(stages, "map").outputs, (std::vector<std::string>{w.mapping(), w.map_scores()}));
  EXPECT_EQ(stage_named(stages, "segment-supervised").inputs.front(), w.supervised());
}

// name = true: CLIP names the clusters into a copy, and synthesize reads that copy and the
// class map it wrote (clusters of one name merged).
TEST(Pipeline, NamingPutsTheNameStageBeforeSynthesizeAndFeedsItsClassMap) {
  RunOptions o;
  o.workdir = "w";
  o.generator = "g.pt";
  o.name = true;
  const auto stages = plan_stages(o);
  std::vector<std::string> expected = method_stage_names();
  expected.erase(std::find(expected.begin(), expected.end(), "train-gan"));  // the generator is given
  EXPECT_EQ(names(stages), expected);
  const StageSpec name = stage_named(stages, "name");
  EXPECT_EQ(name.inputs, (std::vector<std::string>{"g.pt", "w/clusters.h5"}));
  EXPECT_EQ(name.outputs, (std::vector<std::string>{"w/named-clusters.h5", "w/classes.txt", "w/named.png"}));
  const StageSpec synthesize = stage_named(stages, "synthesize");
  EXPECT_EQ(synthesize.inputs, (std::vector<std::string>{"g.pt", "w/named-clusters.h5", "w/classes.txt"}));
  const auto args = stage_arguments(synthesize, {{"features", "truncation", "0.7"}});
  EXPECT_NE(std::find(args.begin(), args.end(), "--merge-file=w/classes.txt"), args.end());
  EXPECT_NE(std::find(args.begin(), args.end(), "--clusters=w/named-clusters.h5"), args.end());
  // The job's own [name] options follow the wired paths; the CLIP model is the job's to give.
  const auto name_args = stage_arguments(name, {{"name", "clip", "RN50.pt"}, {"features", "truncation", "0.7"}});
  EXPECT_NE(std::find(name_args.begin(), name_args.end(), "--clip=RN50.pt"), name_args.end());
  EXPECT_NE(std::find(name_args.begin(), name_args.end(), "--truncation=0.7"), name_args.end());
}

TEST(Pipeline, StageArgumentsAreWiredPathsThenTheFirstSectionThatSetsEachOption) {
  RunOptions o;
  o.workdir = "w";
  o.generator = "g.pt";
  const StageSpec labelled = stage_named(plan_stages(o), "make-real-labelled");
  const std::vector<JobEntry> entries{{"make-real-labelled", "count", "50"},
                                      {"make-real-train", "count", "20000"},
                                      {"make-real-train", "first-index", "7"},
                                      {"make-eyes", "size", "64"},
                                      {"make-eyes", "first-index", "0"},
                                      {"cluster", "clusters", "16"}};
  EXPECT_EQ(stage_arguments(labelled, entries),
            (std::vector<std::string>{"--out=w/real/labelled.h5", "--png-dir=w/real/labelled", "--count=50", "--first-index=7",
                                      "--size=64"}));
  // A section may not set a path the runner owns.
  EXPECT_THROW(stage_arguments(labelled, {{"make-eyes", "out", "elsewhere.h5"}}), ConfigError);
  // Several values of one option in one section stay together (list options).
  const StageSpec segment = stage_named(plan_stages(o), "segment-test");
  EXPECT_EQ(stage_arguments(segment, {{"segment", "batch", "4"}, {"segment", "batch", "8"}}).size(), 5u);
}

TEST(Pipeline, OverridesComeFirstAndAMisspeltSectionIsAnError) {
  const std::string dir = test::scratch_dir("pipeline_entries");
  write(dir + "/job.ini", "[cluster]\nclusters = 16\n[train]\nsteps = 10\n");
  const auto entries = job_entries(dir + "/job.ini", {"cluster.clusters=8"});
  ASSERT_EQ(entries.size(), 2u);  // the file's clusters = 16 is replaced
  EXPECT_EQ(entries[0].value, "8");
  EXPECT_EQ(entries[1].key, "steps");
  EXPECT_THROW(job_entries(dir + "/job.ini", {"clusters=8"}), ConfigError);
  const auto twice = job_entries(dir + "/job.ini", {"train.steps=5", "train.steps=7"});  // the last one wins
  ASSERT_EQ(twice.size(), 2u);
  EXPECT_EQ(twice[0].value, "7");
  write(dir + "/typo.ini", "[clustr]\nclusters = 16\n");
  try {
    job_entries(dir + "/typo.ini", {});
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("[clustr] clusters"), std::string::npos) << e.what();
  }
}

TEST(Pipeline, FolderHashesFollowContentNotListingOrder) {
  const std::string dir = test::scratch_dir("pipeline_hash");
  write(dir + "/a/x.txt", "one");
  write(dir + "/a/sub/y.txt", "two");
  write(dir + "/b/sub/y.txt", "two");
  write(dir + "/b/x.txt", "one");
  EXPECT_EQ(content_hash(dir + "/a"), content_hash(dir + "/b"));
  write(dir + "/b/x.txt", "One");
  EXPECT_NE(content_hash(dir + "/a"), content_hash(dir + "/b"));
  // A stamp survives a touch that keeps the content, not a change of it.
  const OutputStamp stamp = stamp_output(dir + "/a");
  EXPECT_TRUE(output_unchanged(stamp));
  fs::last_write_time(dir + "/a/x.txt", fs::last_write_time(dir + "/a/x.txt") + std::chrono::seconds(5));
  EXPECT_TRUE(output_unchanged(stamp));
  write(dir + "/a/x.txt", "six");  // same size, other content, edited later
  fs::last_write_time(dir + "/a/x.txt", fs::last_write_time(dir + "/a/x.txt") + std::chrono::seconds(10));
  EXPECT_FALSE(output_unchanged(stamp));
  EXPECT_THROW(content_hash(dir + "/none"), InputError);
}

// A stand-in for the styleseg commands: writes every output option's file with the
// command's arguments as content (so outputs change exactly when options or inputs do),
// and counts the calls per stage output.
struct FakeCommands {
  std::map<std::string, int> calls;                      // by --out value
  std::map<std::string, std::vector<std::string>> args_of;  // by --out value, the last call's
  std::string fail_on;                                   // a command whose call returns 1...
  std::string fail_leaves;                               // ...after writing this file
  int operator()(const std::string& command, const std::vector<std::string>& args) {
    std::string out, text = command;
    for (const auto& a : args) {
      if (a.rfind("--out=", 0) == 0) out = a.substr(6);
      if (a != "--force" && a != "--resume") text += " " + a;
    }
    ++calls[out];
    args_of[out] = args;
    if (command == fail_on) {
      write(fail_leaves, "half way");
      return 1;
    }
    for (const auto& a : args) {
      for (const char* key : {"--out=", "--grid=", "--preview=", "--save-mapping=", "--confusion="}) {
        if (a.rfind(key, 0) != 0) continue;
        const std::string path = a.substr(std::string(key).size());
        if (command == "segment") write(path + "/x.png", text);
        else write(path, text);
      }
      if (a.rfind("--png-dir=", 0) == 0) write(a.substr(10) + "/images/x.png", text), write(a.substr(10) + "/masks/x.png", text);
    }
    return 0;
  }
};

int total(const FakeCommands& f) {
  int n = 0;
  for (const auto& [out, count] : f.calls) n += count;
  return n;
}

// A job in `dir`: the given job file text, a given generator, workdir dir/w.
RunSettings job_in(const std::string& dir, const std::string& job_text) {
  write(dir + "/g.pt", "generator");
  write(dir + "/job.ini", job_text);
  RunSettings settings;
  settings.job_file = dir + "/job.ini";
  settings.options.workdir = dir + "/w";
  settings.options.generator = dir + "/g.pt";
  return settings;
}

TEST(Pipeline, ASecondRunSkipsEverythingAndAChangedOptionRedoesOnlyWhatDependsOnIt) {
  const std::string dir = test::scratch_dir("pipeline_run");
  RunSettings settings = job_in(dir, "[cluster]\nclusters = 16\n[train]\nsteps = 10\n");
  settings.common_args = {"--threads=1"};
  comm::LocalCommunicator comm;
  FakeCommands fake;
  auto runner = [&](const std::string& c, const std::vector<std::string>& a) { return fake(c, a); };
  ASSERT_EQ(run_job(settings, comm, runner), 0);
  const int stages = static_cast<int>(method_stage_names().size()) - 2;  // no train-gan, no name
  EXPECT_EQ(total(fake), stages);
  EXPECT_TRUE(fs::exists(dir + "/w/report.html"));
  EXPECT_TRUE(fs::exists(dir + "/w/records/cluster.json"));

  fake.calls.clear();
  ASSERT_EQ(run_job(settings, comm, runner), 0);
  EXPECT_EQ(total(fake), 0) << "every stage was up to date";

  // Threads change speed, not results: still up to date; so does a stage's own speed-only
  // option (core/option_roles.h).
  settings.common_args = {"--threads=2"};
  ASSERT_EQ(run_job(settings, comm, runner), 0);
  EXPECT_EQ(total(fake), 0);
  settings.options.set = {"cluster.cache-mb=64"};
  ASSERT_EQ(run_job(settings, comm, runner), 0);
  EXPECT_EQ(total(fake), 0);
  settings.options.set = {};

  // The segmenter's options: train and what reads seg.pt run again; the real data, the
  // clusters and the synthetic set do not. The supervised reference reads [train] too.
  settings.options.set = {"train.steps=20"};
  ASSERT_EQ(run_job(settings, comm, runner), 0);
  EXPECT_EQ(fake.calls.count(dir + "/w/clusters.h5"), 0u);
  EXPECT_EQ(fake.calls.count(dir + "/w/synthetic.h5"), 0u);
  EXPECT_EQ(fake.calls.count(dir + "/w/real/test.h5"), 0u);
  EXPECT_EQ(fake.calls[dir + "/w/seg.pt"], 1);
  EXPECT_EQ(fake.calls[dir + "/w/supervised.pt"], 1);
  EXPECT_EQ(fake.calls[dir + "/w/evaluation.json"], 1);

  // A changed input file (the generator) redoes cluster and everything after it.
  fake.calls.clear();
  write(dir + "/g.pt", "another generator");
  ASSERT_EQ(run_job(settings, comm, runner), 0);
  EXPECT_EQ(fake.calls[dir + "/w/clusters.h5"], 1);
  EXPECT_EQ(fake.calls[dir + "/w/seg.pt"], 1);
  EXPECT_EQ(fake.calls.count(dir + "/w/supervised.pt"), 0u);  // does not read the generator

  // A damaged output is made again.
  fake.calls.clear();
  write(dir + "/w/map.json", "edited by hand");
  ASSERT_EQ(run_job(settings, comm, runner), 0);
  EXPECT_EQ(fake.calls[dir + "/w/map.json"], 1);
  EXPECT_EQ(total(fake), 1) << "map's outputs came out as before, so evaluate stayed up to date";
}

TEST(Pipeline, AFailedStageStopsTheJobAndTheNextRunResumesIt) {
  const std::string dir = test::scratch_dir("pipeline_fail");
  RunSettings settings = job_in(dir, "[train]\nsteps = 10\n");
  comm::LocalCommunicator comm;
  FakeCommands fake;
  fake.fail_on = "train";
  fake.fail_leaves = dir + "/w/seg.checkpoint.pt";
  auto runner = [&](const std::string& c, const std::vector<std::string>& a) { return fake(c, a); };
  // train writes its checkpoint before failing: the next run continues it with --resume.
  EXPECT_EQ(run_job(settings, comm, runner), 1);
  EXPECT_EQ(fake.args_of[dir + "/w/seg.pt"].back(), "--force");
  EXPECT_FALSE(fs::exists(dir + "/w/records/train.json"));
  EXPECT_FALSE(fs::exists(dir + "/w/report.html"));
  EXPECT_EQ(fake.calls.count(dir + "/w/pred/test"), 0u) << "no stage after the failed one ran";
  fake.fail_on.clear();
  fake.calls.clear();
  ASSERT_EQ(run_job(settings, comm, runner), 0);
  EXPECT_EQ(fake.calls[dir + "/w/seg.pt"], 1);
  EXPECT_EQ(fake.args_of[dir + "/w/seg.pt"].back(), "--resume");
  EXPECT_EQ(fake.calls.count(dir + "/w/clusters.h5"), 0u);
  // --redo starts a stage afresh (--force), even when up to date.
  settings.options.redo = {"train"};
  fake.calls.clear();
  ASSERT_EQ(run_job(settings, comm, runner), 0);
  EXPECT_EQ(fake.calls[dir + "/w/seg.pt"], 1);
  EXPECT_EQ(fake.args_of[dir + "/w/seg.pt"].back(), "--force");
  EXPECT_FALSE(fs::exists(dir + "/w/seg.checkpoint.pt")) << "a stage redone afresh starts without its old checkpoint";
}

}  // namespace
}  // namespace styleseg::pipeline

namespace styleseg::pipeline {
namespace {

TEST(PipelineReport, ScoresTablesAndPredictionsOfLargeImagesAtPreviewSize) {
  const std::string dir = test::scratch_dir("pipeline_report");
  RunOptions o;
  o.workdir = dir + "/w";
  o.generator = dir + "/g.pt";
  const WorkdirLayout w(o.workdir);
  // One 512x512 test image: ground truth left half class 1, prediction label 3 (-> class 1).
  at::Tensor mask = at::zeros({512, 512, 1}, at::kByte);
  mask.slice(1, 0, 256).fill_(1);
  write_png(w.path("real/test/images/a.png"), at::full({512, 512, 3}, 90, at::kByte));
  write_png(w.path("real/test/masks/a.png"), mask);
  write_png(w.path("pred/test/a.png"), mask * 3);
  write_png(w.path("pred/supervised/a.png"), mask);
  const std::string scores = R"({"classes": 2, "class_names": ["background", "sclera"], "images": 1, "mean_iou": 0.5,
                                  "iou": [0.4, 0.6]})";
  write(w.path("evaluation.json"), scores);
  write(w.path("evaluation-supervised.json"), R"({"classes": 2, "images": 1, "mean_iou": 0.8, "iou": [0.75, 0.85]})");
  write(w.path("map.json"), R"({"images": 50, "mapping": [0, 0, 0, 1], "mapping_method": "majority", "mean_iou": 0.7})");
  write_report({o, plan_stages(o), "job.ini"}, w.path("report.html"));
  std::ifstream in(w.path("report.html"));
  const std::string html((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(html.find("ratio <b>0.625</b>"), std::string::npos);            // 0.5 / 0.8
  EXPECT_NE(html.find("Fitted on 50 labelled real images"), std::string::npos);
  EXPECT_NE(html.find("<td>sclera</td><td>0.600</td><td>0.850</td>"), std::string::npos);
  // The 512-pixel image is shown at 128: a header, one row of 4 tiles, the legend.
  const at::Tensor picture = read_image(w.path("report-predictions.png"));
  EXPECT_EQ(picture.size(1), 4 * (128 + 4));
  EXPECT_LT(picture.size(0), 400);
  // Unsupervised tile: label 3 mapped to class 1 gives the same colours as the ground truth.
  const int64_t row = 20 + 64;
  EXPECT_TRUE(at::equal(picture[row].slice(0, 132, 260), picture[row].slice(0, 264, 392)));
}

}  // namespace
}  // namespace styleseg::pipeline
