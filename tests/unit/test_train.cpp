// Segmenter training on one rank: the optimisers against their formulas, a toy supervised
// run that must learn, checkpoints and resume (bitwise), refusals, bf16 autocast.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/device.h"
#include "core/error.h"
#include "dataset/dataset_file.h"
#include "mpi/local_communicator.h"
#include "models/segmenter/model_file.h"
#include "stages/train.h"
#include "support/fixtures.h"
#include "support/toy_shapes.h"
#include "train/metrics_log.h"
#include "train/optimizer.h"

namespace styleseg::train {
namespace {

TEST(Optimizer, AdamFollowsItsFormula) {
  at::Tensor p = at::tensor({1.0, -2.0}, at::kDouble).requires_grad_(true);
  Optimizer adam({p}, {OptimizerKind::Adam, 0.1, 0.9, 0.999, 1e-8, 0.9});
  double m[2] = {0, 0}, v[2] = {0, 0}, x[2] = {1.0, -2.0};
  const double grads[3][2] = {{0.5, -1.0}, {0.25, 2.0}, {-1.0, 0.125}};
  for (int t = 1; t <= 3; ++t) {
    p.mutable_grad() = at::tensor({grads[t - 1][0], grads[t - 1][1]}, at::kDouble);
    adam.step(0.01);
    for (int i = 0; i < 2; ++i) {
      const double g = grads[t - 1][i] + 0.1 * x[i];
      m[i] = 0.9 * m[i] + 0.1 * g;
      v[i] = 0.999 * v[i] + 0.001 * g * g;
      const double m_hat = m[i] / (1 - std::pow(0.9, t)), v_hat = v[i] / (1 - std::pow(0.999, t));
      x[i] -= 0.01 * m_hat / (std::sqrt(v_hat) + 1e-8);
    }
    EXPECT_NEAR(p[0].item<double>(), x[0], 1e-12) << "step " << t;
    EXPECT_NEAR(p[1].item<double>(), x[1], 1e-12) << "step " << t;
  }
}

TEST(Optimizer, SgdMomentumFollowsItsFormula) {
  at::Tensor p = at::tensor({3.0}, at::kDouble).requires_grad_(true);
  Optimizer sgd({p}, {OptimizerKind::Sgd, 0.0, 0.9, 0.999, 1e-8, 0.5});
  double x = 3.0, buffer = 0;
  for (int t = 1; t <= 3; ++t) {
    const double g = 2 * x;  // gradient of x^2
    p.mutable_grad() = at::tensor({g}, at::kDouble);
    sgd.step(0.1);
    buffer = t == 1 ? g : 0.5 * buffer + g;
    x -= 0.1 * buffer;
    EXPECT_NEAR(p.item<double>(), x, 1e-12);
  }
}

TEST(Optimizer, RestoredStateContinuesIdentically) {
  at::manual_seed(1);
  const at::Tensor start = at::randn({4, 3});
  const std::vector<at::Tensor> grads{at::randn({4, 3}), at::randn({4, 3}), at::randn({4, 3}), at::randn({4, 3})};
  at::Tensor a = start.clone().requires_grad_(true), b = start.clone().requires_grad_(true);
  Optimizer first({a}, {}), second({b}, {});
  for (int t = 0; t < 2; ++t) {
    a.mutable_grad() = grads[t].clone();
    first.step(1e-2);
    b.mutable_grad() = grads[t].clone();
    second.step(1e-2);
  }
  Optimizer restored({b}, {});
  restored.load_state(second.state(), "test");
  EXPECT_EQ(restored.steps(), 2);
  for (int t = 2; t < 4; ++t) {
    a.mutable_grad() = grads[t].clone();
    first.step(1e-2);
    b.mutable_grad() = grads[t].clone();
    restored.step(1e-2);
  }
  EXPECT_TRUE(at::equal(a, b));
  Optimizer sgd({b}, {OptimizerKind::Sgd});
  EXPECT_THROW(sgd.load_state(second.state(), "ckpt.pt"), InputError);
  EXPECT_THROW(parse_name<OptimizerKind>("adamw", "--optimizer"), ConfigError);
}

TEST(Optimizer, PolyScheduleDecaysToZero) {
  EXPECT_DOUBLE_EQ(poly_learning_rate(1e-4, 0, 100), 1e-4);
  EXPECT_NEAR(poly_learning_rate(1e-4, 50, 100), 1e-4 * std::pow(0.5, 0.9), 1e-18);
  EXPECT_DOUBLE_EQ(poly_learning_rate(1e-4, 100, 100), 0.0);
}

TEST(Autocast, ScopeRunsConvolutionsInBfloat16AndRestores) {
  STYLESEG_SKIP_IF_EMULATED_ISA_LACKS_BFLOAT16();
  const at::Tensor x = at::randn({1, 3, 8, 8}), w = at::randn({4, 3, 3, 3});
  {
    AutocastScope scope(c10::Device(c10::kCPU), at::kBFloat16);
    EXPECT_EQ(at::conv2d(x, w).scalar_type(), at::kBFloat16);
  }
  EXPECT_EQ(at::conv2d(x, w).scalar_type(), at::kFloat);
  AutocastScope none(c10::Device(c10::kCPU), at::kFloat);
  EXPECT_EQ(at::conv2d(x, w).scalar_type(), at::kFloat);
}

// ---- the training stage ----

stages::TrainOptions toy_options(const std::string& dir, const std::string& data) {
  stages::TrainOptions o;
  o.data = data;
  o.out = dir + "/seg.pt";
  o.batch = 4;
  o.steps = 6;
  o.val_count = 8;
  o.val_every = 3;
  o.checkpoint_every = 2;
  o.device = "cpu";
  o.seed = 5;
  return o;
}

std::vector<double> losses(const std::string& metrics) {
  std::vector<double> out;
  for (const auto& r : MetricsLog::read(metrics))
    if (r.contains("loss")) out.push_back(r["loss"].get<double>());
  return out;
}

TEST(Train, ResumedRunEndsWithBitwiseEqualWeights) {
  const std::string dir = test::scratch_dir("train_resume");
  const std::string data = test::write_toy_dataset(dir + "/toy.h5", 40, 32, 3);
  comm::LocalCommunicator comm;

  stages::TrainOptions whole = toy_options(dir + "/whole", data);
  const stages::TrainSummary full = stages::train(whole, comm, {{"lr", whole.lr}});
  EXPECT_TRUE(full.complete);
  EXPECT_EQ(full.steps_done, 6);

  stages::TrainOptions parts = toy_options(dir + "/parts", data);
  parts.time_limit = 1e-9;  // stops (with a checkpoint) after the first step
  const stages::TrainSummary first = stages::train(parts, comm, {{"lr", parts.lr}});
  EXPECT_FALSE(first.complete);
  EXPECT_EQ(first.steps_done, 1);
  EXPECT_FALSE(std::filesystem::exists(parts.out));
  parts.time_limit = 0;
  parts.resume = true;
  parts.phase_times = true;  // only observes: the same weights
  const stages::TrainSummary second = stages::train(parts, comm, {{"lr", parts.lr}});
  EXPECT_TRUE(second.complete);

  const auto a = segmenter::load_model(whole.out), b = segmenter::load_model(parts.out);
  const auto sa = a.net.state(), sb = b.net.state();
  ASSERT_EQ(sa.size(), sb.size());
  for (size_t i = 0; i < sa.size(); ++i) EXPECT_TRUE(at::equal(sa[i].second, sb[i].second)) << sa[i].first;
  EXPECT_EQ(a.info.provenance["weights_sha256"], b.info.provenance["weights_sha256"]);
  // The metrics file of the resumed run tells the same story, step for step.
  EXPECT_EQ(losses(dir + "/whole/seg.metrics.jsonl"), losses(dir + "/parts/seg.metrics.jsonl"));
  EXPECT_EQ(losses(dir + "/parts/seg.metrics.jsonl").size(), 6u);
  EXPECT_TRUE(std::filesystem::exists(dir + "/parts/seg.curves.png"));
  EXPECT_EQ(a.info.classes, (std::vector<std::string>{"background", "disc", "square"}));
  EXPECT_EQ(a.info.input_height, 32);
  EXPECT_EQ(a.info.input_width, 32);
}

TEST(Train, RefusesToOverwriteOrToResumeAnotherJob) {
  const std::string dir = test::scratch_dir("train_refuse");
  const std::string data = test::write_toy_dataset(dir + "/toy.h5", 24, 32, 4);
  comm::LocalCommunicator comm;
  stages::TrainOptions o = toy_options(dir, data);
  o.steps = 2;
  o.time_limit = 1e-9;
  stages::train(o, comm, {{"lr", o.lr}});  // leaves a checkpoint at step 1
  o.time_limit = 0;
  try {
    stages::train(o, comm, {{"lr", o.lr}});
    ADD_FAILURE() << "a second run over a checkpoint must be refused";
  } catch (const OutputError& e) {
    EXPECT_NE(std::string(e.what()).find("--resume"), std::string::npos) << e.what();
  }
  o.resume = true;
  try {
    stages::train(o, comm, {{"lr", 0.5}});
    ADD_FAILURE() << "a resume with another learning rate must be refused";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("options.lr"), std::string::npos) << e.what();
  }
  o.resume = false;
  o.force = true;  // starts afresh
  EXPECT_TRUE(stages::train(o, comm, {{"lr", 0.5}}).complete);
}

TEST(Train, BadMaskLabelsAreNamedBySample) {
  const std::string dir = test::scratch_dir("train_bad_labels");
  test::ToyShapes shapes = test::make_toy_shapes(12, 16, 1);
  shapes.masks[7][3][3] = 9;  // classes are 0..2
  dataset::write_dataset(dir + "/bad.h5", shapes.images, shapes.masks, {"bg", "disc", "square"},
                         {{{0, 0, 0}}, {{1, 1, 1}}, {{2, 2, 2}}});
  comm::LocalCommunicator comm;
  stages::TrainOptions o = toy_options(dir, dir + "/bad.h5");
  o.val_count = 0;
  o.batch = 12;
  o.steps = 1;
  try {
    stages::train(o, comm, {});
    ADD_FAILURE() << "labels outside the classes must be refused";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("sample 7"), std::string::npos) << e.what();
  }
}

