// train-gan across ranks: the same union batch (images, latents, noise, mixing, flips, DiffAugment,
// minibatch-stddev groups) on N ranks as on one, so the first step's losses agree and the
// weights after it agree but for Adam's sign-like first step on near-zero gradients.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>

#include "mpi/communicator.h"
#include "mpi/local_communicator.h"
#include "stages/make_eyes.h"
#include "stages/train_gan.h"
#include "support/fixtures.h"
#include "train/gan_checkpoint.h"
#include "world.h"

namespace styleseg::stages {
namespace {

// What one train-gan step leaves to compare: the losses, and the discriminator's and the
// generator's weights as one float64 vector each.
struct GanRun {
  TrainGanSummary summary;
  at::Tensor d, g;
};

at::Tensor flat(const std::vector<at::Tensor>& tensors) {
  std::vector<at::Tensor> parts;
  for (const at::Tensor& t : tensors) parts.push_back(t.detach().to(at::kDouble).reshape({-1}));
  return at::cat(parts);
}

GanRun run_gan(TrainGanOptions o, comm::Communicator& comm, const std::string& out) {
  o.out = out;
  GanRun run;
  run.summary = train_gan(o, comm, {});
  comm.barrier();
  const train::LoadedGan loaded = train::load_gan_checkpoint(out);
  std::vector<at::Tensor> d;
  for (const auto& [name, t] : loaded.d.state()) d.push_back(t);
  run.d = flat(d);
  run.g = flat(loaded.g.trainable_weights());  // stored in float32 (rosinality's layout)
  comm.barrier();
  if (comm.rank() == 0) std::filesystem::remove(out);
  return run;
}

double distance(const at::Tensor& a, const at::Tensor& b) { return (a - b).norm().item<double>(); }

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
  const std::string mine = std::to_string(comm.rank());

  // The claim, exact but for the order of sums, checked in float64. The first Adam step
  // (beta1 0) moves each weight by lr * g / (|g| + 1e-8): float64 rounding of g, amplified
  // at most by lr / eps = 2.5e5, stays under 1e-10 per weight, and the generator's weights
  // are then stored in float32, where two values that close round alike but for one ulp in
  // rare cases. Relative to the weights' norms (> 1), 1e-9 bounds both.
  o.precision = "float64";
  const GanRun one64 = run_gan(o, alone, dir + "/alone64_" + mine + ".pt");
  const GanRun many64 = run_gan(o, comm, dir + "/ranks64.pt");
  EXPECT_NEAR(many64.summary.d_loss, one64.summary.d_loss, 1e-12 * std::abs(one64.summary.d_loss));
  EXPECT_NEAR(many64.summary.g_loss, one64.summary.g_loss, 1e-12 * std::abs(one64.summary.g_loss));
  EXPECT_LE(distance(many64.d, one64.d), 1e-9 * one64.d.norm().item<double>()) << "ranks " << comm.size();
  EXPECT_LE(distance(many64.g, one64.g), 1e-9 * one64.g.norm().item<double>()) << "ranks " << comm.size();

  // Float32: the discriminator's loss comes before any update, so it carries the forward
  // pass's rounding only; as for the parity fixtures, it may be no further from float64 than
  // 10x what float32 does to one process, plus one float32 ulp for its own last rounding.
  // The weights are left to the float64 check: Adam's first step (beta1 0) moves a weight by
  // lr * sign(g) wherever |g| >> 1e-8, so a gradient below float32's rounding is a coin flip
  // worth 2 lr, and a few such flips, not rounding, decide the distance.
  o.precision = "float32";
  const GanRun one32 = run_gan(o, alone, dir + "/alone32_" + mine + ".pt");
  const GanRun many32 = run_gan(o, comm, dir + "/ranks32.pt");
  const double reference = one64.summary.d_loss, ulp = std::numeric_limits<float>::epsilon() * std::abs(reference);
  if (comm.rank() == 0)
    std::printf("[ numerics ] train-gan, %d ranks: float64 D and G differ by %.1e and %.1e of their norms (bound "
                "1e-9); float32 D loss %.2e from float64, one process %.2e (bound 10x + 1 ulp)\n",
                comm.size(), distance(many64.d, one64.d) / one64.d.norm().item<double>(),
                distance(many64.g, one64.g) / one64.g.norm().item<double>(), std::abs(many32.summary.d_loss - reference),
                std::abs(one32.summary.d_loss - reference));
  EXPECT_LE(std::abs(many32.summary.d_loss - reference), 10 * std::abs(one32.summary.d_loss - reference) + ulp);
}

}  // namespace
}  // namespace styleseg::stages
