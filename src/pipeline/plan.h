// The method as a list of stages: which styleseg command each runs, which job-file sections
// hold its options, which paths in the workdir it reads and writes. `styleseg run` executes
// this list (pipeline/runner.h); the report reads what it made (pipeline/report.h).
//
// The stages, in order (WORKDIR = W):
//   make-real-train     make-eyes   real training split           W/real/train.h5
//   make-real-labelled  make-eyes   its first N images, as PNGs   W/real/labelled/{images,masks}
//   make-real-test      make-eyes   the test split                W/real/test/{images,masks}
//   train-gan           train-gan   the generator (unless given)  W/gan.pt
//   cluster             cluster     k-means of layer features     W/clusters.h5
//   name (name = true)  name        CLIP names the clusters       W/named-clusters.h5, W/classes.txt
//   synthesize          synthesize  samples with cluster masks    W/synthetic.h5 (named: clusters of one
//                                   name merged into one class)
//   train               train       the segmenter on them         W/seg.pt
//   segment-labelled    segment     its clusters on the labelled  W/pred/labelled
//   map                 evaluate    cluster -> class, fitted there W/mapping.txt
//   segment-test        segment     its clusters on the test split W/pred/test
//   evaluate            evaluate    scored with that mapping      W/evaluation.json
//   supervised          train       same segmenter and budget on the real training split
//   segment-supervised  segment     ...on the test split          W/pred/supervised
//   evaluate-supervised evaluate    scored as it is               W/evaluation-supervised.json
// With real = files the three make-real stages are replaced by the user's data; stages whose
// data is missing are left out (no test split: no evaluation; no real training split: no
// train-gan, no supervised reference).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace styleseg::pipeline {

// The [run] section of a job file.
struct RunOptions {
  std::string workdir;
  std::vector<std::string> stages;   // a subset to run (empty: all that the job's data allows)
  std::string generator;             // a generator checkpoint; empty: train-gan makes one
  std::string real = "make-eyes";    // make-eyes (the procedural eyes) or files (given below)
  std::string real_train;            // dataset .h5 (images and masks, the dataset layout)
  std::string real_labelled;         // folder with images/ and masks/ (PNG, same names)
  std::string real_test;             // folder with images/ and masks/
  bool name = false;                 // stage name: CLIP names the clusters ([name]: clip, vocab, prompts)
  std::vector<std::string> set;      // "section.key=value" overrides of the job file
  std::vector<std::string> redo;     // stages to redo even when up to date
  std::string report = "report.html";
};

struct StageSpec {
  std::string name;                  // also the job-file section of this stage's own options
  std::string command;               // the styleseg command it runs
  std::vector<std::string> sections; // sections read after [name], first wins
  std::vector<std::pair<std::string, std::string>> wired;  // options styleseg run sets (paths)
  std::vector<std::string> inputs;   // files and folders it reads
  std::vector<std::string> outputs;  // files and folders it makes (complete once recorded)
  std::string resume_file;           // present (and the stage unchanged): rerun with --resume, else --force
};

// Where the stages put things, for the runner, the report and tests.
struct WorkdirLayout {
  explicit WorkdirLayout(std::string workdir);
  std::string path(const std::string& relative) const;  // WORKDIR/relative
  std::string record(const std::string& stage) const;   // WORKDIR/records/STAGE.json
  std::string started(const std::string& stage) const;  // WORKDIR/records/STAGE.started.json
  std::string workdir;
};

// The stages this job runs, in order. Throws ConfigError naming the option when the job
// asks for a stage its data does not allow, an unknown stage, or a bad `real`.
std::vector<StageSpec> plan_stages(const RunOptions& options);

// Every stage of the method, in order (for --help and errors).
const std::vector<std::string>& method_stage_names();

}  // namespace styleseg::pipeline
