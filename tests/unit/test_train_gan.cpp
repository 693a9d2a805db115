// train-gan on one rank: a short run whose losses move as a GAN's do, a resumed run equal
// to an uninterrupted one, and a checkpoint that generate's reader takes.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "models/stylegan2/checkpoint.h"
#include "mpi/local_communicator.h"
#include "stages/make_eyes.h"
#include "stages/train_gan.h"
#include "support/fixtures.h"
#include "support/tiny_segmenter.h"
#include "train/metrics_log.h"
#include "train/gan_checkpoint.h"

namespace styleseg::stages {
namespace {

std::string eyes(const std::string& dir) {
  MakeEyesOptions e;
  e.out = dir + "/eyes.h5";
  e.count = 64;
  e.size = 16;
  e.seed = 1;
  comm::LocalCommunicator comm;
  make_eyes(e, comm, {});
  return e.out;
}

TrainGanOptions tiny(const std::string& data, const std::string& out) {
  TrainGanOptions o;
  o.data = data;
  o.out = out;
  o.resolution = 16;
  o.steps = 6;
  o.batch = 4;
  o.r1_every = 2;
  o.pl_every = 2;
  o.pl_weight = 2;  // on (cpu64's default is off), so that resume and logging cover it
  o.checkpoint_every = 3;
  o.diff_augment = "color,translation,cutout";  // a resumed run must augment as the whole one did
  o.device = "cpu";
  o.seed = 3;
  return o;
}

TEST(TrainGan, ShortRunLossesMoveAsAGansDo) {
  const std::string dir = test::scratch_dir("train_gan_run");
  TrainGanOptions o = tiny(eyes(dir), dir + "/gan.pt");
  o.steps = 30;
  o.checkpoint_every = 1000;
  o.quality_model = test::write_random_segmenter(dir + "/seg.pt", {"background", "sclera", "iris", "pupil"}, 16, 1);
  o.quality_every = 15;
  o.quality_samples = 16;
  comm::LocalCommunicator comm;
  const TrainGanSummary s = train_gan(o, comm, {});
  ASSERT_TRUE(s.complete);
  const auto rows = train::MetricsLog::read(dir + "/gan.losses.csv");
  ASSERT_EQ(rows.size(), 30u);
  // At the start D cannot tell (D loss near 2 ln 2 = 1.39); it learns faster than G, so its
  // loss falls and G's rises.
  const double d_first = rows.front()["d_loss"], g_first = rows.front()["g_loss"];
  EXPECT_GT(d_first, 0.9);
  EXPECT_LT(d_first, 1.9);
  double d_late = 0, g_late = 0;
  for (size_t i = 20; i < 30; ++i) d_late += rows[i]["d_loss"].get<double>() / 10, g_late += rows[i]["g_loss"].get<double>() / 10;
  EXPECT_LT(d_late, d_first * 0.8);
  EXPECT_GT(g_late, g_first);
  // R1 and the path length on every second step (steps 0, 2, ... are logged as 1, 3, ...).
  for (size_t i = 0; i < rows.size(); ++i) EXPECT_EQ(rows[i].contains("r1"), i % 2 == 0) << i;
  for (size_t i = 0; i < rows.size(); i += 2) EXPECT_TRUE(rows[i].contains("path_length")) << i;
  // Quality figures at steps 0, 15 and 30, and the curves picture.
  const auto quality = train::MetricsLog::read(dir + "/gan.quality.csv");
  ASSERT_EQ(quality.size(), 3u);
  EXPECT_EQ(quality[1]["step"].get<double>(), 15);
  for (const auto& q : quality) EXPECT_TRUE(q["frechet"].get<double>() > 0 && q.contains("share_pupil")) << q.dump();
  EXPECT_NEAR(s.frechet, quality[2]["frechet"].get<double>(), 1e-7 * s.frechet);
  EXPECT_TRUE(std::filesystem::exists(dir + "/gan.curves.png"));
  // What generate reads: the EMA generator, at the training resolution.
  const stylegan2::Generator g = stylegan2::load_generator(o.out);
  EXPECT_EQ(g.architecture().resolution, 16);
  EXPECT_TRUE(std::filesystem::exists(dir + "/gan.samples/step_30.png"));
}

TEST(TrainGan, ResumedRunEqualsTheUninterruptedOne) {
  const std::string dir = test::scratch_dir("train_gan_resume");
  const std::string data = eyes(dir);
  comm::LocalCommunicator comm;
  const nlohmann::json provenance{{"lr", 0.002}};
  train_gan(tiny(data, dir + "/whole.pt"), comm, provenance);
  TrainGanOptions parts = tiny(data, dir + "/parts.pt");
  parts.time_limit = 1e-9;  // stops after step 1, with a checkpoint
  EXPECT_FALSE(train_gan(parts, comm, provenance).complete);
  parts.time_limit = 0;
  parts.resume = true;
  parts.phase_times = true;  // only observes: the same weights
  EXPECT_TRUE(train_gan(parts, comm, provenance).complete);
  const train::LoadedGan a = train::load_gan_checkpoint(dir + "/whole.pt"), b = train::load_gan_checkpoint(dir + "/parts.pt");
  EXPECT_EQ(a.state.step, 6);
  EXPECT_EQ(b.state.step, 6);
  const auto ga = a.g_ema.trainable_weights(), gb = b.g_ema.trainable_weights();
  for (size_t i = 0; i < ga.size(); ++i) EXPECT_TRUE(at::equal(ga[i], gb[i])) << "g_ema weight " << i;
  const auto da = a.d.state(), db = b.d.state();
  for (size_t i = 0; i < da.size(); ++i) EXPECT_TRUE(at::equal(da[i].second, db[i].second)) << da[i].first;
  EXPECT_DOUBLE_EQ(a.state.path_length_mean, b.state.path_length_mean);
  // Another job's checkpoint is refused, naming the option.
  TrainGanOptions other = tiny(data, dir + "/parts.pt");
  other.resume = true;
  try {
    train_gan(other, comm, {{"lr", 0.5}});
    ADD_FAILURE();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("options.lr"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace styleseg::stages
