#include "io/visualize.h"

#include <ATen/ATen.h>

#include "core/error.h"

namespace styleseg {

at::Tensor features_to_rgb(const at::Tensor& features) {
  STYLESEG_CHECK(features.dim() == 4 && features.size(1) >= 1, Error, "features_to_rgb: expected [N, C, h, w] features");
  const int64_t n = features.size(0), c = features.size(1), h = features.size(2), w = features.size(3);
  at::Tensor x = features.to(at::kCPU, at::kDouble).permute({0, 2, 3, 1}).reshape({-1, c});
  // Statistics from at most ~65k pixels (evenly strided: deterministic).
  const int64_t stride = std::max<int64_t>(1, x.size(0) / 65536);
  at::Tensor sample = x.slice(0, 0, x.size(0), stride);
  at::Tensor mean = sample.mean(0, true);
  at::Tensor centred = sample - mean;
  at::Tensor cov = at::matmul(centred.t(), centred) / std::max<int64_t>(1, centred.size(0) - 1);
  auto [eigenvalues, eigenvectors] = at::linalg_eigh(cov);
  const int64_t k = std::min<int64_t>(3, c);
  at::Tensor basis = eigenvectors.narrow(1, c - k, k).flip({1});  // largest first
  at::Tensor projected = at::matmul(x - mean, basis);             // [pixels, k]
  at::Tensor sample_proj = at::matmul(centred, basis);
  at::Tensor lo = at::quantile(sample_proj, 0.01, 0).unsqueeze(0);
  at::Tensor hi = at::quantile(sample_proj, 0.99, 0).unsqueeze(0);
  // One scale for all components (the widest spread), each centred on its own range: a
  // weak component stays near grey instead of stretching noise to full colour.
  const at::Tensor span = (hi - lo).max() + 1e-12;
  at::Tensor scaled = ((projected - (lo + hi) / 2) / span + 0.5).clamp(0, 1) * 255.0;
  if (k < 3) scaled = at::cat({scaled, scaled.narrow(1, 0, 1).expand({-1, 3 - k})}, 1);
  return scaled.round().to(at::kByte).reshape({n, h, w, 3}).contiguous();
}

}  // namespace styleseg
