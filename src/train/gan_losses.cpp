#include "train/gan_losses.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer includes it in LibTorch 2.x
#include <torch/csrc/autograd/autograd.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace styleseg::train {

at::Tensor discriminator_logistic_loss(const at::Tensor& real_scores, const at::Tensor& fake_scores) {
  return at::softplus(-real_scores).mean() + at::softplus(fake_scores).mean();
}

at::Tensor generator_nonsaturating_loss(const at::Tensor& fake_scores) { return at::softplus(-fake_scores).mean(); }

at::Tensor r1_penalty(const at::Tensor& real_scores, const at::Tensor& images) {
  const auto grads = torch::autograd::grad({real_scores.sum()}, {images}, {}, /*retain_graph=*/true, /*create_graph=*/true);
  return grads[0].pow(2).reshape({grads[0].size(0), -1}).sum(1).mean();
}

PathLength path_length_penalty(const at::Tensor& images, const at::Tensor& ws, const at::Tensor& noise, double running_mean,
                               double decay) {
  STYLESEG_ASSERT(noise.sizes() == images.sizes(), "path_length_penalty: the noise must be shaped like the images");
  const double scale = 1.0 / std::sqrt(static_cast<double>(images.size(2) * images.size(3)));
  const auto grads =
      torch::autograd::grad({(images * (noise * scale)).sum()}, {ws}, {}, /*retain_graph=*/true, /*create_graph=*/true);
  const at::Tensor lengths = grads[0].pow(2).sum(2).mean(1).sqrt();  // [B]
  PathLength out;
  out.running_mean = running_mean + decay * (lengths.mean().item<double>() - running_mean);
  out.penalty = (lengths - out.running_mean).pow(2).mean();
  out.lengths = lengths.detach();
  return out;
}

double ema_beta(int64_t batch, double half_life_images, double rampup, int64_t images_seen) {
  double half_life = half_life_images;
  if (rampup > 0) half_life = std::min(half_life, rampup * static_cast<double>(images_seen));
  return std::pow(0.5, static_cast<double>(batch) / std::max(half_life, 1e-8));
}

void ema_update(const std::vector<at::Tensor>& ema, const std::vector<at::Tensor>& current, double beta) {
  STYLESEG_ASSERT(ema.size() == current.size(), "ema_update: the two lists differ in length");
  if (ema.empty()) return;   // the _foreach_ operations refuse an empty list
  at::NoGradGuard no_grad;  // `current` enters no graph: no detach needed
  // Two fused operations over the lists (one kernel each on a GPU), not two per tensor.
  at::_foreach_mul_(ema, at::Scalar(beta));
  at::_foreach_add_(ema, current, at::Scalar(1 - beta));
}

}  // namespace styleseg::train
