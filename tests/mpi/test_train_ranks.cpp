// Data-parallel training across MPI ranks: `train` with --sync-bn on N ranks follows the
// one-rank run. (Synchronised BatchNorm's and the gradient averaging's union-batch gradients
// are unit-tested on thread ranks: tests/unit/test_thread_ranks.cpp.)
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <limits>

#include "models/segmenter/model_file.h"
#include "mpi/communicator.h"
#include "mpi/local_communicator.h"
#include "stages/train.h"
#include "support/fixtures.h"
#include "support/toy_shapes.h"
#include "train/checkpoint.h"
#include "train/metrics_log.h"
#include "world.h"

namespace styleseg::train {
namespace {

// What a train run leaves to compare: per-step losses, the validation mIoU and every tensor
// of the final checkpoint's model state (weights and BatchNorm statistics, in the run's
// dtype) as one float64 vector.
struct TrainRun {
  std::vector<double> losses;
  double val_miou = -1;
  at::Tensor weights;
};

// The folder is removed once read (a float64 checkpoint with Adam's state is ~300 MB).
TrainRun run_train(stages::TrainOptions o, comm::Communicator& comm, const std::string& folder) {
  o.out = folder + "/seg.pt";
  TrainRun run;
  run.val_miou = stages::train(o, comm, {}).val_miou;
  for (const auto& r : MetricsLog::read(folder + "/seg.metrics.jsonl"))
    if (r.contains("loss")) run.losses.push_back(r["loss"]);
  std::vector<at::Tensor> flat;
  for (const auto& [name, t] : load_checkpoint(folder + "/seg.checkpoint.pt").model) flat.push_back(t.to(at::kDouble).reshape({-1}));
  run.weights = at::cat(flat);
  comm.barrier();
  if (comm.rank() == 0) std::filesystem::remove_all(folder);
  return run;
}

double distance(const at::Tensor& a, const at::Tensor& b) { return (a - b).norm().item<double>(); }

// N ranks with --sync-bn compute what one process computes; only the order of the sums
// differs (per-rank partial sums, then allreduce). That claim is checked where it can be
// exact, in float64; the float32 runs are held to what float32 itself can promise.
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
  // The reference, one process, is computed by every rank alone in its own folder.
  comm::LocalCommunicator alone;
  const std::string mine = "/rank" + std::to_string(comm.rank());

  o.precision = "float64";
  const TrainRun one64 = run_train(o, alone, dir + "/alone64" + mine);
  const TrainRun many64 = run_train(o, comm, dir + "/ranks64");
  // Float64 rounding (1.1e-16 relative) in the gradients is amplified at most by Adam's
  // lr / eps = 1e4 where a gradient is near zero, so after 3 steps the weights (norm > 1)
  // differ by well under 1e-11; 1e-9 leaves a hundredfold margin. The losses see the
  // summation order only, and a validation label would need a tie within 1e-15 to flip.
  ASSERT_EQ(one64.losses.size(), 3u);
  ASSERT_EQ(many64.losses.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_NEAR(many64.losses[i], one64.losses[i], 1e-12 * one64.losses[i]) << "step " << i + 1;
  EXPECT_NEAR(many64.val_miou, one64.val_miou, 1e-12);
  EXPECT_LE(distance(many64.weights, one64.weights), 1e-9 * one64.weights.norm().item<double>()) << "ranks " << comm.size();

  // Float32, the arithmetic every real run uses, held to what float32 itself can promise
  // (the parity fixtures' rule): no further from float64 than 10x what float32 rounding alone
  // does to one process. With SGD, whose update is linear in the gradient: Adam moves a
  // weight whose gradient is below float32's rounding by about lr whatever the gradient's
  // sign, a few such coin flips decide the distance, and no rule on rounding bounds them.
  o.optimizer = train::OptimizerKind::Sgd;
  o.lr = 0.01;
  o.precision = "float64";
  const TrainRun sgd64 = run_train(o, alone, dir + "/sgd64" + mine);
  o.precision = "float32";
  const TrainRun one32 = run_train(o, alone, dir + "/alone32" + mine);
  const TrainRun many32 = run_train(o, comm, dir + "/ranks32");
  const double float32_alone = distance(one32.weights, sgd64.weights);
  if (comm.rank() == 0)
    std::printf("[ numerics ] train, %d ranks: float64 weights differ by %.1e of their norm (bound 1e-9); float32 "
                "(SGD) weights are %.3g from float64, one process %.3g (bound 10x)\n",
                comm.size(), distance(many64.weights, one64.weights) / one64.weights.norm().item<double>(),
                distance(many32.weights, sgd64.weights), float32_alone);
  EXPECT_GT(float32_alone, 0.0);
  EXPECT_LE(distance(many32.weights, sgd64.weights), 10 * float32_alone) << "ranks " << comm.size();
  // The losses by the same rule, plus one float32 ulp for their own last rounding (one
  // process can land nearer by luck).
  for (size_t i = 0; i < 3; ++i) {
    const double reference = sgd64.losses.at(i), ulp = std::numeric_limits<float>::epsilon() * reference;
    EXPECT_LE(std::abs(many32.losses.at(i) - reference), 10 * std::abs(one32.losses.at(i) - reference) + ulp) << "step " << i + 1;
  }
}

}  // namespace
}  // namespace styleseg::train
