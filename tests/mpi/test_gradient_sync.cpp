// Data-parallel gradients: the gradients averaged over ranks equal the single-process
// gradient of the union batch; broadcast gives every rank root's weights.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "models/segmenter/segmenter.h"
#include "mpi/communicator.h"
#include "train/gradient_sync.h"
#include "world.h"

namespace styleseg::train {
namespace {


at::Tensor loss_of(segmenter::Segmenter& model, const at::Tensor& images, const at::Tensor& labels) {
  return at::cross_entropy_loss(model.forward(images), labels);  // mean over pixels
}

TEST(GradientSync, AveragedGradientsAreTheUnionBatchGradient) {
  comm::Communicator& comm = test::world();
  const int64_t per_rank = 2, size = comm.size();
  at::manual_seed(7);
  const at::Tensor images = at::randn({per_rank * size, 3, 16, 16}, at::kDouble);
  const at::Tensor labels = at::randint(0, 3, {per_rank * size, 16, 16}, at::kLong);

  at::manual_seed(0);
  segmenter::Segmenter model(3);
  at::manual_seed(0);
  segmenter::Segmenter reference(3);
  // Float64: the claim is exact but for the order of the sums, and float32 would blur it by
  // whatever the CPU's kernels round to.
  model.to(at::kDouble);
  reference.to(at::kDouble);
  // Eval mode: BatchNorm uses its running statistics, so samples do not interact and the
  // union gradient is exactly the mean of the per-rank gradients.
  model.train(false);
  reference.train(false);

  GradientSync sync(model.parameters(), /*bucket_bytes=*/int64_t{4} << 20);  // several buckets
  EXPECT_GT(sync.buckets(), 2);
  loss_of(model, images.narrow(0, comm.rank() * per_rank, per_rank), labels.narrow(0, comm.rank() * per_rank, per_rank))
      .backward();
  sync.average(comm);
  loss_of(reference, images, labels).backward();

  const auto mine = model.parameters(), theirs = reference.parameters();
  ASSERT_EQ(mine.size(), theirs.size());
  double worst = 0;
  for (size_t i = 0; i < mine.size(); ++i) {
    const double norm = theirs[i].grad().norm().item<double>();
    if (norm == 0) continue;
    worst = std::max(worst, (mine[i].grad() - theirs[i].grad()).norm().item<double>() / norm);
  }
  // Summation order in float64 (1.1e-16 relative to the summands), magnified by the
  // cancellation within a gradient: 1e-10 allows a millionfold.
  EXPECT_LT(worst, 1e-10) << "ranks " << size;
}

TEST(GradientSync, BroadcastGivesEveryRankRootsWeights) {
  comm::Communicator& comm = test::world();
  at::manual_seed(100 + comm.rank());  // different weights on every rank
  segmenter::Segmenter model(2);
  std::vector<at::Tensor> tensors;
  for (const auto& [name, t] : model.state()) tensors.push_back(t);
  GradientSync::broadcast(comm, tensors, 0);
  at::manual_seed(100);
  segmenter::Segmenter root(2);
  const auto expected = root.state();
  for (size_t i = 0; i < tensors.size(); ++i) EXPECT_TRUE(at::equal(tensors[i], expected[i].second)) << expected[i].first;
}

}  // namespace
}  // namespace styleseg::train
