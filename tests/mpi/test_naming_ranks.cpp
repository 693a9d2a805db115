// The per-cluster averaging of `styleseg name` across ranks: each rank adds its share of
// the samples (batch j on rank j mod size, as the stage splits them), the allreduce adds
// the sums, and the result equals one process adding every sample.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "cluster/naming.h"
#include "mpi/communicator.h"
#include "world.h"

namespace styleseg::cluster {
namespace {

// Sample-indexed data, the same on every rank: dense [1, E, 4, 4] and labels [1, 16, 16].
struct Sample {
  at::Tensor dense, labels;
};
Sample make_sample(int64_t i, int64_t clusters, int64_t dim) {
  at::Generator g = at::detail::createCPUGenerator(1000 + static_cast<uint64_t>(i));
  return {at::randn({1, dim, 4, 4}, g), at::randint(0, clusters, {1, 16, 16}, g)};
}

TEST(NamingRanks, RegionSumsOverRanksEqualOneProcess) {
  comm::Communicator& comm = test::world();
  constexpr int64_t kClusters = 5, kDim = 12, kSamples = 11;
  RegionEmbeddings all(kClusters, kDim), shared(kClusters, kDim);
  for (int64_t i = 0; i < kSamples; ++i) {
    const Sample s = make_sample(i, kClusters, kDim);
    all.add(s.dense, s.labels);
    if (i % comm.size() == comm.rank()) shared.add(s.dense, s.labels);
  }
  shared.allreduce(comm);
  EXPECT_TRUE(at::equal(shared.weights(), all.weights()));
  EXPECT_EQ(shared.weights().sum().item<double>(), static_cast<double>(kSamples * 16 * 16));
  EXPECT_LE((shared.sums() - all.sums()).abs().max().item<double>(), 1e-9 * all.sums().abs().max().item<double>());
  EXPECT_LE((shared.means() - all.means()).abs().max().item<float>(), 1e-6f);
}

}  // namespace
}  // namespace styleseg::cluster
