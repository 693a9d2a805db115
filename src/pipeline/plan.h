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

// One stage: built with named steps, e.g.
//   StageSpec("cluster", "cluster").options_from({"features"}).wire("out", w.clusters())
//       .reads({generator}).makes({w.clusters()}).resumes_from(partial_path_of(w.clusters()))
struct StageSpec {
  StageSpec(std::string name, std::string command) : name(std::move(name)), command(std::move(command)) {}
  // Job-file sections read after [name], first wins.
  StageSpec& options_from(std::vector<std::string> more_sections);
  // An option styleseg run sets (a path of the workdir, usually).
  StageSpec& wire(std::string option, std::string value);
  // Files and folders it reads (they must exist before it runs).
  StageSpec& reads(std::vector<std::string> paths);
  // Files and folders it makes (complete once the stage is recorded).
  StageSpec& makes(std::vector<std::string> paths);
  // Present (and the stage unchanged): it is rerun with --resume, else with --force.
  StageSpec& resumes_from(std::string path);

  std::string name;                  // also the job-file section of this stage's own options
  std::string command;               // the styleseg command it runs
  std::vector<std::string> sections;
  std::vector<std::pair<std::string, std::string>> wired;
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
  std::string resume_file;
};

// Where the stages put things, for the plan, the runner, the report, sweeps and tests: each
// file name of the workdir is written here once.
struct WorkdirLayout {
  explicit WorkdirLayout(std::string workdir);
  std::string path(const std::string& relative) const;  // WORKDIR/relative
  std::string record(const std::string& stage) const;   // WORKDIR/records/STAGE.json
  std::string started(const std::string& stage) const;  // WORKDIR/records/STAGE.started.json
  std::string records() const;                          // WORKDIR/records

  // The procedural real data (real = make-eyes): the training split and its picture, the
  // labelled subset and the test split (files, and folders of images/ and masks/ PNGs).
  std::string real_train() const;
  std::string real_train_picture() const;
  std::string real_labelled_file() const;
  std::string real_labelled() const;
  std::string real_test_file() const;
  std::string real_test() const;

  std::string gan() const;                // the generator train-gan makes
  std::string clusters() const;
  std::string clusters_picture() const;
  std::string named_clusters() const;     // name = true: the clusters with names, ...
  std::string classes() const;            // ... the class map merging clusters of one name, ...
  std::string named_picture() const;      // ... and its picture
  std::string synthetic() const;
  std::string synthetic_picture() const;
  std::string segmenter() const;          // trained on the synthetic dataset
  std::string supervised() const;         // the reference trained on the real training split
  std::string predictions(const std::string& which) const;  // pred/WHICH: labelled, test, supervised
  std::string mapping() const;            // cluster -> class, fitted on the labelled subset
  std::string map_scores() const;         // that fit's scores
  std::string evaluation() const;         // the unsupervised segmenter on the test split
  std::string confusion() const;
  std::string evaluation_supervised() const;
  std::string confusion_supervised() const;
  std::string report_picture(const std::string& what) const;  // report-WHAT.png, drawn by the report
  std::string sweep_file(const std::string& extension) const;  // sweep.EXTENSION: csv, md, png

  std::string workdir;
};

// The stages this job runs, in order. Throws ConfigError naming the option when the job
// asks for a stage its data does not allow, an unknown stage, or a bad `real`.
std::vector<StageSpec> plan_stages(const RunOptions& options);

// Every stage of the method, in order (for --help and errors).
const std::vector<std::string>& method_stage_names();

}  // namespace styleseg::pipeline
