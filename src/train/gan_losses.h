// StyleGAN2's training objectives (rosinality train.py / NVlabs loss.py), as functions of
// the networks' outputs, for train-gan:
//   D: softplus(D(G(z))) + softplus(-D(x))      non-saturating logistic loss
//   G: softplus(-D(G(z)))
//   R1: |grad_x D(x)|^2 on real images (lazy: every k steps, scaled by gamma / 2 * k)
//   path length: | J_w^T y |, y ~ N(0, I) / sqrt(H W), pulled towards its running mean
// Random draws are the caller's (passed in), so that every rank and a resumed run draw the
// same numbers from their own keyed streams.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace styleseg::train {

at::Tensor discriminator_logistic_loss(const at::Tensor& real_scores, const at::Tensor& fake_scores);
at::Tensor generator_nonsaturating_loss(const at::Tensor& fake_scores);

// Mean over the batch of |d sum(scores) / d images|^2; `images` must require grad and
// `scores` come from them. The result can be back-propagated (double backward).
at::Tensor r1_penalty(const at::Tensor& real_scores, const at::Tensor& images);

struct PathLength {
  at::Tensor penalty;      // mean of (length - new running mean)^2, back-propagatable
  at::Tensor lengths;      // [B], detached
  double running_mean = 0;
};
// images [B, C, H, W] from `ws` [B, num_ws, w_dim] (requiring grad); `noise` shaped like
// images, N(0, 1) (divided by sqrt(H W) here). `running_mean` moves by `decay` towards the
// batch mean.
PathLength path_length_penalty(const at::Tensor& images, const at::Tensor& ws, const at::Tensor& noise,
                               double running_mean, double decay = 0.01);

// The EMA decay for one step of `batch` images: a half-life of `half_life_images`, ramped
// up as NVlabs stylegan2-ada does (half-life min(half_life, rampup * images seen so far);
// rampup <= 0: none), so that a short training's EMA generator is not dominated by its
// random initial weights.
double ema_beta(int64_t batch, double half_life_images, double rampup, int64_t images_seen);

// ema = beta * ema + (1 - beta) * current, tensor by tensor (no autograd).
void ema_update(const std::vector<at::Tensor>& ema, const std::vector<at::Tensor>& current, double beta);

}  // namespace styleseg::train
