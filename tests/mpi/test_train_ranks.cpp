// Data-parallel training across ranks: synchronised BatchNorm gives the union batch's
// gradient in training mode, and `train` with --sync-bn on N ranks follows the one-rank run.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "models/segmenter/model_file.h"
#include "models/segmenter/segmenter.h"
#include "mpi/communicator.h"
#include "mpi/local_communicator.h"
#include "stages/train.h"
#include "support/fixtures.h"
#include "support/toy_shapes.h"
#include "train/gradient_sync.h"
#include "train/metrics_log.h"
#include "train/sync_batchnorm.h"
#include "world.h"

namespace styleseg::train {
namespace {

double worst_relative_difference(const std::vector<at::Tensor>& mine, const std::vector<at::Tensor>& theirs) {
  double worst = 0;
  for (size_t i = 0; i < mine.size(); ++i) {
    const double norm = theirs[i].norm().item<double>();
    if (norm > 0) worst = std::max(worst, (mine[i] - theirs[i]).norm().item<double>() / norm);
  }
  return worst;
}

TEST(SyncBatchNorm, GradientsAreTheUnionBatchGradientInTrainingMode) {
  comm::Communicator& comm = test::world();
  const int64_t per_rank = 2, size = comm.size();
  at::manual_seed(21);
  // Float64: in float32 the per-rank and whole-batch convolutions round differently, and a
  // near-tie in max pooling or ReLU can then route a gradient differently.
  const at::Tensor images = at::randn({per_rank * size, 3, 24, 24}, at::kDouble);
  const at::Tensor labels = at::randint(0, 3, {per_rank * size, 24, 24}, at::kLong);
  at::manual_seed(0);
  segmenter::Segmenter model(3);
  at::manual_seed(0);
  segmenter::Segmenter reference(3);
  model.to(at::kDouble);
  reference.to(at::kDouble);
  model.set_batch_norm_override([&comm](const at::Tensor& x, const segmenter::BatchNormLayer& l) {
    return sync_batch_norm(x, l.weight, l.bias, l.running_mean, l.running_var, l.momentum, l.eps, comm);
  });
  GradientSync sync(model.parameters());
  const at::Tensor mine = model.forward(images.narrow(0, comm.rank() * per_rank, per_rank));
  at::cross_entropy_loss(mine, labels.narrow(0, comm.rank() * per_rank, per_rank)).backward();
  sync.average(comm);
  const at::Tensor all = reference.forward(images);
  at::cross_entropy_loss(all, labels).backward();

  // The forward pass normalises with the union batch's statistics ...
  EXPECT_TRUE(at::allclose(mine, all.narrow(0, comm.rank() * per_rank, per_rank), 1e-9, 1e-9));
  // ... the gradients are those of the union batch ...
  std::vector<at::Tensor> grads, expected;
  for (const auto& p : model.parameters()) grads.push_back(p.grad());
  for (const auto& p : reference.parameters()) expected.push_back(p.grad());
  EXPECT_LT(worst_relative_difference(grads, expected), 1e-9) << "ranks " << size;
  // ... and so are the running statistics.
  std::vector<at::Tensor> buffers, expected_buffers;
  for (const auto& [name, t] : model.state())
    if (name.find("running_") != std::string::npos) buffers.push_back(t);
  for (const auto& [name, t] : reference.state())
    if (name.find("running_") != std::string::npos) expected_buffers.push_back(t);
  EXPECT_LT(worst_relative_difference(buffers, expected_buffers), 1e-9);
}

TEST(TrainRanks, SyncBnOnNRanksFollowsOneRank) {
  comm::Communicator& comm = test::world();
  const std::string dir = comm::decide_on_root(comm, [] { return test::scratch_dir("train_ranks"); });
  if (comm.rank() == 0) test::write_toy_dataset(dir + "/toy.h5", 32, 16, 8);
  comm.barrier();
  stages::TrainOptions o;
  o.data = dir + "/toy.h5";
  o.batch = 4;
  o.steps = 3;
  o.val_count = 4;
  o.val_every = 3;
  o.sync_bn = true;
  o.device = "cpu";
  o.seed = 9;
  // The reference: one process (every rank computes it alone, in its own folder).
  comm::LocalCommunicator alone;
  o.out = dir + "/alone" + std::to_string(comm.rank()) + "/seg.pt";
  const stages::TrainSummary one = stages::train(o, alone, {});
  o.out = dir + "/ranks/seg.pt";
  const stages::TrainSummary many = stages::train(o, comm, {});
  EXPECT_NEAR(many.final_loss, one.final_loss, 1e-4 * std::abs(one.final_loss));
  EXPECT_NEAR(many.val_miou, one.val_miou, 1e-3);
  comm.barrier();
  // Loss step for step (the first one, before any update, checks data split, augmentation
  // and synchronised statistics exactly), then the weights.
  std::vector<double> a, b;
  for (const auto& r : MetricsLog::read(dir + "/alone" + std::to_string(comm.rank()) + "/seg.metrics.jsonl"))
    if (r.contains("loss")) a.push_back(r["loss"]);
  for (const auto& r : MetricsLog::read(dir + "/ranks/seg.metrics.jsonl"))
    if (r.contains("loss")) b.push_back(r["loss"]);
  ASSERT_EQ(a.size(), 3u);
  ASSERT_EQ(b.size(), 3u);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-4 * a[i]) << "step " << i + 1;
  const auto x = segmenter::load_model(dir + "/alone" + std::to_string(comm.rank()) + "/seg.pt");
  const auto y = segmenter::load_model(dir + "/ranks/seg.pt");
  std::vector<at::Tensor> wx, wy;
  for (const auto& p : x.net.parameters()) wx.push_back(p);
  for (const auto& p : y.net.parameters()) wy.push_back(p);
  EXPECT_LT(worst_relative_difference(wy, wx), 1e-3);
}

}  // namespace
}  // namespace styleseg::train
