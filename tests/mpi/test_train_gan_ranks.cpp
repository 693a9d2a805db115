// train-gan across ranks: the same union batch (images, latents, noise, mixing, flips, DiffAugment,
// minibatch-stddev groups) on N ranks as on one, so the first step's losses agree and the
// weights after it agree but for Adam's sign-like first step on near-zero gradients.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <fstream>

#include "mpi/communicator.h"
#include "mpi/local_communicator.h"
#include "stages/make_eyes.h"
#include "stages/train_gan.h"
#include "support/fixtures.h"
#include "train/gan_checkpoint.h"
#include "world.h"

namespace styleseg::stages {
namespace {

TEST(TrainGanRanks, FirstStepMatchesOneRank) {
  comm::Communicator& comm = test::world();
  const std::string dir = comm::decide_on_root(comm, [] { return test::scratch_dir("train_gan_ranks"); });
  comm::LocalCommunicator alone;
  if (comm.rank() == 0) {
    MakeEyesOptions e;
    e.out = dir + "/eyes.h5";
    e.count = 32;
    e.size = 16;
    make_eyes(e, alone, {});
  }
  comm.barrier();
  TrainGanOptions o;
  o.data = dir + "/eyes.h5";
  o.resolution = 16;
  o.steps = 1;
  // 4 per rank: rank r's group of 4 (positions r, r + N, r + 2N, r + 3N) is the group one
  // process forms over the same global batch (samples b, b + B/4, ...). With fewer than 4 a
  // rank, the groups would differ, as they do in StyleGAN2 between GPU counts.
  o.batch = 4 * comm.size();
  o.flip = true;
  o.diff_augment = "color,translation,cutout";  // keyed by (step, global sample): the same on any rank count
  o.device = "cpu";
  o.seed = 5;
  o.out = dir + "/alone" + std::to_string(comm.rank()) + ".pt";
  const TrainGanSummary one = train_gan(o, alone, {});
  o.out = dir + "/ranks.pt";
  const TrainGanSummary many = train_gan(o, comm, {});
  EXPECT_NEAR(many.d_loss, one.d_loss, 1e-5 * std::abs(one.d_loss)) << "ranks " << comm.size();
  EXPECT_NEAR(many.g_loss, one.g_loss, 1e-3 * std::abs(one.g_loss)) << "ranks " << comm.size();
  comm.barrier();
  const train::LoadedGan a = train::load_gan_checkpoint(dir + "/alone" + std::to_string(comm.rank()) + ".pt");
  const train::LoadedGan b = train::load_gan_checkpoint(dir + "/ranks.pt");
  int64_t total = 0, differing = 0;
  const auto da = a.d.state(), db = b.d.state();
  for (size_t i = 0; i < da.size(); ++i) {
    total += da[i].second.numel();
    differing += ((da[i].second - db[i].second).abs() > 1e-6).sum().item<int64_t>();
  }
  EXPECT_LT(static_cast<double>(differing), 0.01 * static_cast<double>(total)) << differing << " of " << total;
}

}  // namespace
}  // namespace styleseg::stages
