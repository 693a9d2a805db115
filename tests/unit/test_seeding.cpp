#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/seeding.h"

namespace styleseg {
namespace {

std::vector<float> normals(uint64_t seed, uint64_t index, Stream stream, size_t n) {
  std::vector<float> out(n);
  SampleRng(seed, index, stream).fill_normal(out.data(), n);
  return out;
}

TEST(Seeding, ASampleDependsOnSeedAndIndexOnly) {
  EXPECT_EQ(normals(7, 123, Stream::Latent, 512), normals(7, 123, Stream::Latent, 512));
  EXPECT_NE(normals(7, 123, Stream::Latent, 512), normals(7, 124, Stream::Latent, 512));
  EXPECT_NE(normals(7, 123, Stream::Latent, 512), normals(8, 123, Stream::Latent, 512));
  EXPECT_NE(normals(7, 123, Stream::Latent, 512), normals(7, 123, Stream::Noise, 512));
}

TEST(Seeding, DrawingMoreDoesNotChangeThePrefix) {
  const auto short_draw = normals(1, 2, Stream::Noise, 100);
  const auto long_draw = normals(1, 2, Stream::Noise, 1000);
  EXPECT_TRUE(std::equal(short_draw.begin(), short_draw.end(), long_draw.begin()));
}

TEST(Seeding, NormalsHaveUnitMoments) {
  const size_t n = 200000;
  const auto x = normals(3, 0, Stream::Generic, n);
  double mean = 0, var = 0, kurt = 0;
  for (float v : x) mean += v;
  mean /= n;
  for (float v : x) {
    var += (v - mean) * (v - mean);
    kurt += std::pow(v - mean, 4);
  }
  var /= n;
  kurt /= n * var * var;
  EXPECT_NEAR(mean, 0.0, 0.01);
  EXPECT_NEAR(var, 1.0, 0.01);
  EXPECT_NEAR(kurt, 3.0, 0.05);
}

TEST(Seeding, UniformsAreInTheUnitInterval) {
  SampleRng rng(5, 5, Stream::Generic);
  double lo = 1, hi = 0;
  for (int i = 0; i < 100000; ++i) {
    const double u = rng.next_uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    lo = std::min(lo, u);
    hi = std::max(hi, u);
  }
  EXPECT_LT(lo, 1e-3);
  EXPECT_GT(hi, 1 - 1e-3);
}

}  // namespace
}  // namespace styleseg
