// `styleseg direction` across ranks, with a scorer that is a known linear function of w:
// the fitted direction recovers it (cosine >= 0.99), and every number of ranks gives the
// one-process direction, sweep and suggested alpha.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "directions/scorers.h"
#include "models/stylegan2/checkpoint.h"
#include "mpi/communicator.h"
#include "mpi/local_communicator.h"
#include "stages/direction.h"
#include "support/fixtures.h"
#include "support/tiny_generator.h"
#include "world.h"

namespace styleseg::stages {
namespace {

// score = w . truth (w: the first layer's latent after truncation).
class LinearInW : public directions::Scorer {
 public:
  explicit LinearInW(at::Tensor truth) : truth_(std::move(truth)) {}
  at::Tensor score(const directions::ScoredBatch& b) override { return at::matmul(b.ws.select(1, 0).to(at::kDouble), truth_); }
  nlohmann::json describe() const override { return {{"kind", "test: linear in w"}}; }

 private:
  at::Tensor truth_;
};

double cosine(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor x = a.to(at::kDouble), y = b.to(at::kDouble);
  return (x.dot(y) / (x.norm() * y.norm())).item<double>();
}

TEST(DirectionRanks, RecoversALinearScoresDirectionOnAnyNumberOfRanks) {
  comm::Communicator& comm = test::world();
  const std::string dir = comm::decide_on_root(comm, [] { return test::scratch_dir("direction_ranks"); });
  if (comm.rank() == 0)
    stylegan2::save_generator(stylegan2::init_generator(test::tiny_generator_architecture(), 7), dir + "/g.pt");
  comm.barrier();
  at::Generator g = at::detail::createCPUGenerator(11);
  const at::Tensor truth = at::randn({16}, g).to(at::kDouble);
  LinearInW scorer(truth);
  DirectionOptions o;
  o.sampling.checkpoint = dir + "/g.pt";
  o.sampling.truncation = 0.8;
  o.samples = 4000;
  o.batch = 64;
  o.sweep_samples = 96;
  o.alphas = {0, 0.5, 1, 2};
  o.out = dir + "/all_ranks.h5";
  const directions::LatentDirection all = find_direction(o, scorer, comm, {});
  comm::LocalCommunicator alone;
  o.out = dir + "/alone_" + std::to_string(comm.rank()) + ".h5";
  const directions::LatentDirection one = find_direction(o, scorer, alone, {});

  EXPECT_GE(cosine(all.direction, truth), 0.99);
  EXPECT_GE(all.heldout_accuracy, 0.95);
  EXPECT_LE((all.direction - one.direction).abs().max().item<float>(), 1e-6f);
  EXPECT_EQ(all.sweep_rate, one.sweep_rate);
  EXPECT_DOUBLE_EQ(all.suggested_alpha, one.suggested_alpha);
  // Along the direction the score only rises: positives at alpha 0 are about the top tail.
  for (size_t i = 1; i < all.sweep_score.size(); ++i) EXPECT_GT(all.sweep_score[i], all.sweep_score[i - 1]);
  EXPECT_NEAR(all.sweep_rate[0], 0.25, 0.12);
  EXPECT_GE(all.sweep_rate.back(), 0.9);
  if (comm.rank() == 0) {
    const directions::LatentDirection saved = directions::read_direction(dir + "/all_ranks.h5");
    EXPECT_TRUE(at::equal(saved.direction, all.direction));
    EXPECT_EQ(saved.method, "svm");
  }
}

}  // namespace
}  // namespace styleseg::stages
