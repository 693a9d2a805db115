// The probe's measures on constructed features whose answer is known.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "core/error.h"
#include "evaluate/probe.h"
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

ProbeReport probe_report(const Pixels& fit, const Pixels& scored, int64_t clusters) {
  ProbeSettings settings;
  settings.classes = 3;
  settings.clusters = clusters;
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

}  // namespace
}  // namespace styleseg::evaluate
