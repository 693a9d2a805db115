// Scores on hand-made masks against a hand computation; the Hungarian mapping recovers a
// known permutation; the evaluate stage end to end on PNG folders.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "evaluate/metrics.h"
#include "io/image.h"
#include "stages/evaluate.h"
#include "support/fixtures.h"

namespace styleseg::evaluate {
namespace {

at::Tensor grid(std::vector<int64_t> values, int64_t h, int64_t w) { return at::tensor(values, at::kLong).reshape({h, w}); }

TEST(Metrics, ScoresMatchAHandComputation) {
  // gt:   0 0 1 1     pred: 0 1 1 1      ignore (255) in the last pixel
  //       2 2 2 255         2 2 0 0
  Confusion c(3, 3);
  c.add(grid({0, 1, 1, 1, 2, 2, 0, 0}, 2, 4), grid({0, 0, 1, 1, 2, 2, 2, 255}, 2, 4));
  // counts[gt][pred]: gt0 -> {0:1, 1:1}; gt1 -> {1:2}; gt2 -> {2:2, 0:1}
  EXPECT_TRUE(at::equal(c.counts(), at::tensor({1, 1, 0, 0, 2, 0, 1, 0, 2}, at::kLong).reshape({3, 3})));
  const Scores s = score(c.counts(), {0, 1, 2});
  // class 0: TP 1, FP 1 (gt2 predicted 0), FN 1 -> 1/3; class 1: TP 2, FP 1, FN 0 -> 2/3;
  // class 2: TP 2, FP 0, FN 1 -> 2/3. mIoU 5/9, accuracy 5/7.
  EXPECT_NEAR(s.iou[0], 1.0 / 3, 1e-12);
  EXPECT_NEAR(s.iou[1], 2.0 / 3, 1e-12);
  EXPECT_NEAR(s.iou[2], 2.0 / 3, 1e-12);
  EXPECT_NEAR(s.mean_iou, 5.0 / 9, 1e-12);
  EXPECT_NEAR(s.pixel_accuracy, 5.0 / 7, 1e-12);
}

TEST(Metrics, UnmatchedLabelsCountAsWrongAndAbsentClassesAreLeftOut) {
  Confusion c(3, 4);
  c.add(grid({0, 3, 1, 1}, 1, 4), grid({0, 0, 1, 1}, 1, 4));  // class 2 absent everywhere
  const Scores s = score(c.counts(), {0, 1, -1, -1});
  EXPECT_NEAR(s.iou[0], 0.5, 1e-12);  // the pixel labelled 3 is a miss
  EXPECT_EQ(s.iou[1], 1.0);
  EXPECT_TRUE(std::isnan(s.iou[2]));
  EXPECT_NEAR(s.mean_iou, 0.75, 1e-12);
  EXPECT_NEAR(s.pixel_accuracy, 0.75, 1e-12);
}

TEST(Metrics, HungarianRecoversAKnownPermutation) {
  at::manual_seed(0);
  const std::vector<int64_t> permutation{3, 0, 4, 1, 2, 5};  // label l shows class permutation[l]
  const at::Tensor gt = at::randint(0, 6, {64, 64}, at::kLong);
  at::Tensor pred = at::empty_like(gt);
  for (int64_t label = 0; label < 6; ++label) pred.masked_fill_(gt == permutation[static_cast<size_t>(label)], label);
  // 10 % noise: the mapping must still be the permutation.
  const at::Tensor noise = at::rand({64, 64}) < 0.1;
  pred = at::where(noise, at::randint(0, 6, {64, 64}, at::kLong), pred);
  Confusion c(6, 8);  // two extra labels never used
  c.add(pred, gt);
  const std::vector<int64_t> mapping = hungarian_mapping(c.counts());
  for (int64_t label = 0; label < 6; ++label) EXPECT_EQ(mapping[static_cast<size_t>(label)], permutation[static_cast<size_t>(label)]);
  EXPECT_GT(score(c.counts(), mapping).mean_iou, 0.8);
}

TEST(Metrics, HungarianMaximisesTotalOverlapNotEachLabelsBest) {
  // Greedy per label would send both labels to class 0; one-to-one maximises 9 + 8.
  const at::Tensor counts = at::tensor({10, 9, 8, 0}, at::kLong).reshape({2, 2});  // [class][label]
  const auto mapping = hungarian_mapping(counts);
  EXPECT_EQ(mapping, (std::vector<int64_t>{1, 0}));
}

TEST(Metrics, MajorityMapsEveryLabelToItsLargestClassManyToOne) {
  // [class][label]: labels 0 and 2 both belong to class 1 (one-to-one could take only one),
  // label 3 has no pixels.
  const at::Tensor counts = at::tensor({1, 7, 0, 0, 9, 2, 5, 0}, at::kLong).reshape({2, 4});
  EXPECT_EQ(majority_mapping(counts), (std::vector<int64_t>{1, 0, 1, -1}));
  EXPECT_EQ(hungarian_mapping(counts), (std::vector<int64_t>{1, 0, -1, -1}));
  // Majority scores at least as well as one-to-one whenever labels outnumber classes.
  EXPECT_GT(score(counts, majority_mapping(counts)).mean_iou, score(counts, hungarian_mapping(counts)).mean_iou);
}

TEST(EvaluateStage, AMappingFittedOnOneSetIsSavedAndAppliedToAnother) {
  const std::string dir = test::scratch_dir("evaluate_saved_mapping");
  // Labelled subset: labels 0 and 1 are both class 0, label 2 is class 1.
  write_png(dir + "/lab/gt/a.png", grid({0, 0, 0, 1}, 1, 4).to(at::kByte).unsqueeze(2).contiguous());
  write_png(dir + "/lab/pred/a.png", grid({0, 1, 1, 2}, 1, 4).to(at::kByte).unsqueeze(2).contiguous());
  stages::EvaluateOptions fit;
  fit.pred = dir + "/lab/pred";
  fit.gt = dir + "/lab/gt";
  fit.mapping = "majority";
  fit.save_mapping = dir + "/mapping.txt";
  EXPECT_EQ(stages::run_evaluate(fit).pixel_accuracy, 1.0);
  // Test split: the saved mapping is applied as it is, not refitted (refitting would map
  // label 2 to class 0 here and score 1.0).
  write_png(dir + "/test/gt/a.png", grid({0, 0, 0, 0}, 1, 4).to(at::kByte).unsqueeze(2).contiguous());
  write_png(dir + "/test/pred/a.png", grid({0, 1, 2, 2}, 1, 4).to(at::kByte).unsqueeze(2).contiguous());
  stages::EvaluateOptions test_split;
  test_split.pred = dir + "/test/pred";
  test_split.gt = dir + "/test/gt";
  test_split.mapping = fit.save_mapping;
  test_split.classes = 2;
  EXPECT_EQ(stages::run_evaluate(test_split).pixel_accuracy, 0.5);
  // Predictions that never use some labels of the mapping (here label 2) are scored all the same.
  write_png(dir + "/test/pred/a.png", grid({0, 1, 1, 1}, 1, 4).to(at::kByte).unsqueeze(2).contiguous());
  EXPECT_EQ(stages::run_evaluate(test_split).pixel_accuracy, 1.0);
}

// A mapping file that maps nothing (empty, comments only, or bytes that are no 'LABEL CLASS'
// line) is an InputError naming the file, not a score of 0.
TEST(EvaluateStage, AMappingFileWithoutMappingsIsAnInputError) {
  const std::string dir = test::scratch_dir("evaluate_bad_mapping");
  write_png(dir + "/gt/a.png", grid({0, 1, 1, 0}, 1, 4).to(at::kByte).unsqueeze(2).contiguous());
  write_png(dir + "/pred/a.png", grid({0, 1, 1, 0}, 1, 4).to(at::kByte).unsqueeze(2).contiguous());
  stages::EvaluateOptions o;
  o.pred = dir + "/pred";
  o.gt = dir + "/gt";
  o.classes = 2;
  const std::vector<std::pair<std::string, std::string>> cases{
      {"", "holds no 'LABEL CLASS' line"},
      {"# only a comment\n\n", "holds no 'LABEL CLASS' line"},
      {"\x8f\x01\xfe garbage\n0 1\n", ":1: expected 'LABEL CLASS'"},
      {"0 1 7\n", ":1: expected 'LABEL CLASS'"}};
  for (size_t i = 0; i < cases.size(); ++i) {
    o.mapping = dir + "/mapping" + std::to_string(i) + ".txt";
    std::ofstream(o.mapping) << cases[i].first;
    try {
      stages::run_evaluate(o);
      ADD_FAILURE() << "accepted: '" << cases[i].first << "'";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(o.mapping), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(cases[i].second), std::string::npos) << e.what();
    }
  }
  std::ofstream(o.mapping) << "# fitted elsewhere\n0 0\n1 1\n";
  EXPECT_EQ(stages::run_evaluate(o).mean_iou, 1.0);
}

TEST(EvaluateStage, FoldersOfPngsGiveTheScoresAndAReport) {
  const std::string dir = test::scratch_dir("evaluate");
  const at::Tensor gt = grid({0, 0, 1, 1, 2, 2, 2, 255}, 2, 4).to(at::kByte);
  const at::Tensor pred = grid({5, 7, 7, 7, 6, 6, 5, 5}, 2, 4).to(at::kByte);  // labels 5, 7, 6 = classes 0, 1, 2
  write_png(dir + "/gt/a.png", gt.unsqueeze(2).contiguous());
  write_png(dir + "/pred/a.png", pred.unsqueeze(2).contiguous());
  stages::EvaluateOptions o;
  o.pred = dir + "/pred";
  o.gt = dir + "/gt";
  o.out = dir + "/report.json";
  o.confusion = dir + "/confusion.png";
  const auto summary = stages::run_evaluate(o);
  EXPECT_NEAR(summary.mean_iou, 5.0 / 9, 1e-12);
  std::ifstream in(o.out);
  const nlohmann::json report = nlohmann::json::parse(in);
  EXPECT_EQ(report["mapping"][5], 0);
  EXPECT_EQ(report["mapping"][7], 1);
  EXPECT_EQ(report["mapping"][6], 2);
  EXPECT_EQ(read_image(o.confusion).size(0), 3 * 24);
  // A ground truth without its prediction is named.
  o.force = true;  // the report of the first run exists
  write_png(dir + "/gt/b.png", gt.unsqueeze(2).contiguous());
  try {
    stages::run_evaluate(o);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("no prediction for 1 ground-truth mask(s), e.g. b.png"), std::string::npos) << e.what();
  }
}

