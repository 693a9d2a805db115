#include "pipeline/plan.h"

#include <algorithm>

#include "core/error.h"
#include "io/atomic_output.h"

namespace styleseg::pipeline {

WorkdirLayout::WorkdirLayout(std::string dir) : workdir(std::move(dir)) {
  while (workdir.size() > 1 && workdir.back() == '/') workdir.pop_back();
}
std::string WorkdirLayout::path(const std::string& relative) const { return workdir + "/" + relative; }
std::string WorkdirLayout::record(const std::string& stage) const { return path("records/" + stage + ".json"); }
std::string WorkdirLayout::started(const std::string& stage) const { return path("records/" + stage + ".started.json"); }

const std::vector<std::string>& method_stage_names() {
  static const std::vector<std::string> names{
      "make-real-train", "make-real-labelled", "make-real-test", "train-gan",     "cluster",      "name",
      "synthesize",      "train",              "segment-labelled", "map",         "segment-test",
      "evaluate",        "supervised",         "segment-supervised", "evaluate-supervised"};
  return names;
}

std::vector<StageSpec> plan_stages(const RunOptions& o) {
  STYLESEG_CHECK(!o.workdir.empty(), ConfigError, "run: --workdir is required (where every stage writes)");
  STYLESEG_CHECK(o.real == "make-eyes" || o.real == "files", ConfigError,
                 "run: real = '" + o.real + "': expected make-eyes or files");
  const WorkdirLayout w(o.workdir);
  const bool made = o.real == "make-eyes";
  const std::string real_train = made ? w.path("real/train.h5") : o.real_train;
  const std::string labelled = made ? w.path("real/labelled") : o.real_labelled;
  const std::string test = made ? w.path("real/test") : o.real_test;
  const std::string generator = o.generator.empty() ? w.path("gan.pt") : o.generator;
  STYLESEG_CHECK(!generator.empty() && (!o.generator.empty() || !real_train.empty()), ConfigError,
                 "run: no generator: give --generator CHECKPOINT (or real-train images for train-gan to learn from)");

  std::vector<StageSpec> all;
  auto stage = [&](StageSpec s) { all.push_back(std::move(s)); };
  if (made) {
    stage({"make-real-train", "make-eyes", {"make-eyes"},
           {{"out", real_train}, {"grid", w.path("real/train.png")}}, {}, {real_train, w.path("real/train.png")}, ""});
    // The labelled subset is the first images of the training split: the same options
    // (seed, first index, size) with its own count.
    stage({"make-real-labelled", "make-eyes", {"make-real-train", "make-eyes"},
           {{"out", w.path("real/labelled.h5")}, {"png-dir", labelled}}, {}, {w.path("real/labelled.h5"), labelled}, ""});
    stage({"make-real-test", "make-eyes", {"make-eyes"},
           {{"out", w.path("real/test.h5")}, {"png-dir", test}}, {}, {w.path("real/test.h5"), test}, ""});
  }
  if (o.generator.empty())
    stage({"train-gan", "train-gan", {}, {{"data", real_train}, {"out", generator}}, {real_train}, {generator}, generator});
  const std::string clusters = w.path("clusters.h5"), synthetic = w.path("synthetic.h5"), seg = w.path("seg.pt");
  // [features] holds what cluster and synthesize must agree on (layer, size, truncation, noise).
  stage({"cluster", "cluster", {"features"}, {{"checkpoint", generator}, {"out", clusters}, {"preview", w.path("clusters.png")}},
         {generator}, {clusters, w.path("clusters.png")}, partial_path_of(clusters)});
  // name: the clusters file with names (a copy: the cluster stage's output stays as it made
  // it) and the class map merging clusters of one name, which synthesize then applies.
  std::vector<std::pair<std::string, std::string>> synthesize_wired{
      {"checkpoint", generator}, {"clusters", clusters}, {"out", synthetic}, {"grid", w.path("synthetic.png")}};
  std::vector<std::string> synthesize_inputs{generator, clusters};
  if (o.name) {
    const std::string named = w.path("named-clusters.h5"), classes = w.path("classes.txt");
    stage({"name", "name", {"features"},
           {{"checkpoint", generator}, {"clusters", clusters}, {"out", named}, {"merge-file", classes}, {"png", w.path("named.png")}},
           {generator, clusters}, {named, classes, w.path("named.png")}, ""});
    synthesize_wired = {{"checkpoint", generator}, {"clusters", named}, {"merge-file", classes}, {"out", synthetic},
                        {"grid", w.path("synthetic.png")}};
    synthesize_inputs = {generator, named, classes};
  }
  stage({"synthesize", "synthesize", {"features"}, synthesize_wired, synthesize_inputs, {synthetic, w.path("synthetic.png")},
         partial_path_of(synthetic)});
  stage({"train", "train", {}, {{"data", synthetic}, {"out", seg}}, {synthetic}, {seg}, w.path("seg.checkpoint.pt")});
  if (!labelled.empty()) {
    stage({"segment-labelled", "segment", {"segment"},
           {{"model", seg}, {"input", labelled + "/images"}, {"out", w.path("pred/labelled")}},
           {seg, labelled + "/images"}, {w.path("pred/labelled")}, ""});
    stage({"map", "evaluate", {"evaluate"},
           {{"pred", w.path("pred/labelled")}, {"gt", labelled + "/masks"}, {"save-mapping", w.path("mapping.txt")},
            {"out", w.path("map.json")}},
           {w.path("pred/labelled"), labelled + "/masks"}, {w.path("mapping.txt"), w.path("map.json")}, ""});
  }
  if (!test.empty()) {
    stage({"segment-test", "segment", {"segment"}, {{"model", seg}, {"input", test + "/images"}, {"out", w.path("pred/test")}},
           {seg, test + "/images"}, {w.path("pred/test")}, ""});
    if (!labelled.empty())
      stage({"evaluate", "evaluate", {},
             {{"pred", w.path("pred/test")}, {"gt", test + "/masks"}, {"mapping", w.path("mapping.txt")},
              {"out", w.path("evaluation.json")}, {"confusion", w.path("confusion.png")}},
             {w.path("pred/test"), test + "/masks", w.path("mapping.txt")},
             {w.path("evaluation.json"), w.path("confusion.png")}, ""});
    if (!real_train.empty()) {
      const std::string sup = w.path("supervised.pt");
      stage({"supervised", "train", {"train"}, {{"data", real_train}, {"out", sup}}, {real_train}, {sup},
             w.path("supervised.checkpoint.pt")});
      stage({"segment-supervised", "segment", {"segment"},
             {{"model", sup}, {"input", test + "/images"}, {"out", w.path("pred/supervised")}},
             {sup, test + "/images"}, {w.path("pred/supervised")}, ""});
      stage({"evaluate-supervised", "evaluate", {"evaluate"},
             {{"pred", w.path("pred/supervised")}, {"gt", test + "/masks"}, {"mapping", "identity"},
              {"out", w.path("evaluation-supervised.json")}, {"confusion", w.path("confusion-supervised.png")}},
             {w.path("pred/supervised"), test + "/masks"},
             {w.path("evaluation-supervised.json"), w.path("confusion-supervised.png")}, ""});
    }
  }
  if (o.stages.empty()) return all;

  std::vector<StageSpec> chosen;
  for (const auto& name : o.stages) {
    const auto& known = method_stage_names();
    STYLESEG_CHECK(std::find(known.begin(), known.end(), name) != known.end(), ConfigError,
                   "run: stages: unknown stage '" + name + "'");
    const bool planned = std::any_of(all.begin(), all.end(), [&](const StageSpec& s) { return s.name == name; });
    STYLESEG_CHECK(planned, ConfigError,
                   "run: stages: '" + name + "' cannot run in this job (its data or generator is given, or missing)");
  }
  for (auto& s : all)
    if (std::find(o.stages.begin(), o.stages.end(), s.name) != o.stages.end()) chosen.push_back(std::move(s));
  return chosen;
}

}  // namespace styleseg::pipeline
