// The probe's measures on constructed features whose answer is known.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <string>

#include "core/error.h"
#include "cluster/space.h"
#include "evaluate/probe.h"
#include "stages/probe.h"
#include "support/expect_error.h"
#include "mpi/local_communicator.h"

namespace styleseg::evaluate {
namespace {

struct Pixels {
  at::Tensor x, y;
};

// Labels drawn with shares 0.6 / 0.3 / 0.1 (a small class, like the pupil); features either
// encode the class (a centre per class in D dimensions, plus noise) or ignore it.
Pixels make_pixels(int64_t n, bool encode_class, uint64_t seed) {
  at::Generator g = at::detail::createCPUGenerator(seed);
  const at::Tensor u = at::rand({n}, g);
  const at::Tensor y = (u > 0.6).to(at::kLong) + (u > 0.9).to(at::kLong);
  at::Tensor x = at::randn({n, 8}, g);
  if (encode_class) {
    const at::Tensor centres = at::randn({3, 8}, at::detail::createCPUGenerator(99)) * 4;
    x = x * 0.3 + centres.index_select(0, y);
  }
  return {x, y};
}

ProbeReport probe_report(const Pixels& fit, const Pixels& scored, int64_t clusters, cluster::SpaceSpec space = {},
                         int64_t classes = 3) {
  ProbeSettings settings;
  settings.classes = classes;
  settings.clusters = clusters;
  settings.space = space;
  FeatureProbe probe(fit.x, fit.y, settings);
  probe.add_scores(scored.x, scored.y);
  comm::LocalCommunicator one;
  return probe.report(one);
}

TEST(Probe, FeaturesThatEncodeTheClassReachACeilingNearOne) {
  const ProbeReport r = probe_report(make_pixels(4000, true, 1), make_pixels(4000, true, 2), 3);
  EXPECT_GT(r.ceiling.mean_iou, 0.98);
  EXPECT_GT(r.fit_accuracy, 0.99);
  EXPECT_GT(r.kmeans.mean_iou, 0.95);  // well-separated blobs: k-means finds them too
  for (const ClassMatch& m : r.best_cluster) {
    EXPECT_GT(m.precision, 0.95);
    EXPECT_GT(m.recall, 0.95);
  }
  EXPECT_EQ(r.fit_pixels, 4000);
  EXPECT_EQ(r.score_pixels, 4000);
}

// Features independent of the class: nothing beats guessing the largest class everywhere,
// whose mIoU is 0.6 / 3 = 0.2 (its IoU is its share; the other two are 0).
TEST(Probe, RandomFeaturesReachChance) {
  const ProbeReport r = probe_report(make_pixels(4000, false, 3), make_pixels(4000, false, 4), 6);
  EXPECT_LT(r.ceiling.mean_iou, 0.25);
  EXPECT_LT(r.kmeans.mean_iou, 0.25);
  EXPECT_LT(r.best_cluster[2].precision, 0.2);  // no cluster is mostly the small class
}

// A class k-means merges into another (its centre close to the other's) shows as a class
// whose best cluster has a low precision, while the linear ceiling still separates it.
TEST(Probe, AClassKMeansMergesShowsInPrecisionNotInTheCeiling) {
  Pixels fit = make_pixels(6000, false, 5), scored = make_pixels(6000, false, 6);
  for (Pixels* p : {&fit, &scored}) {
    // Class 2 sits 1.5 from class 1 along dimension 0, inside its spread of 4 on dimension 1.
    const at::Tensor offset = at::zeros({3, 8});
    offset[1][0] = 10;
    offset[2][0] = 11.5;
    p->x = p->x * at::tensor({0.3, 4.0, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3}).to(at::kFloat) + offset.index_select(0, p->y);
  }
  const ProbeReport r = probe_report(fit, scored, 3);
  EXPECT_GT(r.ceiling.iou[2], 0.9);
  EXPECT_LT(r.kmeans.iou[2], r.ceiling.iou[2] - 0.3);
}

// Two classes (70 % / 30 %) told apart by a dimension of spread 0.05 beside one of pure noise
// with spread 10. k-means at K 2 on the raw features halves the noise dimension (inertia
// falls by 2/pi of 100 there, against at most 0.21 in the class dimension), so both clusters
// are mostly class 0: mIoU 0.7 / 2. Standardised or whitened, the class dimension's two modes
// are the larger gain and k-means finds the classes; PCA keeping only the leading axis (the
// noise) cannot.
Pixels low_variance_class(int64_t n, uint64_t seed) {
  at::Generator g = at::detail::createCPUGenerator(seed);
  const at::Tensor y = (at::rand({n}, g) > 0.7).to(at::kLong);
  const at::Tensor noise = at::randn({n}, g) * 10;
  const at::Tensor class_dim = y.to(at::kFloat) + at::randn({n}, g) * 0.05;
  return {at::stack({noise, class_dim}, 1), y};
}

TEST(Probe, ClusterSpaceDecidesWhetherALowVarianceClassIsFound) {
  const Pixels fit = low_variance_class(4000, 7), scored = low_variance_class(4000, 8);
  auto kmeans_miou = [&](const std::string& space) {
    return probe_report(fit, scored, 2, cluster::parse_space(space, "test"), 2).kmeans.mean_iou;
  };
  EXPECT_LT(kmeans_miou("raw"), 0.5);
  EXPECT_GT(kmeans_miou("standardize"), 0.95);
  EXPECT_GT(kmeans_miou("whiten"), 0.95);
  EXPECT_LT(kmeans_miou("pca:1"), 0.5);
  EXPECT_LT(kmeans_miou("whiten:1"), 0.5);  // the noise axis alone, scaled: still no class in it
  // The ceiling does not depend on where k-means runs.
  EXPECT_GT(probe_report(fit, scored, 2, {}, 2).ceiling.mean_iou, 0.95);
}

TEST(Probe, BestClustersFromCounts) {
  // classes x clusters: class 0 is cluster 0; class 1 is split over clusters 1 and 2; class 2 absent.
  const at::Tensor counts = at::tensor({90, 10, 0, 0, 5, 40, 45, 0, 0, 0, 0, 0}, at::kLong).reshape({3, 4});
  const std::vector<ClassMatch> m = best_clusters(counts);
  EXPECT_EQ(m[0].cluster, 0);
  EXPECT_DOUBLE_EQ(m[0].precision, 90.0 / 95.0);
  EXPECT_DOUBLE_EQ(m[0].recall, 0.9);
  EXPECT_EQ(m[1].cluster, 2);
  EXPECT_DOUBLE_EQ(m[1].recall, 0.5);
  EXPECT_DOUBLE_EQ(m[1].iou, 45.0 / 90.0);
  EXPECT_EQ(m[2].cluster, -1);
}

TEST(Probe, TooFewFitPixelsIsAConfigError) {
  ProbeSettings settings;
  settings.classes = 3;
  settings.clusters = 8;
  EXPECT_THROW(FeatureProbe(at::randn({5, 4}), at::zeros({5}, at::kLong), settings), ConfigError);
}

// A variant's keys reach the clustering: K, the space and the k-means++ trials; a bad value
// names the variant and the key.
TEST(Probe, VariantsSetClustersSpaceAndTrials) {
  stages::ProbeOptions base;
  base.sampling.feature_layer = "7";
  base.clusters = 8;
  const stages::VariantOptions v = stages::apply_variant(base, "layer=3+5+7,clusters=64,space=whiten,trials=16");
  EXPECT_EQ(v.sampling.feature_layer, "3+5+7");
  EXPECT_EQ(v.clusters, 64);
  EXPECT_EQ(cluster::to_string(v.space), "whiten");
  EXPECT_EQ(v.init_trials, 16);
  EXPECT_EQ(stages::apply_variant(base, "").init_trials, 1);
  test::expect_error<ConfigError>([&] { stages::apply_variant(base, "trials=0"); }, {"--variant 'trials=0'", "trials must be at least 1"});
  test::expect_error<ConfigError>([&] { stages::apply_variant(base, "trials=many"); }, {"'many' is not a number for 'trials'"});
}

}  // namespace
}  // namespace styleseg::evaluate
