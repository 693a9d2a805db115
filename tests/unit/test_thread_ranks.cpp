// Rank-invariance on 2 to 4 ranks run as threads (mpi/thread_communicator.h), without
// mpiexec: k-means gives the one-rank centroids; data-parallel gradients and synchronised
// BatchNorm give the union batch's gradient. (tests/mpi keeps what needs MPI itself: the
// collectives over MPI, shared HDF5 files, and whole stages such as train on N ranks.)
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>
#include <vector>

#include "cluster/feature_source.h"
#include "cluster/kmeans.h"
#include "models/segmenter/segmenter.h"
#include "mpi/communicator.h"
#include "mpi/local_communicator.h"
#include "mpi/thread_communicator.h"
#include "train/gradient_sync.h"
#include "train/sync_batchnorm.h"

namespace styleseg {
namespace {

// ---- k-means -------------------------------------------------------------------------------

struct KMeansCase {
  const char* algorithm;
  const char* init;
  int init_trials = 1;
};
class KMeansThreadRanks : public ::testing::TestWithParam<KMeansCase> {};

TEST_P(KMeansThreadRanks, EveryRankGivesTheOneRankResult) {
  cluster::MixtureSpec spec;
  spec.clusters = 5;
  spec.dim = 6;
  spec.count = 20000;
  spec.imbalance = 4;
  spec.separation = 4;  // overlapping components: many Lloyd steps, so differences would grow
  spec.seed = 11;
  spec.chunk_items = 1500;  // 14 chunks: uneven shares at 3 and 4 ranks
  cluster::KMeansParameters p;
  p.clusters = 7;
  p.algorithm = parse_name<cluster::KMeansAlgorithm>(GetParam().algorithm, "algorithm");
  p.init = parse_name<cluster::KMeansInit>(GetParam().init, "init");
  p.iterations = 12;
  p.tolerance = 0;
  p.n_init = 2;
  p.minibatch_items = 3000;
  p.init_vectors = 4000;
  p.seed = 5;
  p.init_trials = GetParam().init_trials;

  cluster::MixtureSource local_source(spec);
  comm::LocalCommunicator one;
  const cluster::KMeansResult alone = train_kmeans(local_source, p, one);

  for (const int ranks : {2, 3, 4}) {
    std::mutex mutex;
    std::vector<cluster::KMeansResult> results(ranks);
    comm::run_as_threads(ranks, [&](comm::Communicator& comm) {
      cluster::MixtureSource source(spec);
      cluster::KMeansResult result = train_kmeans(source, p, comm);
      std::lock_guard<std::mutex> lock(mutex);
      results[comm.rank()] = std::move(result);
    });
    for (int r = 0; r < ranks; ++r) {
      const cluster::KMeansResult& all = results[r];
      // Per-rank partial sums added in another order than one process adds them: float64
      // rounding (1e-16) magnified over 12 Lloyd steps stays far below 1e-6.
      const double difference = (all.centroids - alone.centroids).norm().item<double>() / alone.centroids.norm().item<double>();
      EXPECT_LE(difference, 1e-6) << ranks << " ranks, rank " << r;
      EXPECT_TRUE(at::equal(all.counts, alone.counts)) << ranks << " ranks, rank " << r << all.counts << alone.counts;
      EXPECT_NEAR(all.inertia, alone.inertia, 1e-9 * alone.inertia);
      EXPECT_EQ(all.vectors_processed, alone.vectors_processed);
      // The reductions run in rank order on every rank: the ranks agree bit for bit.
      EXPECT_TRUE(at::equal(all.centroids, results[0].centroids)) << ranks << " ranks, rank " << r;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, KMeansThreadRanks,
                         ::testing::Values(KMeansCase{"lloyd", "kmeans++"}, KMeansCase{"lloyd", "kmeans||"},
                                           KMeansCase{"minibatch", "kmeans++"}, KMeansCase{"minibatch", "kmeans||"},
                                           KMeansCase{"lloyd", "kmeans++", 4}, KMeansCase{"lloyd", "kmeans||", 3}),
                         [](const auto& info) {
                           return std::string(info.param.algorithm) + (info.param.init == std::string("kmeans++") ? "_pp" : "_parallel") +
                                  (info.param.init_trials > 1 ? "_trials" + std::to_string(info.param.init_trials) : "");
                         });

// ---- data-parallel gradients ------------------------------------------------------------

double worst_relative_difference(const std::vector<at::Tensor>& mine, const std::vector<at::Tensor>& theirs) {
  double worst = 0;
  for (size_t i = 0; i < mine.size(); ++i) {
    const double norm = theirs[i].norm().item<double>();
    if (norm > 0) worst = std::max(worst, (mine[i] - theirs[i]).norm().item<double>() / norm);
  }
  return worst;
}

std::vector<at::Tensor> gradients(segmenter::Segmenter& model) {
  std::vector<at::Tensor> grads;
  for (const auto& p : model.parameters()) grads.push_back(p.grad().clone());
  return grads;
}

// A float64 segmenter with the weights every rank starts from (seeded by its own generator,
// not the process-wide one the threads share).
std::unique_ptr<segmenter::Segmenter> seeded_model(int64_t classes) {
  static std::mutex seeding;  // at::manual_seed is process-wide
  std::lock_guard<std::mutex> lock(seeding);
  at::manual_seed(0);
  auto model = std::make_unique<segmenter::Segmenter>(classes);
  model->to(at::kDouble);
  return model;
}

TEST(GradientSyncThreadRanks, AveragedGradientsAreTheUnionBatchGradient) {
  const int64_t per_rank = 2;
  for (const int ranks : {2, 3}) {
    at::manual_seed(7);
    const at::Tensor images = at::randn({per_rank * ranks, 3, 16, 16}, at::kDouble);
    const at::Tensor labels = at::randint(0, 3, {per_rank * ranks, 16, 16}, at::kLong);
    // Eval mode: BatchNorm uses its running statistics, so samples do not interact and the
    // union gradient is exactly the mean of the per-rank gradients.
    auto reference = seeded_model(3);
    reference->train(false);
    at::cross_entropy_loss(reference->forward(images), labels).backward();
    const auto expected = gradients(*reference);

    comm::run_as_threads(ranks, [&](comm::Communicator& comm) {
      auto model = seeded_model(3);
      model->train(false);
      train::GradientSync sync(model->parameters(), /*bucket_bytes=*/int64_t{4} << 20);  // several buckets
      EXPECT_GT(sync.buckets(), 2);
      const int64_t first = comm.rank() * per_rank;
      at::cross_entropy_loss(model->forward(images.narrow(0, first, per_rank)), labels.narrow(0, first, per_rank)).backward();
      sync.average(comm);
      // Summation order in float64 (1.1e-16 relative to the summands), magnified by the
      // cancellation within a gradient: 1e-10 allows a millionfold.
      EXPECT_LT(worst_relative_difference(gradients(*model), expected), 1e-10) << ranks << " ranks, rank " << comm.rank();
    });
  }
}

// Overlapped, each bucket is reduced from the gradient hooks during backward(): the same
// gradients, to the bit, as reducing after it (the same buckets and sums). A parameter the
// loss does not reach counts as zero either way.
TEST(GradientSyncThreadRanks, ReducedDuringTheBackwardPassTheGradientsAreTheSame) {
  const int64_t per_rank = 2;
  for (const int ranks : {2, 3}) {
    at::manual_seed(7);
    const at::Tensor images = at::randn({per_rank * ranks, 3, 16, 16}, at::kDouble);
    const at::Tensor labels = at::randint(0, 3, {per_rank * ranks, 16, 16}, at::kLong);
    comm::run_as_threads(ranks, [&](comm::Communicator& comm) {
      std::vector<std::vector<at::Tensor>> results;
      for (const bool overlap : {false, true}) {
        auto model = seeded_model(3);
        model->train(false);
        std::vector<at::Tensor> parameters = model->parameters();
        const at::Tensor unreached = at::ones({5}, at::kDouble).requires_grad_();
        parameters.insert(parameters.begin() + 3, unreached);
        train::GradientSync sync(parameters, /*bucket_bytes=*/int64_t{4} << 20);  // several buckets
        EXPECT_GT(sync.buckets(), 2);
        if (overlap) sync.overlap_next_backward(comm);
        const int64_t first = comm.rank() * per_rank;
        at::cross_entropy_loss(model->forward(images.narrow(0, first, per_rank)), labels.narrow(0, first, per_rank)).backward();
        sync.average(comm);
        ASSERT_TRUE(unreached.grad().defined());
        EXPECT_TRUE(at::equal(unreached.grad(), at::zeros({5}, at::kDouble)));
        results.push_back(gradients(*model));
      }
      for (size_t i = 0; i < results[0].size(); ++i)
        EXPECT_TRUE(at::equal(results[0][i], results[1][i])) << "parameter " << i << ", " << ranks << " ranks";
    });
  }
}

TEST(GradientSyncThreadRanks, BroadcastGivesEveryRankRootsWeights) {
  segmenter::Segmenter root(2);
  const auto expected = root.state();
  comm::run_as_threads(3, [&](comm::Communicator& comm) {
    // Different weights on every rank: rank 0's are root's.
    std::vector<at::Tensor> tensors;
    for (const auto& [name, t] : expected) tensors.push_back(t + comm.rank());
    train::GradientSync::broadcast(comm, tensors, 0);
    for (size_t i = 0; i < tensors.size(); ++i) EXPECT_TRUE(at::equal(tensors[i], expected[i].second)) << expected[i].first;
  });
}

TEST(SyncBatchNormThreadRanks, GradientsAreTheUnionBatchGradientInTrainingMode) {
  const int64_t per_rank = 2;
  for (const int ranks : {2, 3}) {
    at::manual_seed(21);
    // Float64: in float32 the per-rank and whole-batch convolutions round differently, and a
    // near-tie in max pooling or ReLU can then route a gradient differently.
    const at::Tensor images = at::randn({per_rank * ranks, 3, 24, 24}, at::kDouble);
    const at::Tensor labels = at::randint(0, 3, {per_rank * ranks, 24, 24}, at::kLong);
    auto reference = seeded_model(3);
    const at::Tensor all = reference->forward(images);
    at::cross_entropy_loss(all, labels).backward();
    const auto expected = gradients(*reference);
    std::vector<at::Tensor> expected_buffers;
    for (const auto& [name, t] : reference->state())
      if (name.find("running_") != std::string::npos) expected_buffers.push_back(t);

    comm::run_as_threads(ranks, [&](comm::Communicator& comm) {
      auto model = seeded_model(3);
      model->set_batch_norm_override([&comm](const at::Tensor& x, const segmenter::BatchNormLayer& l) {
        return train::sync_batch_norm(x, l.weight, l.bias, l.running_mean, l.running_var, l.momentum, l.eps, comm);
      });
      train::GradientSync sync(model->parameters());
      const int64_t first = comm.rank() * per_rank;
      const at::Tensor mine = model->forward(images.narrow(0, first, per_rank));
      at::cross_entropy_loss(mine, labels.narrow(0, first, per_rank)).backward();
      sync.average(comm);
      // The forward pass normalises with the union batch's statistics ...
      EXPECT_TRUE(at::allclose(mine, all.narrow(0, first, per_rank), 1e-9, 1e-9));
      // ... the gradients are those of the union batch ...
      EXPECT_LT(worst_relative_difference(gradients(*model), expected), 1e-9) << ranks << " ranks, rank " << comm.rank();
      // ... and so are the running statistics.
      std::vector<at::Tensor> buffers;
      for (const auto& [name, t] : model->state())
        if (name.find("running_") != std::string::npos) buffers.push_back(t);
      EXPECT_LT(worst_relative_difference(buffers, expected_buffers), 1e-9);
    });
  }
}

}  // namespace
}  // namespace styleseg
