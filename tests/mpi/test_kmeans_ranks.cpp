// k-means on all ranks of the job against the same run on one rank (a LocalCommunicator
// on each rank): equal centroids (relative difference <= 1e-6) and equal counts, at
// whatever size mpiexec started (1, 2 and 4 in ctest), for both algorithms and both
// initialisations; and a reference rank-count-independent k-means|| candidate choice.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "cluster/feature_source.h"
#include "cluster/kmeans.h"
#include "mpi/communicator.h"
#include "mpi/local_communicator.h"
#include "world.h"

namespace styleseg::cluster {
namespace {


struct Case {
  const char* algorithm;
  const char* init;
};
class KMeansRanks : public ::testing::TestWithParam<Case> {};

TEST_P(KMeansRanks, AllRanksGiveTheOneRankResult) {
  MixtureSpec spec;
  spec.clusters = 5;
  spec.dim = 6;
  spec.count = 20000;
  spec.imbalance = 4;
  spec.separation = 4;  // overlapping components: many Lloyd steps, so differences would grow
  spec.seed = 11;
  spec.chunk_items = 1500;  // 14 chunks: uneven shares at 4 ranks
  KMeansParameters p;
  p.clusters = 7;
  p.algorithm = GetParam().algorithm;
  p.init = GetParam().init;
  p.iterations = 12;
  p.tolerance = 0;
  p.n_init = 2;
  p.minibatch_items = 3000;
  p.init_vectors = 4000;
  p.seed = 5;

  MixtureSource distributed_source(spec), local_source(spec);
  const KMeansResult all = train_kmeans(distributed_source, p, test::world());
  comm::LocalCommunicator one;
  const KMeansResult alone = train_kmeans(local_source, p, one);

  const double difference =
      (all.centroids - alone.centroids).norm().item<double>() / alone.centroids.norm().item<double>();
  EXPECT_LE(difference, 1e-6) << "ranks " << test::world().size();
  EXPECT_TRUE(at::equal(all.counts, alone.counts)) << all.counts << alone.counts;
  EXPECT_NEAR(all.inertia, alone.inertia, 1e-9 * alone.inertia);
  EXPECT_EQ(all.vectors_processed, alone.vectors_processed);
}

INSTANTIATE_TEST_SUITE_P(Variants, KMeansRanks,
                         ::testing::Values(Case{"lloyd", "kmeans++"}, Case{"lloyd", "kmeans||"},
                                           Case{"minibatch", "kmeans++"}, Case{"minibatch", "kmeans||"}),
                         [](const auto& info) {
                           return std::string(info.param.algorithm) + (info.param.init == std::string("kmeans++") ? "_pp" : "_parallel");
                         });

}  // namespace
}  // namespace styleseg::cluster
