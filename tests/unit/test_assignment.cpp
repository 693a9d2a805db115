// Nearest-centroid assignment: the direct route (resize the features, assign them as
// vectors) against the score-map route (resize the K score maps; sums through the
// transpose of the resize), and both against brute force.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <cmath>

#include "cluster/assignment.h"
#include "core/error.h"

namespace styleseg::cluster {
namespace {

at::Tensor as_vectors(const at::Tensor& maps) { return maps.permute({0, 2, 3, 1}).reshape({-1, maps.size(1)}); }

double relative(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).norm().item<double>() / b.to(at::kDouble).norm().item<double>();
}

TEST(Assignment, VectorsMatchBruteForceNearestCentroid) {
  at::manual_seed(1);
  const at::Tensor x = at::randn({500, 12}), c = at::randn({7, 12});
  const Assignment a = assign_vectors(x, c, true);
  const at::Tensor d2 = (x.unsqueeze(1) - c.unsqueeze(0)).pow(2).sum(2);  // [500, 7]
  auto [best, labels] = d2.min(1);
  EXPECT_TRUE(at::equal(a.labels, labels));
  EXPECT_LT(relative(a.distances, best), 1e-5);
}

// The per-cluster sums against a float64 reference, over several blocks of rows and on 1 and
// 2 threads (the same bits: blocks are summed in block order whatever the threads). Each block
// sums at most 4096 float32 rows, so an element's error is at most 4096 * 2^-24 * sum |x|.
TEST(Assignment, LabelSumsAreTheFloat64SumsWithinBlockRounding) {
  at::manual_seed(3);
  const int64_t n = 10000, d = 5, k = 6;  // 3 blocks, the last one partial
  const at::Tensor x = at::randn({n, d}) * 10 + 3;
  const at::Tensor labels = at::randint(0, k, {n}, at::kLong);
  at::Tensor reference = at::zeros({k, d}, at::kDouble), magnitude = at::zeros({k, d}, at::kDouble);
  reference.index_add_(0, labels, x.to(at::kDouble));
  magnitude.index_add_(0, labels, x.to(at::kDouble).abs());
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const at::Tensor one = label_sums_vectors(x, labels, k);
  at::set_num_threads(2);
  const at::Tensor two = label_sums_vectors(x, labels, k);
  at::set_num_threads(threads);
  EXPECT_EQ(one.scalar_type(), at::kDouble);
  EXPECT_TRUE(at::equal(one, two));
  EXPECT_TRUE(((one - reference).abs() <= magnitude * (4096.0 * std::ldexp(1.0, -24))).all().item<bool>())
      << (one - reference).abs().max();
  // An empty cluster sums to zero; a label outside 0..K-1 is a bug, not a crash.
  EXPECT_TRUE(at::equal(label_sums_vectors(x, at::zeros({n}, at::kLong), k)[3], at::zeros({d}, at::kDouble)));
  EXPECT_THROW(label_sums_vectors(x, at::full({n}, k, at::kLong), k), InternalError);
}

TEST(Assignment, ScoreMapRouteEqualsResizingTheFeatures) {
  at::manual_seed(2);
  const at::Tensor maps = at::randn({3, 16, 8, 8});
  const at::Tensor centroids = at::randn({5, 16}) * 0.5;
  for (int64_t out_size : {8, 29, 32}) {
    const at::Tensor resized = at::upsample_bilinear2d(maps, {out_size, out_size}, true);
    const Assignment direct = assign_vectors(as_vectors(resized), centroids, true);
    const Assignment route = assign_maps(maps, centroids, out_size, true);
    ASSERT_EQ(route.labels.sizes(), (std::vector<int64_t>{3, out_size, out_size}));
    EXPECT_TRUE(at::equal(route.labels.reshape({-1}), direct.labels)) << "out_size " << out_size;
    EXPECT_LT(relative(route.distances.reshape({-1}), direct.distances), 1e-5) << "out_size " << out_size;
    // Sums through the transpose of the resize equal the sums of the resized vectors.
    const at::Tensor sums_direct = label_sums_vectors(as_vectors(resized), direct.labels, 5);
    const at::Tensor sums_route = label_sums(maps, route.labels, 5);
    EXPECT_LT(relative(sums_route, sums_direct), 1e-5) << "out_size " << out_size;
    EXPECT_EQ(sums_route.scalar_type(), at::kDouble);
  }
}

TEST(Assignment, ResizedNormsAndPixelsEqualTheResizedMap) {
  at::manual_seed(3);
  const at::Tensor maps = at::randn({2, 6, 5, 7});  // not square: rows and columns resize differently
  const int64_t out = 13;
  const at::Tensor resized = at::upsample_bilinear2d(maps, {out, out}, true);
  EXPECT_LT(relative(resized_squared_norms(maps, out), resized.pow(2).sum(1)), 1e-5);
  const at::Tensor samples = at::tensor({0, 1, 1, 0}, at::kLong), pixels = at::tensor({0, 168, 77, 13}, at::kLong);
  const at::Tensor got = resized_pixels(maps, out, samples, pixels);
  for (int64_t i = 0; i < 4; ++i) {
    const int64_t s = samples[i].item<int64_t>(), p = pixels[i].item<int64_t>();
    EXPECT_LT(relative(got[i], resized[s].select(1, p / out).select(1, p % out)), 1e-6) << "pixel " << p;
  }
}

TEST(Assignment, DimensionMismatchNamesBoth) {
  try {
    assign_vectors(at::randn({4, 3}), at::randn({2, 5}));
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("3 dimensions, the centroids 5"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace styleseg::cluster
