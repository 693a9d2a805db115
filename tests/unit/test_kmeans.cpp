// k-means on one rank (the LocalCommunicator): recovery of known centres, both
// algorithms and both initialisations, re-seeding, resume, restarts, and bad input.
// Rank-count invariance is tested on thread ranks in test_thread_ranks.cpp.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "cluster/feature_source.h"
#include "cluster/kmeans.h"
#include "core/error.h"
#include "core/options.h"
#include "io/h5.h"
#include "io/h5_tensor.h"
#include "mpi/local_communicator.h"
#include "support/expect_error.h"
#include "support/fixtures.h"

namespace styleseg::cluster {
namespace {

MixtureSpec mixture(int64_t clusters, int64_t count, double imbalance) {
  MixtureSpec spec;
  spec.clusters = clusters;
  spec.dim = 8;
  spec.count = count;
  spec.spread = 1.0;
  spec.separation = 10.0;
  spec.imbalance = imbalance;
  spec.seed = 7;
  spec.chunk_items = 4096;
  return spec;
}

// Distance from each true centre to the nearest found centroid.
at::Tensor centre_errors(const at::Tensor& truth, const at::Tensor& found) {
  return (truth.unsqueeze(1) - found.unsqueeze(0)).pow(2).sum(2).sqrt().amin(1);
}

std::string write_vectors(const std::string& name, const at::Tensor& vectors) {
  const std::string path = test::scratch_dir("kmeans") + "/" + name + ".h5";
  h5::File file = h5::File::create(path, MPI_COMM_NULL);
  file.create_dataset("x", h5::DType::F32, {vectors.size(0), vectors.size(1)});
  h5::write_tensor_rows(file, "x", 0, vectors.contiguous());
  file.close();
  return path;
}

struct Case {
  const char* algorithm;
  const char* init;
};

class KMeansRecovers : public ::testing::TestWithParam<Case> {};

TEST_P(KMeansRecovers, KnownCentresOfAnUnevenMixture) {
  MixtureSource source(mixture(6, 40000, 8.0));
  KMeansParameters p;
  p.clusters = 6;
  p.algorithm = parse_name<KMeansAlgorithm>(GetParam().algorithm, "algorithm");
  p.init = parse_name<KMeansInit>(GetParam().init, "init");
  p.iterations = p.algorithm == KMeansAlgorithm::Lloyd ? 30 : 60;
  p.minibatch_items = 4096;
  p.seed = 3;
  comm::LocalCommunicator comm;
  const KMeansResult r = train_kmeans(source, p, comm);
  // Each centre is estimated from >= 2000 vectors of unit spread: error ~ sqrt(8/2000) ≈ 0.06.
  const at::Tensor errors = centre_errors(source.centres(), r.centroids);
  EXPECT_LT(errors.max().item<float>(), 0.25) << errors;
  // Counts follow the mixture weights (matched through the nearest centroid).
  const at::Tensor match = (source.centres().unsqueeze(1) - r.centroids.unsqueeze(0)).pow(2).sum(2).argmin(1);
  const at::Tensor shares = r.counts.index_select(0, match).to(at::kDouble) / 40000.0;
  EXPECT_LT((shares - source.weights()).abs().max().item<double>(), 0.01) << shares << source.weights();
  EXPECT_EQ(r.counts.sum().item<int64_t>(), 40000);
  EXPECT_GT(r.inertia, 0.0);
  EXPECT_TRUE(at::isfinite(r.centroids).all().item<bool>());
}

INSTANTIATE_TEST_SUITE_P(Variants, KMeansRecovers,
                         ::testing::Values(Case{"lloyd", "kmeans++"}, Case{"lloyd", "kmeans||"},
                                           Case{"minibatch", "kmeans++"}, Case{"minibatch", "kmeans||"}),
                         [](const auto& info) {
                           return std::string(info.param.algorithm) + (info.param.init == std::string("kmeans++") ? "_pp" : "_parallel");
                         });

TEST(KMeans, LloydInertiaNeverRises) {
  MixtureSource source(mixture(5, 20000, 1.0));
  KMeansParameters p;
  p.clusters = 9;  // more clusters than components: a slow, many-step descent
  p.iterations = 15;
  p.tolerance = 0;
  comm::LocalCommunicator comm;
  const KMeansResult r = train_kmeans(source, p, comm);
  ASSERT_EQ(r.inertia_history.size(), 15u);
  for (size_t i = 1; i < r.inertia_history.size(); ++i)
    EXPECT_LE(r.inertia_history[i], r.inertia_history[i - 1] * (1 + 1e-9)) << "iteration " << i;
  EXPECT_LE(r.inertia, r.inertia_history.back() * (1 + 1e-9));
}

TEST(KMeans, TooManyClustersForTheData) {
  MixtureSource source(mixture(3, 100, 1.0));
  KMeansParameters p;
  p.clusters = 101;
  p.init_vectors = 1000;
  comm::LocalCommunicator comm;
  EXPECT_THROW(train_kmeans(source, p, comm), InputError);
}

TEST(KMeans, MoreClustersThanDistinctVectorsIsAClearError) {
  // 300 vectors, 3 distinct values.
  const at::Tensor vectors = at::arange(3, at::kFloat).repeat({100}).unsqueeze(1).repeat({1, 4});
  auto source = open_h5_features(write_vectors("three_distinct", vectors), "x");
  KMeansParameters p;
  p.clusters = 5;
  comm::LocalCommunicator comm;
  try {
    train_kmeans(*source, p, comm);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("only 3 distinct"), std::string::npos) << e.what();
  }
}

TEST(KMeans, NonFiniteFeaturesNameTheItem) {
  at::Tensor vectors = at::randn({50, 4});
  vectors[37][2] = std::nanf("");
  const std::string path = write_vectors("nan", vectors);
  auto source = open_h5_features(path, "x", 16);
  KMeansParameters p;
  p.clusters = 2;
  comm::LocalCommunicator comm;
  try {
    train_kmeans(*source, p, comm);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("item 37 holds NaN"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

TEST(KMeans, MissingDatasetAndWrongShapeAreInputErrors) {
  const std::string path = write_vectors("shape", at::randn({10, 4}));
  EXPECT_THROW(open_h5_features(path, "nope"), InputError);
  h5::File file = h5::File::open(path, h5::Mode::ReadWrite);
  file.create_dataset("flat", h5::DType::F32, {10});
  file.close();
  EXPECT_THROW(open_h5_features(path, "flat"), InputError);
}

TEST(KMeans, StarvedAndEmptyClustersAreReseededNeverNaN) {
  // Far more clusters than components: mini-batch steps starve some; every final cluster
  // must still hold vectors and no centroid may be NaN.
  MixtureSource source(mixture(3, 30000, 20.0));
  KMeansParameters p;
  p.clusters = 12;
  p.algorithm = KMeansAlgorithm::Minibatch;
  p.minibatch_items = 2048;
  p.iterations = 60;
  p.tolerance = 0;
  comm::LocalCommunicator comm;
  const KMeansResult r = train_kmeans(source, p, comm);
  EXPECT_TRUE(at::isfinite(r.centroids).all().item<bool>());
  EXPECT_GT(r.counts.min().item<int64_t>(), 0) << r.counts;
}

TEST(KMeans, ResumedRunEqualsUninterruptedRun) {
  for (const char* algorithm : {"lloyd", "minibatch"}) {
    MixtureSource source(mixture(4, 12000, 3.0));
    KMeansParameters p;
    p.clusters = 6;
    p.algorithm = parse_name<KMeansAlgorithm>(algorithm, "algorithm");
    p.iterations = 8;
    p.tolerance = 0;
    p.n_init = 2;
    p.minibatch_items = 2048;
    comm::LocalCommunicator comm;
    std::vector<KMeansState> saved;
    const KMeansResult whole = train_kmeans(source, p, comm, nullptr, [&](const KMeansState& s) {
      saved.push_back(s);
      return false;
    });
    ASSERT_GT(saved.size(), 10u);
    // Continue from a state in the middle of the second restart.
    const KMeansState& middle = saved[saved.size() - 4];
    ASSERT_EQ(middle.restart, 1);
    const KMeansResult resumed = train_kmeans(source, p, comm, &middle);
    EXPECT_TRUE(at::equal(whole.centroids, resumed.centroids)) << algorithm;
    EXPECT_TRUE(at::equal(whole.counts, resumed.counts)) << algorithm;
    EXPECT_EQ(whole.inertia, resumed.inertia) << algorithm;
    EXPECT_EQ(whole.restart_inertia, resumed.restart_inertia) << algorithm;
    // A hook that asks to stop at that state: train_kmeans returns there, marked stopped.
    size_t calls = 0;
    const KMeansResult stopped = train_kmeans(source, p, comm, nullptr, [&](const KMeansState&) {
      return ++calls == saved.size() - 3;
    });
    EXPECT_TRUE(stopped.stopped) << algorithm;
    EXPECT_EQ(calls, saved.size() - 3) << algorithm;
    EXPECT_FALSE(whole.stopped) << algorithm;
  }
}

// Counts the items read from the source it wraps.
class CountingSource : public FeatureSource {
 public:
  explicit CountingSource(FeatureSource& inner) : inner_(inner) {}
  int64_t dim() const override { return inner_.dim(); }
  std::optional<int64_t> items() const override { return inner_.items(); }
  int64_t vectors_per_item() const override { return inner_.vectors_per_item(); }
  int64_t chunk_items() const override { return inner_.chunk_items(); }
  FeatureChunk read(int64_t first, int64_t count) override {
    items_read += count;
    return inner_.read(first, count);
  }
  std::vector<int64_t> item_shape() const override { return inner_.item_shape(); }
  nlohmann::json describe() const override { return inner_.describe(); }
  int64_t items_read = 0;

 private:
  FeatureSource& inner_;
};

// A fixed set larger than the memory cache, with a scratch folder: read from the source in
// the first pass only, later passes from the scratch file; the same result as reading
// the source every pass, and nothing left in the folder.
TEST(KMeans, AFixedSetOverTheCacheIsReadOnceAndThenFromScratch) {
  MixtureSource source(mixture(4, 12000, 3.0));
  KMeansParameters p;
  p.clusters = 4;
  p.iterations = 8;
  p.tolerance = 0;
  p.cache_bytes = 0;
  comm::LocalCommunicator comm;
  CountingSource plain(source);
  const KMeansResult again = train_kmeans(plain, p, comm);
  p.scratch_dir = test::scratch_dir("kmeans_spill");
  CountingSource spilled(source);
  const KMeansResult scratch = train_kmeans(spilled, p, comm);
  EXPECT_TRUE(at::equal(again.centroids, scratch.centroids));
  EXPECT_TRUE(at::equal(again.counts, scratch.counts));
  EXPECT_EQ(again.inertia, scratch.inertia);
  EXPECT_GE(plain.items_read, 8 * 12000);          // every Lloyd pass reads the source
  EXPECT_LE(spilled.items_read, 2 * 12000);        // the first pass (and the initialisation sample)
  EXPECT_TRUE(std::filesystem::is_empty(p.scratch_dir)) << "a scratch file was left in " << p.scratch_dir;
}

TEST(KMeans, RestartsKeepTheLowestInertia) {
  MixtureSource source(mixture(8, 8000, 1.0));
  KMeansParameters p;
  p.clusters = 8;
  p.n_init = 4;
  p.iterations = 3;  // short runs: restarts differ
  comm::LocalCommunicator comm;
  const KMeansResult r = train_kmeans(source, p, comm);
  ASSERT_EQ(r.restart_inertia.size(), 4u);
  EXPECT_EQ(r.inertia, *std::min_element(r.restart_inertia.begin(), r.restart_inertia.end()));
  EXPECT_EQ(r.restart_inertia[static_cast<size_t>(r.restart)], r.inertia);
}

// Initialisation trials: k-means++ drawn several times on the sample, each refined by a few
// Lloyd steps there, the best kept. The first pass's inertia is that of the initial centroids
// over the fixed set: refined draws start far lower than one raw k-means++ draw.
TEST(KMeans, InitialisationTrialsStartLower) {
  for (const char* init : {"kmeans++", "kmeans||"}) {
    KMeansParameters p;
    p.clusters = 12;
    p.init = parse_name<KMeansInit>(init, "init");
    p.iterations = 1;
    p.init_vectors = 3000;
    p.seed = 4;
    comm::LocalCommunicator comm;
    MixtureSpec spec = mixture(12, 20000, 8.0);
    spec.separation = 3;  // overlapping components: k-means|| alone lands in different minima
    MixtureSource one_source(spec), trials_source(spec);
    const KMeansResult one = train_kmeans(one_source, p, comm);
    p.init_trials = 8;
    const KMeansResult trials = train_kmeans(trials_source, p, comm);
    ASSERT_EQ(trials.inertia_history.size(), 1u);
    EXPECT_LT(trials.inertia_history[0], one.inertia_history[0]) << init;
  }
  KMeansParameters bad;
  bad.init_trials = 0;
  test::expect_error<ConfigError>([&] { validate(bad); }, {"--init-trials must be at least 1, got 0"});
}

TEST(KMeans, BadParametersNameTheOption) {
  KMeansParameters p;
  OptionSet set("cluster", "k-means");
  set.add("algorithm", &p.algorithm, "lloyd or minibatch");
  test::expect_error<ConfigError>([&] { set.parse({"--algorithm", "elkan"}); },
                                  {"--algorithm must be lloyd or minibatch, got 'elkan'"});
}

}  // namespace
}  // namespace styleseg::cluster
