#include "evaluate/gan_quality.h"

#include <ATen/ATen.h>

#include "core/error.h"
#include "mpi/communicator.h"

namespace styleseg::evaluate {

QualityStatistics::QualityStatistics(int64_t feature_dim, int64_t classes, int64_t share_bins)
    : sum_(at::zeros({feature_dim}, at::kDouble)),
      outer_(at::zeros({feature_dim, feature_dim}, at::kDouble)),
      count_(at::zeros({1}, at::kDouble)),
      histogram_(at::zeros({classes, share_bins}, at::kDouble)) {}

void QualityStatistics::add(const at::Tensor& features, const at::Tensor& labels) {
  STYLESEG_CHECK(features.dim() == 2 && features.size(1) == sum_.size(0) && labels.dim() == 3 &&
                     labels.size(0) == features.size(0),
                 Error, "QualityStatistics::add: expected features [B, " + std::to_string(sum_.size(0)) + "] and labels [B, H, W]");
  const at::Tensor f = features.detach().to(at::kCPU, at::kDouble);
  sum_ += f.sum(0);
  outer_ += at::matmul(f.t(), f);
  count_ += static_cast<double>(f.size(0));
  const int64_t classes = histogram_.size(0), bins = histogram_.size(1);
  const at::Tensor shares = at::one_hot(labels.to(at::kCPU, at::kLong).flatten(1), classes).to(at::kDouble).mean(1);  // [B, K]
  const at::Tensor bin = (shares * static_cast<double>(bins)).floor().clamp(0, bins - 1).to(at::kLong);         // [B, K]
  const at::Tensor row = at::arange(classes, at::kLong).unsqueeze(0).expand_as(bin);
  histogram_.view({-1}).index_add_(0, (row * bins + bin).flatten(), at::ones({bin.numel()}, at::kDouble));
}

void QualityStatistics::allreduce(comm::Communicator& comm) {
  for (at::Tensor* t : {&sum_, &outer_, &count_, &histogram_}) {
    at::Tensor shared = t->to(comm.device());
    comm.allreduce(shared);
    *t = shared.to(at::kCPU);
  }
}

int64_t QualityStatistics::count() const { return static_cast<int64_t>(count_.item<double>()); }

at::Tensor QualityStatistics::mean() const { return sum_ / count_; }

at::Tensor QualityStatistics::covariance() const {
  const double n = count_.item<double>();
  STYLESEG_CHECK(n >= 2, Error, "QualityStatistics: a covariance needs at least 2 images");
  const at::Tensor mu = mean();
  return (outer_ - at::outer(mu, mu) * n) / (n - 1);
}

double frechet_distance(const at::Tensor& mean1, const at::Tensor& cov1, const at::Tensor& mean2, const at::Tensor& cov2) {
  const at::Tensor c1 = cov1.to(at::kDouble), c2 = cov2.to(at::kDouble);
  const auto eig = at::linalg_eigh(c1);
  const at::Tensor& vectors = std::get<1>(eig);
  const at::Tensor root1 = at::matmul(vectors * std::get<0>(eig).clamp_min(0).sqrt().unsqueeze(0), vectors.t());
  at::Tensor middle = at::matmul(at::matmul(root1, c2), root1);
  middle = (middle + middle.t()) / 2;  // symmetric up to rounding
  const double trace_root = at::linalg_eigvalsh(middle).clamp_min(0).sqrt().sum().item<double>();
  const double mean_term = (mean1.to(at::kDouble) - mean2.to(at::kDouble)).pow(2).sum().item<double>();
  return mean_term + c1.trace().item<double>() + c2.trace().item<double>() - 2 * trace_root;
}

double wasserstein_from_histograms(const at::Tensor& histogram1, const at::Tensor& histogram2) {
  STYLESEG_ASSERT(histogram1.sizes() == histogram2.sizes() && histogram1.dim() == 1,
                  "wasserstein_from_histograms: two histograms of the same bins");
  const at::Tensor cdf1 = (histogram1.to(at::kDouble) / histogram1.sum()).cumsum(0);
  const at::Tensor cdf2 = (histogram2.to(at::kDouble) / histogram2.sum()).cumsum(0);
  return (cdf1 - cdf2).abs().sum().item<double>() / static_cast<double>(histogram1.size(0));
}

QualityFigures compare(const QualityStatistics& real, const QualityStatistics& generated) {
  QualityFigures figures;
  figures.frechet = frechet_distance(real.mean(), real.covariance(), generated.mean(), generated.covariance());
  const at::Tensor hr = real.share_histogram(), hg = generated.share_histogram();
  for (int64_t k = 0; k < hr.size(0); ++k) figures.share_distance_per_class.push_back(wasserstein_from_histograms(hr[k], hg[k]));
  for (double d : figures.share_distance_per_class) figures.share_distance += d / static_cast<double>(hr.size(0));
  return figures;
}

}  // namespace styleseg::evaluate
