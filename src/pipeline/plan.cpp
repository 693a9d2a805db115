#include "pipeline/plan.h"

#include <algorithm>

#include "core/error.h"
#include "io/atomic_output.h"
#include "stages/train.h"

namespace styleseg::pipeline {

// ---- StageSpec ------------------------------------------------------------------------------

StageSpec& StageSpec::options_from(std::vector<std::string> more_sections) {
  sections.insert(sections.end(), more_sections.begin(), more_sections.end());
  return *this;
}
StageSpec& StageSpec::wire(std::string option, std::string value) {
  wired.emplace_back(std::move(option), std::move(value));
  return *this;
}
StageSpec& StageSpec::reads(std::vector<std::string> paths) {
  inputs.insert(inputs.end(), paths.begin(), paths.end());
  return *this;
}
StageSpec& StageSpec::makes(std::vector<std::string> paths) {
  outputs.insert(outputs.end(), paths.begin(), paths.end());
  return *this;
}
StageSpec& StageSpec::resumes_from(std::string path) {
  resume_file = std::move(path);
  return *this;
}

// ---- WorkdirLayout --------------------------------------------------------------------------

WorkdirLayout::WorkdirLayout(std::string dir) : workdir(std::move(dir)) {
  while (workdir.size() > 1 && workdir.back() == '/') workdir.pop_back();
}
std::string WorkdirLayout::path(const std::string& relative) const { return workdir + "/" + relative; }
std::string WorkdirLayout::records() const { return path("records"); }
std::string WorkdirLayout::record(const std::string& stage) const { return records() + "/" + stage + ".json"; }
std::string WorkdirLayout::started(const std::string& stage) const { return records() + "/" + stage + ".started.json"; }
std::string WorkdirLayout::real_train() const { return path("real/train.h5"); }
std::string WorkdirLayout::real_train_picture() const { return path("real/train.png"); }
std::string WorkdirLayout::real_labelled_file() const { return path("real/labelled.h5"); }
std::string WorkdirLayout::real_labelled() const { return path("real/labelled"); }
std::string WorkdirLayout::real_test_file() const { return path("real/test.h5"); }
std::string WorkdirLayout::real_test() const { return path("real/test"); }
std::string WorkdirLayout::gan() const { return path("gan.pt"); }
std::string WorkdirLayout::clusters() const { return path("clusters.h5"); }
std::string WorkdirLayout::clusters_picture() const { return path("clusters.png"); }
std::string WorkdirLayout::named_clusters() const { return path("named-clusters.h5"); }
std::string WorkdirLayout::classes() const { return path("classes.txt"); }
std::string WorkdirLayout::named_picture() const { return path("named.png"); }
std::string WorkdirLayout::synthetic() const { return path("synthetic.h5"); }
std::string WorkdirLayout::synthetic_picture() const { return path("synthetic.png"); }
std::string WorkdirLayout::segmenter() const { return path("seg.pt"); }
std::string WorkdirLayout::supervised() const { return path("supervised.pt"); }
std::string WorkdirLayout::predictions(const std::string& which) const { return path("pred/" + which); }
std::string WorkdirLayout::mapping() const { return path("mapping.txt"); }
std::string WorkdirLayout::map_scores() const { return path("map.json"); }
std::string WorkdirLayout::evaluation() const { return path("evaluation.json"); }
std::string WorkdirLayout::confusion() const { return path("confusion.png"); }
std::string WorkdirLayout::evaluation_supervised() const { return path("evaluation-supervised.json"); }
std::string WorkdirLayout::confusion_supervised() const { return path("confusion-supervised.png"); }
std::string WorkdirLayout::report_picture(const std::string& what) const { return path("report-" + what + ".png"); }
std::string WorkdirLayout::sweep_file(const std::string& extension) const { return path("sweep." + extension); }

// ---- the plan -------------------------------------------------------------------------------

const std::vector<std::string>& method_stage_names() {
  static const std::vector<std::string> names{
      "make-real-train", "make-real-labelled", "make-real-test", "train-gan",     "cluster",      "name",
      "synthesize",      "train",              "segment-labelled", "map",         "segment-test",
      "evaluate",        "supervised",         "segment-supervised", "evaluate-supervised"};
  return names;
}

namespace {

// The only stages this job runs, in the method's order; every name checked.
std::vector<StageSpec> chosen_stages(std::vector<StageSpec> all, const std::vector<std::string>& wanted) {
  if (wanted.empty()) return all;
  for (const auto& name : wanted) {
    const auto& known = method_stage_names();
    STYLESEG_CHECK(std::find(known.begin(), known.end(), name) != known.end(), ConfigError,
                   "run: stages: unknown stage '" + name + "'");
    const bool planned = std::any_of(all.begin(), all.end(), [&](const StageSpec& s) { return s.name == name; });
    STYLESEG_CHECK(planned, ConfigError,
                   "run: stages: '" + name + "' cannot run in this job (its data or generator is given, or missing)");
  }
  std::vector<StageSpec> chosen;
  for (auto& s : all)
    if (std::find(wanted.begin(), wanted.end(), s.name) != wanted.end()) chosen.push_back(std::move(s));
  return chosen;
}

}  // namespace

std::vector<StageSpec> plan_stages(const RunOptions& o) {
  STYLESEG_CHECK(!o.workdir.empty(), ConfigError, "run: --workdir is required (where every stage writes)");
  STYLESEG_CHECK(o.real == "make-eyes" || o.real == "files", ConfigError,
                 "run: real = '" + o.real + "': expected make-eyes or files");
  const WorkdirLayout w(o.workdir);
  const bool made = o.real == "make-eyes";
  const std::string real_train = made ? w.real_train() : o.real_train;
  const std::string labelled = made ? w.real_labelled() : o.real_labelled;
  const std::string test = made ? w.real_test() : o.real_test;
  const std::string generator = o.generator.empty() ? w.gan() : o.generator;
  STYLESEG_CHECK(!generator.empty() && (!o.generator.empty() || !real_train.empty()), ConfigError,
                 "run: no generator: give --generator CHECKPOINT (or real-train images for train-gan to learn from)");

  std::vector<StageSpec> all;
  if (made) {
    all.push_back(StageSpec("make-real-train", "make-eyes").options_from({"make-eyes"})
                      .wire("out", real_train).wire("grid", w.real_train_picture())
                      .makes({real_train, w.real_train_picture()}));
    // The labelled subset is the first images of the training split: the same options
    // (seed, first index, size) with its own count.
    all.push_back(StageSpec("make-real-labelled", "make-eyes").options_from({"make-real-train", "make-eyes"})
                      .wire("out", w.real_labelled_file()).wire("png-dir", labelled)
                      .makes({w.real_labelled_file(), labelled}));
    all.push_back(StageSpec("make-real-test", "make-eyes").options_from({"make-eyes"})
                      .wire("out", w.real_test_file()).wire("png-dir", test)
                      .makes({w.real_test_file(), test}));
  }
  if (o.generator.empty())
    all.push_back(StageSpec("train-gan", "train-gan").wire("data", real_train).wire("out", generator)
                      .reads({real_train}).makes({generator}).resumes_from(generator));
  // [features] holds what cluster and synthesize must agree on (layer, size, truncation, noise).
  all.push_back(StageSpec("cluster", "cluster").options_from({"features"})
                    .wire("checkpoint", generator).wire("out", w.clusters()).wire("preview", w.clusters_picture())
                    .reads({generator}).makes({w.clusters(), w.clusters_picture()})
                    .resumes_from(partial_path_of(w.clusters())));
  // name: the clusters file with names (a copy: the cluster stage's output stays as it made
  // it) and the class map merging clusters of one name, which synthesize then applies.
  StageSpec synthesize = StageSpec("synthesize", "synthesize").options_from({"features"}).wire("checkpoint", generator);
  if (o.name) {
    all.push_back(StageSpec("name", "name").options_from({"features"})
                      .wire("checkpoint", generator).wire("clusters", w.clusters()).wire("out", w.named_clusters())
                      .wire("merge-file", w.classes()).wire("png", w.named_picture())
                      .reads({generator, w.clusters()}).makes({w.named_clusters(), w.classes(), w.named_picture()}));
    synthesize.wire("clusters", w.named_clusters()).wire("merge-file", w.classes())
        .reads({generator, w.named_clusters(), w.classes()});
  } else {
    synthesize.wire("clusters", w.clusters()).reads({generator, w.clusters()});
  }
  all.push_back(synthesize.wire("out", w.synthetic()).wire("grid", w.synthetic_picture())
                    .makes({w.synthetic(), w.synthetic_picture()}).resumes_from(partial_path_of(w.synthetic())));
  all.push_back(StageSpec("train", "train").wire("data", w.synthetic()).wire("out", w.segmenter())
                    .reads({w.synthetic()}).makes({w.segmenter()}).resumes_from(stages::train_files(w.segmenter()).checkpoint));
  if (!labelled.empty()) {
    all.push_back(StageSpec("segment-labelled", "segment").options_from({"segment"})
                      .wire("model", w.segmenter()).wire("input", labelled + "/images").wire("out", w.predictions("labelled"))
                      .reads({w.segmenter(), labelled + "/images"}).makes({w.predictions("labelled")}));
    all.push_back(StageSpec("map", "evaluate").options_from({"evaluate"})
                      .wire("pred", w.predictions("labelled")).wire("gt", labelled + "/masks")
                      .wire("save-mapping", w.mapping()).wire("out", w.map_scores())
                      .reads({w.predictions("labelled"), labelled + "/masks"}).makes({w.mapping(), w.map_scores()}));
  }
  if (!test.empty()) {
    all.push_back(StageSpec("segment-test", "segment").options_from({"segment"})
                      .wire("model", w.segmenter()).wire("input", test + "/images").wire("out", w.predictions("test"))
                      .reads({w.segmenter(), test + "/images"}).makes({w.predictions("test")}));
    if (!labelled.empty())
      all.push_back(StageSpec("evaluate", "evaluate")
                        .wire("pred", w.predictions("test")).wire("gt", test + "/masks").wire("mapping", w.mapping())
                        .wire("out", w.evaluation()).wire("confusion", w.confusion())
                        .reads({w.predictions("test"), test + "/masks", w.mapping()})
                        .makes({w.evaluation(), w.confusion()}));
    if (!real_train.empty()) {
      all.push_back(StageSpec("supervised", "train").options_from({"train"})
                        .wire("data", real_train).wire("out", w.supervised())
                        .reads({real_train}).makes({w.supervised()}).resumes_from(stages::train_files(w.supervised()).checkpoint));
      all.push_back(StageSpec("segment-supervised", "segment").options_from({"segment"})
                        .wire("model", w.supervised()).wire("input", test + "/images").wire("out", w.predictions("supervised"))
                        .reads({w.supervised(), test + "/images"}).makes({w.predictions("supervised")}));
      all.push_back(StageSpec("evaluate-supervised", "evaluate").options_from({"evaluate"})
                        .wire("pred", w.predictions("supervised")).wire("gt", test + "/masks").wire("mapping", "identity")
                        .wire("out", w.evaluation_supervised()).wire("confusion", w.confusion_supervised())
                        .reads({w.predictions("supervised"), test + "/masks"})
                        .makes({w.evaluation_supervised(), w.confusion_supervised()}));
    }
  }
  return chosen_stages(std::move(all), o.stages);
}

}  // namespace styleseg::pipeline