TEST(EvaluateStage, CelebAMaskHqPresetMergesLeftAndRightAndDropsJewellery) {
  const std::string dir = test::scratch_dir("evaluate_merge");
  // gt: background, l_eye, r_eye, earring, cloth; prediction in merged class indices.
  write_png(dir + "/gt/a.png", grid({0, 4, 5, 15, 18}, 1, 5).to(at::kByte).unsqueeze(2).contiguous());
  write_png(dir + "/pred/a.png", grid({0, 4, 4, 7, 13}, 1, 5).to(at::kByte).unsqueeze(2).contiguous());
  stages::EvaluateOptions o;
  o.pred = dir + "/pred";
  o.gt = dir + "/gt";
  o.mapping = "identity";
  o.labels = 14;
  o.merge = "celebamask-hq";
  o.out = dir + "/report.json";
  const auto summary = stages::run_evaluate(o);
  EXPECT_EQ(summary.pixel_accuracy, 1.0);  // the earring pixel is not scored
  std::ifstream in(o.out);
  const nlohmann::json report = nlohmann::json::parse(in);
  EXPECT_EQ(report["classes"], 14);
  EXPECT_EQ(report["class_names"][4], "eyes");
  EXPECT_EQ(report["class_names"][13], "cloth");
  o.merge = "0:bg;300:x";  // class-map text works too; an index no mask can hold is refused
  o.force = true;
  EXPECT_THROW(stages::run_evaluate(o), ConfigError);
}