TEST(Train, BatchMustSplitEvenlyAndFitTheData) {
  const std::string dir = test::scratch_dir("train_batch");
  const std::string data = test::write_toy_dataset(dir + "/toy.h5", 12, 16, 2);
  comm::LocalCommunicator comm;
  stages::TrainOptions o = toy_options(dir, data);
  o.batch = 64;
  try {
    stages::train(o, comm, {});
    ADD_FAILURE();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("--batch 64"), std::string::npos) << e.what();
  }
}

TEST(Train, FlipPairsMustNameTheDatasetsClasses) {
  const std::string dir = test::scratch_dir("train_flip_pairs");
  const std::string data = test::write_toy_dataset(dir + "/toy.h5", 12, 16, 2);
  comm::LocalCommunicator comm;
  stages::TrainOptions o = toy_options(dir, data);
  o.flip_pairs = "1:99";
  try {
    stages::train(o, comm, {});
    ADD_FAILURE() << "--flip-pairs 1:99 accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("--flip-pairs '1:99': class 99"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(o.out));
}

// A toy supervised run must learn: shapes with exact masks, from random weights, in a
// test-sized budget.
TEST(Train, ToySupervisedRunReachesHighMiou) {
  const std::string dir = test::scratch_dir("train_toy");
  const std::string data = test::write_toy_dataset(dir + "/toy.h5", 200, 64, 11);
  comm::LocalCommunicator comm;
  stages::TrainOptions o = toy_options(dir, data);
  o.steps = 150;
  o.batch = 8;
  o.lr = 1e-3;
  o.val_count = 40;
  o.val_every = 50;
  o.checkpoint_every = 1000;
  o.augment.scale_min = o.augment.scale_max = 1.0;
  o.augment.blur_probability = 0;
  const stages::TrainSummary s = stages::train(o, comm, {});
  std::printf("toy run: final loss %.4f, validation mIoU %.4f in %.1f s\n", s.final_loss, s.val_miou, s.seconds);
  EXPECT_GT(s.val_miou, 0.85);
  const auto records = MetricsLog::read(dir + "/seg.metrics.jsonl");
  EXPECT_LT(s.final_loss, losses(dir + "/seg.metrics.jsonl").front() / 4);
  int validations = 0;
  for (const auto& r : records) validations += r.contains("val_miou");
  EXPECT_EQ(validations, 3);
}

TEST(Train, Bfloat16AutocastTrainsOnCpu) {
  STYLESEG_SKIP_IF_EMULATED_ISA_LACKS_BFLOAT16();
  const std::string dir = test::scratch_dir("train_bf16");
  const std::string data = test::write_toy_dataset(dir + "/toy.h5", 24, 32, 6);
  comm::LocalCommunicator comm;
  stages::TrainOptions o = toy_options(dir, data);
  o.precision = "bfloat16";
  o.steps = 3;
  const stages::TrainSummary s = stages::train(o, comm, {});
  EXPECT_TRUE(std::isfinite(s.final_loss));
  EXPECT_GT(s.final_loss, 0);
  EXPECT_GE(s.val_miou, 0);
}

}  // namespace
}  // namespace styleseg::train
