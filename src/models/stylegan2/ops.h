// The building blocks StyleGAN2's generator and discriminator share (rosinality's op/ and
// NVlabs' torch_utils/ops as plain ATen calls): bias + leaky ReLU with gain, FIR filtering
// with padding (upfirdn2d), and x2 up-sampling through it.
#pragma once

#include <ATen/core/Tensor.h>

#include <cmath>
#include <cstdint>
#include <optional>

namespace styleseg::stylegan2 {

// The activation of both references: leaky ReLU with this negative slope, times this gain.
constexpr double kLeakyReluSlope = 0.2;
inline const double kLeakyReluGain = std::sqrt(2.0);

// Bias (broadcast over dim 1), leaky ReLU (slope 0.2) with gain sqrt(2), optional clamp:
// rosinality FusedLeakyReLU, NVlabs bias_act(act='lrelu'). In place on `x` when autograd
// is off (the caller's temporary).
at::Tensor bias_leaky_relu(at::Tensor x, const at::Tensor& bias, std::optional<double> clamp);

// Depthwise FIR filter (true convolution, as upfirdn2d) with padding pad0 before and pad1
// after along both axes; negative padding crops. `fir` is [kh, kw].
at::Tensor fir_filter(const at::Tensor& x, const at::Tensor& fir, int64_t pad0, int64_t pad1);

// Zero-insertion x2 up-sampling followed by the FIR filter (upfirdn2d with up=2).
at::Tensor fir_upsample2x(const at::Tensor& x, const at::Tensor& fir, int64_t pad0, int64_t pad1);

}  // namespace styleseg::stylegan2