TEST(EvaluateStage, CelebAMask8PresetHasEightClassesWithLipsInTheMouthAndClothInTheBackground) {
  const std::string dir = test::scratch_dir("evaluate_mask8");
  // gt: cloth, skin, l_eye, r_brow, u_lip, l_lip, hair, eyeglasses
  write_png(dir + "/gt/a.png", grid({18, 1, 4, 7, 11, 12, 13, 3}, 1, 8).to(at::kByte).unsqueeze(2).contiguous());
  // prediction in the 8 classes: background, skin, eyes, brows, mouth, mouth, hair, then skin (wrong)
  write_png(dir + "/pred/a.png", grid({0, 1, 2, 3, 6, 6, 7, 1}, 1, 8).to(at::kByte).unsqueeze(2).contiguous());
  stages::EvaluateOptions o;
  o.pred = dir + "/pred";
  o.gt = dir + "/gt";
  o.mapping = "identity";
  o.labels = 8;
  o.merge = "celeba-mask8";
  o.out = dir + "/report.json";
  const auto summary = stages::run_evaluate(o);
  EXPECT_NEAR(summary.pixel_accuracy, 7.0 / 8, 1e-12);  // only the eyeglasses pixel (background) is wrong
  std::ifstream in(o.out);
  const nlohmann::json report = nlohmann::json::parse(in);
  EXPECT_EQ(report["classes"], 8);
  EXPECT_EQ(report["class_names"], (std::vector<std::string>{"background", "skin", "eyes", "brows", "ears", "nose", "mouth", "hair"}));
}

}  // namespace
}  // namespace styleseg::evaluate
