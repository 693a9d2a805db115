#include "models/stylegan2/ops.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <cmath>

namespace styleseg::stylegan2 {
namespace {

// Named arrays: brace lists like {0, 0} would also match conv2d's string-padding overload.
const int64_t kZeros[2] = {0, 0};
const int64_t kOnes[2] = {1, 1};

}  // namespace

// In place without autograd: about a quarter of the generator's memory traffic on CPU.
at::Tensor bias_leaky_relu(at::Tensor x, const at::Tensor& bias, std::optional<double> clamp) {
  std::vector<int64_t> shape(x.dim(), 1);
  shape[1] = bias.size(0);
  if (!c10::GradMode::is_enabled()) {
    x.add_(bias.view(shape));
    at::leaky_relu_(x, kLeakyReluSlope);
    x.mul_(kLeakyReluGain);
    if (clamp) x.clamp_(-*clamp, *clamp);
    return x;
  }
  at::Tensor y = at::leaky_relu(x + bias.view(shape), kLeakyReluSlope) * kLeakyReluGain;
  if (clamp) y = at::clamp(y, -*clamp, *clamp);
  return y;
}

at::Tensor fir_filter(const at::Tensor& x, const at::Tensor& fir, int64_t pad0, int64_t pad1) {
  at::Tensor y = at::constant_pad_nd(x, {pad0, pad1, pad0, pad1}, 0.0);
  const int64_t channels = x.size(1);
  at::Tensor kernel = at::flip(fir, {0, 1}).to(x.scalar_type()).view({1, 1, fir.size(0), fir.size(1)});
  return at::conv2d(y, kernel.expand({channels, 1, fir.size(0), fir.size(1)}), {}, /*stride=*/kOnes, /*padding=*/kZeros, /*dilation=*/kOnes,
                    channels);
}

at::Tensor fir_upsample2x(const at::Tensor& x, const at::Tensor& fir, int64_t pad0, int64_t pad1) {
  const auto b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  at::Tensor y = at::constant_pad_nd(x.reshape({b, c, h, 1, w, 1}), {0, 1, 0, 0, 0, 1}, 0.0);
  return fir_filter(y.reshape({b, c, h * 2, w * 2}), fir, pad0, pad1);
}

}  // namespace styleseg::stylegan2
