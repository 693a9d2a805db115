// How close a generator's images are to real ones, measured without any downloaded network
// (issue 6): a segmenter trained on the real images stands in for FID's Inception network.
//
//   Frechet distance   between Gaussian fits of the segmenter's backbone features (512
//                      channels, averaged over the image) of real and generated images:
//                      |mu_r - mu_g|^2 + tr(C_r + C_g - 2 (C_r C_g)^(1/2)), FID's formula.
//   pixel-share distance  for each class, the 1-D Wasserstein distance between the real
//                      and generated distributions of the share of an image's pixels the
//                      segmenter gives that class (how often eyes are closed, how large
//                      pupils are, ...); reported per class and as their mean.
//
// Both are accumulated as sums (features, their outer products, share histograms) so that
// ranks can each take a part of the images and one allreduce combines them.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace styleseg::comm {
class Communicator;
}

namespace styleseg::evaluate {

// The sums of one image set (real or generated), in float64 on the CPU.
class QualityStatistics {
 public:
  QualityStatistics(int64_t feature_dim, int64_t classes, int64_t share_bins = 1000);

  // features [B, D] (one vector per image), labels int64 [B, H, W].
  void add(const at::Tensor& features, const at::Tensor& labels);
  // Collective: every rank ends with the sums over all ranks.
  void allreduce(comm::Communicator& comm);

  int64_t count() const;
  at::Tensor mean() const;         // [D]
  at::Tensor covariance() const;   // [D, D], unbiased; needs count() >= 2
  at::Tensor share_histogram() const { return histogram_; }  // [classes, bins], counts

 private:
  at::Tensor sum_, outer_, count_, histogram_;
};

// |mu1 - mu2|^2 + tr(C1) + tr(C2) - 2 tr((C1 C2)^(1/2)), with tr((C1 C2)^(1/2)) from the
// eigenvalues of C1^(1/2) C2 C1^(1/2) (symmetric, so exact for singular covariances too).
double frechet_distance(const at::Tensor& mean1, const at::Tensor& cov1, const at::Tensor& mean2, const at::Tensor& cov2);

// Wasserstein-1 distance between two distributions on [0, 1] given as histograms of equal
// bins: the integral of |CDF1 - CDF2|.
double wasserstein_from_histograms(const at::Tensor& histogram1, const at::Tensor& histogram2);

struct QualityFigures {
  double frechet = 0;
  double share_distance = 0;                 // mean over classes
  std::vector<double> share_distance_per_class;
};
QualityFigures compare(const QualityStatistics& real, const QualityStatistics& generated);

}  // namespace styleseg::evaluate
