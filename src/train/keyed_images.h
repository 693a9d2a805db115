// The generator's images during GAN training and its quality checks: every random input of a
// batch (latents, noise, the style-mixing decision) drawn from streams keyed by one number, so
// that a step's fakes are the same after a resume and on any number of ranks.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "models/stylegan2/generator.h"

namespace styleseg::train {

// Images of `g` for the global samples `samples`, everything drawn from streams keyed by
// `key`: z, per-sample noise and, with probability `mixing` (one decision per call, as
// rosinality draws one per batch), a second z from a random crossover layer on. Runs with
// autograd as the caller's mode is; `ws_require_grad` makes ws leaves that require grad
// (the path-length term differentiates with respect to them).
struct KeyedImages {
  at::Tensor images;  // float [n, 3, H, W], the generator's output
  at::Tensor ws;      // [n, num_ws, w_dim]
};
KeyedImages keyed_images(const stylegan2::Generator& g, uint64_t key, const std::vector<int64_t>& samples, double mixing,
                         c10::Device device, bool ws_require_grad = false);

}  // namespace styleseg::train
