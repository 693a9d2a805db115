// The cluster space (cluster/space.h): maps fitted from summed statistics, what they do to
// data of known covariance, and their round trip through clusters.h5.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <string>

#include "cluster/clusters_file.h"
#include "cluster/space.h"
#include "core/error.h"
#include "support/fixtures.h"

namespace styleseg::cluster {
namespace {

// Rows with standard deviations 5, 3, 1, 0.5 along a random rotation of the axes, offset
// from the origin: the covariance is known, and no axis is aligned with a coordinate.
struct Known {
  at::Tensor rows, rotation;
};
Known known_rows(int64_t n, uint64_t seed) {
  at::Generator g = at::detail::createCPUGenerator(seed);
  const at::Tensor rotation = std::get<0>(at::linalg_qr(at::randn({4, 4}, at::detail::createCPUGenerator(7)).to(at::kDouble)));
  const at::Tensor scaled = at::randn({n, 4}, g).to(at::kDouble) * at::tensor({5.0, 3.0, 1.0, 0.5}, at::kDouble);
  return {(scaled.mm(rotation.t()) + 2.0).to(at::kFloat), rotation};
}

SpaceMap fitted(const std::string& spec, const at::Tensor& rows) {
  SpaceStatistics statistics(rows.size(1));
  statistics.add(rows);
  return fit_space(parse_space(spec, "test"), statistics);
}

// Sample covariance of projected rows, float64.
at::Tensor covariance_of(const at::Tensor& z) {
  const at::Tensor c = z.to(at::kDouble) - z.to(at::kDouble).mean(0);
  return c.t().mm(c) / static_cast<double>(z.size(0));
}

TEST(ClusterSpace, WhitenedRowsHaveIdentityCovarianceAndZeroMean) {
  const Known k = known_rows(20000, 1);
  const at::Tensor z = fitted("whiten", k.rows).project_vectors(k.rows);
  // The map is fitted on these very rows: the only error is float32 rounding of the products
  // (relative 1e-7 per term, 20000 terms), far below this bound.
  EXPECT_TRUE(at::allclose(covariance_of(z), at::eye(4, at::kDouble), 0, 1e-3));
  EXPECT_LT(z.mean(0).abs().max().item<double>(), 1e-3);
}

TEST(ClusterSpace, PcaKeepsTheLeadingAxesWithTheirVariance) {
  const Known k = known_rows(20000, 2);
  const SpaceMap pca = fitted("pca:2", k.rows);
  ASSERT_EQ(pca.out_dim(), 2);
  // The axes are the rotation's first two columns, up to sampling error (std 5 and 3 against
  // 1: the sample covariance's axes are within a few 1e-2 of the true ones at n = 20000).
  const at::Tensor cosines = pca.map.t().mm(k.rotation).abs();
  EXPECT_GT(cosines[0][0].item<double>(), 0.99);
  EXPECT_GT(cosines[1][1].item<double>(), 0.99);
  const at::Tensor variances = covariance_of(pca.project_vectors(k.rows)).diagonal();
  EXPECT_NEAR(variances[0].item<double>(), 25.0, 25.0 * 0.05);
  EXPECT_NEAR(variances[1].item<double>(), 9.0, 9.0 * 0.05);
  // Each axis signed so that its largest component is positive.
  for (int64_t a = 0; a < 2; ++a) {
    const at::Tensor axis = pca.map.select(1, a);
    EXPECT_GT(axis[axis.abs().argmax().item<int64_t>()].item<double>(), 0) << a;
  }
}

TEST(ClusterSpace, StandardizeScalesEachDimension) {
  const Known k = known_rows(20000, 3);
  const SpaceMap s = fitted("standardize", k.rows);
  const at::Tensor variances = covariance_of(s.project_vectors(k.rows)).diagonal();
  EXPECT_TRUE(at::allclose(variances, at::ones({4}, at::kDouble), 0, 1e-3));
  EXPECT_TRUE(at::equal(s.map, at::diag(s.map.diagonal())));  // no rotation
}

// What ranks do: statistics of parts, summed, give the map of the whole (and the same signs).
TEST(ClusterSpace, StatisticsOfPartsSumToThoseOfTheWhole) {
  const Known k = known_rows(6000, 4);
  SpaceStatistics a(4), b(4), whole(4);
  a.add(k.rows.narrow(0, 0, 2500));
  b.add(k.rows.narrow(0, 2500, 3500));
  whole.add(k.rows);
  a.packed() += b.packed();
  EXPECT_EQ(a.rows(), 6000);
  const SpaceMap from_parts = fit_space(parse_space("whiten", "t"), a);
  const SpaceMap from_whole = fit_space(parse_space("whiten", "t"), whole);
  // Each add() sums its rows in float32 (relative error ~1e-6 of sums of |x|^2 ~ 50 per row);
  // the smallest variance (0.25) then moves by ~2e-4 relative: whitening's map by half that.
  EXPECT_TRUE(at::allclose(from_parts.map, from_whole.map, 1e-3, 1e-6));
  EXPECT_TRUE(at::allclose(from_parts.mean, from_whole.mean, 0, 1e-5));
  EXPECT_GT((from_parts.map * from_whole.map).sum(0).min().item<double>(), 0);  // the same signs
}

// Maps are projected per pixel: the same as projecting every pixel's vector.
TEST(ClusterSpace, MapsProjectLikeTheirPixels) {
  const Known k = known_rows(2 * 5 * 6, 5);
  const SpaceMap w = fitted("whiten:3", k.rows);
  const at::Tensor maps = k.rows.reshape({2, 5, 6, 4}).permute({0, 3, 1, 2}).contiguous();  // [2, 4, 5, 6]
  const at::Tensor projected = w.project_maps(maps);
  ASSERT_EQ(projected.sizes(), (std::vector<int64_t>{2, 3, 5, 6}));
  const at::Tensor per_pixel = w.project_vectors(k.rows).reshape({2, 5, 6, 3}).permute({0, 3, 1, 2});
  EXPECT_TRUE(at::allclose(projected, per_pixel, 1e-4, 1e-4));
  SpaceStatistics from_maps(4), from_rows(4);
  from_maps.add_maps(maps);
  from_rows.add(k.rows);
  EXPECT_TRUE(at::allclose(from_maps.packed(), from_rows.packed(), 1e-6, 1e-6));
}

TEST(ClusterSpace, RawIsTheIdentityAndBadSpecsAreConfigErrors) {
  const Known k = known_rows(100, 6);
  const SpaceMap raw = fitted("raw", k.rows);
  EXPECT_TRUE(raw.is_identity());
  EXPECT_TRUE(at::equal(raw.project_vectors(k.rows), k.rows));
  EXPECT_EQ(to_string(parse_space("whiten:32", "o")), "whiten:32");
  EXPECT_EQ(parse_space("pca:3", "o").dims, 3);
  EXPECT_EQ(parse_space("standardize", "o").kind, SpaceSpec::Kind::Standardize);
  for (const char* bad : {"", "white", "raw:3", "pca:", "pca:0", "pca:-1", "pca:x", "whiten:99999999999"})
    EXPECT_THROW(parse_space(bad, "--space"), ConfigError) << bad;
  EXPECT_THROW(fitted("pca:5", k.rows), ConfigError);  // more axes than dimensions
  EXPECT_THROW(fitted("whiten", k.rows.narrow(0, 0, 1)), ConfigError);
}

Clusters whitened_clusters(const at::Tensor& rows) {
  Clusters c;
  c.space = parse_space("whiten:3", "t");
  c.space_map = fitted("whiten:3", rows);
  c.centroids = at::randn({5, 3});
  c.counts = at::ones({5}, at::kLong);
  return c;
}

TEST(ClusterSpace, ClustersFilesKeepTheMap) {
  const std::string path = test::scratch_dir("space") + "/clusters.h5";
  const Known k = known_rows(500, 8);
  const Clusters written = whitened_clusters(k.rows);
  write_clusters(path, written);
  const Clusters read = read_clusters(path);
  EXPECT_EQ(to_string(read.space), "whiten:3");
  EXPECT_EQ(read.feature_dim(), 4);
  EXPECT_EQ(read.dim(), 3);
  EXPECT_TRUE(at::equal(read.space_map.map, written.space_map.map));
  EXPECT_TRUE(at::equal(read.project_vectors(k.rows), written.project_vectors(k.rows)));
}

TEST(ClusterSpace, AMapOfTheWrongShapeIsAnInputErrorNamingTheFile) {
  const std::string path = test::scratch_dir("space_bad") + "/clusters.h5";
  Clusters bad = whitened_clusters(known_rows(500, 9).rows);
  bad.space_map.map = at::zeros({4, 2}, at::kDouble);  // the centroids are 3-dimensional
  write_clusters(path, bad);
  try {
    read_clusters(path);
    FAIL() << "read a space_map [4, 2] for 3-dimensional centroids";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("space_map"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace styleseg::cluster
