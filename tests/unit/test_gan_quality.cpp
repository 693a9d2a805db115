// The GAN quality figures: the Frechet distance against closed forms and an independent
// route, the share distance against hand-made histograms, the sums against at::cov, and
// the probe telling a generator's own images from another generator's.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer includes it in LibTorch 2.x
#include <gtest/gtest.h>

#include <filesystem>

#include "core/seeding.h"
#include "evaluate/gan_quality.h"
#include "io/image.h"
#include "models/stylegan2/checkpoint.h"
#include "mpi/local_communicator.h"
#include "stages/gan_quality.h"
#include "sampling/sampler.h"
#include "support/fixtures.h"
#include "support/tiny_generator.h"
#include "support/tiny_segmenter.h"
#include "train/training_images.h"

namespace styleseg::evaluate {
namespace {

at::Tensor random_spd(int64_t n, uint64_t seed) {
  at::manual_seed(seed);
  const at::Tensor a = at::randn({n, n}, at::kDouble);
  return at::matmul(a, a.t()) + at::eye(n, at::kDouble) * 0.1;
}

TEST(GanQuality, FrechetDistanceOfDiagonalGaussiansHasItsClosedForm) {
  const at::Tensor m1 = at::tensor({0.0, 1.0, 2.0}, at::kDouble), m2 = at::tensor({1.0, 1.0, 0.0}, at::kDouble);
  const at::Tensor v1 = at::tensor({1.0, 4.0, 9.0}, at::kDouble), v2 = at::tensor({4.0, 1.0, 0.25}, at::kDouble);
  // |dmu|^2 + sum (sqrt(a) - sqrt(b))^2 = 5 + (1 + 1 + 6.25)
  EXPECT_NEAR(frechet_distance(m1, at::diag(v1), m2, at::diag(v2)), 5 + 1 + 1 + 6.25, 1e-9);
}

TEST(GanQuality, FrechetDistanceOfGeneralCovariancesMatchesTheEigenvaluesOfTheProduct) {
  const at::Tensor c1 = random_spd(6, 1), c2 = random_spd(6, 2);
  const at::Tensor m1 = at::zeros({6}, at::kDouble), m2 = at::full({6}, 0.5, at::kDouble);
  // Independently: tr((C1 C2)^(1/2)) = sum of the square roots of C1 C2's (real, positive) eigenvalues.
  const at::Tensor eig = at::real(at::linalg_eigvals(at::matmul(c1, c2)));
  const double expected = 6 * 0.25 + (c1.trace() + c2.trace()).item<double>() - 2 * eig.sqrt().sum().item<double>();
  EXPECT_NEAR(frechet_distance(m1, c1, m2, c2), expected, 1e-8);
  EXPECT_NEAR(frechet_distance(m2, c2, m1, c1), expected, 1e-8);
  EXPECT_NEAR(frechet_distance(m1, c1, m1, c1), 0.0, 1e-8);
}

TEST(GanQuality, WassersteinOfTwoPointMassesIsTheirDistance) {
  at::Tensor a = at::zeros({100}, at::kDouble), b = at::zeros({100}, at::kDouble);
  a[10] = 3;  // mass at 0.10
  b[35] = 7;  // mass at 0.35
  EXPECT_NEAR(wasserstein_from_histograms(a, b), 0.25, 1e-12);
  // Half the mass moved by 0.5: 0.25.
  at::Tensor c = at::zeros({100}, at::kDouble), d = at::zeros({100}, at::kDouble);
  c[0] = 2;
  d[0] = 1, d[50] = 1;
  EXPECT_NEAR(wasserstein_from_histograms(c, d), 0.25, 1e-12);
}

TEST(GanQuality, StatisticsSumToTheMeanCovarianceAndShareHistograms) {
  at::manual_seed(4);
  const at::Tensor features = at::randn({10, 5}, at::kDouble);
  at::Tensor labels = at::zeros({10, 2, 2}, at::kLong);
  labels[0].fill_(1);           // image 0: all class 1
  labels[1][0][0] = 2;          // image 1: a quarter class 2
  QualityStatistics s(5, 3, 4);
  s.add(features.narrow(0, 0, 4), labels.narrow(0, 0, 4));
  s.add(features.narrow(0, 4, 6), labels.narrow(0, 4, 6));
  EXPECT_EQ(s.count(), 10);
  EXPECT_TRUE(at::allclose(s.mean(), features.mean(0), 1e-12, 1e-12));
  EXPECT_TRUE(at::allclose(s.covariance(), at::cov(features.t()), 1e-10, 1e-12));
  // Class 0: share 0 once (bin 0), 0.75 once (bin 3), 1 eight times (bin 3).
  EXPECT_TRUE(at::equal(s.share_histogram()[0], at::tensor({1.0, 0.0, 0.0, 9.0}, at::kDouble)));
  EXPECT_TRUE(at::equal(s.share_histogram()[1], at::tensor({9.0, 0.0, 0.0, 1.0}, at::kDouble)));
  EXPECT_TRUE(at::equal(s.share_histogram()[2], at::tensor({9.0, 1.0, 0.0, 0.0}, at::kDouble)));
  const QualityFigures same = compare(s, s);
  EXPECT_NEAR(same.frechet, 0.0, 1e-8);
  EXPECT_EQ(same.share_distance, 0.0);
}

// Real images written from generator A at other latents: A's images are closer to them
// than those of B, a generator with other weights.
TEST(GanQuality, ProbeFindsAGeneratorCloserToItsOwnImagesThanAnother) {
  const std::string dir = test::scratch_dir("gan_quality_probe");
  const stylegan2::Generator a = stylegan2::init_generator(test::tiny_generator_architecture(), 1);
  const stylegan2::Generator b = stylegan2::init_generator(test::tiny_generator_architecture(), 2);
  std::filesystem::create_directories(dir + "/real");
  {
    at::NoGradGuard no_grad;
    std::vector<int64_t> samples(64);
    for (int64_t i = 0; i < 64; ++i) samples[static_cast<size_t>(i)] = i;
    const at::Tensor ws = a.broadcast(a.map(sampling::random_latents(16, 999, samples, Stream::Latent)));
    const at::Tensor images = a.synthesize(ws, stylegan2::Noise::explicit_tensors(
                                                   sampling::random_noise(a.architecture(), 999, samples))).image;
    const at::Tensor pixels = ((images.clamp(-1, 1) + 1) * 127.5).round().to(at::kByte).permute({0, 2, 3, 1}).contiguous();
    for (int64_t i = 0; i < 64; ++i) write_png(dir + "/real/" + std::to_string(1000 + i) + ".png", pixels[i]);
  }
  const std::string model = test::write_random_segmenter(dir + "/seg.pt", {"background", "a", "b"}, 16, 5);
  const train::TrainingImages real(dir + "/real", 16);
  comm::LocalCommunicator comm;
  stages::GanQualityProbe probe(model, real, 64, 0, c10::Device(c10::kCPU), comm);
  const QualityFigures own = probe.measure(a, comm), other = probe.measure(b, comm);
  EXPECT_GT(own.frechet, 0.0);
  EXPECT_LT(own.frechet * 2, other.frechet) << own.frechet << " vs " << other.frechet;
  EXPECT_EQ(probe.classes().size(), 3u);
  EXPECT_EQ(own.share_distance_per_class.size(), 3u);
  // The same generator measured twice: the same images, the same figures.
  EXPECT_DOUBLE_EQ(probe.measure(a, comm).frechet, own.frechet);
}

}  // namespace
}  // namespace styleseg::evaluate
