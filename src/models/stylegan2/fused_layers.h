// The synthesis layers fused for inference on the CPU: the same functions as generator.cpp's
// ATen path (which autograd, GPUs, bfloat16 and the parity captures use), computed with fewer
// passes over memory and with the up-sampling convolution split by output phase.
//
// Why (tools/bench/bench_generator, README "Benchmarks"): on the CPU the up-sampling layers
// (transposed 3x3 stride-2 convolution, then the 4x4 FIR blur) ran at a quarter of the
// machine's convolution peak. oneDNN's transposed convolution is slower than its plain one,
// the depthwise blur is memory-bound, and at batch 8 their large outputs are fresh memory
// every call. Here:
//  - the transposed convolution is four plain convolutions, one per output phase (even or
//    odd row x even or odd column: 2x2, 2x1, 1x2 and 1x1 taps of the 3x3 kernel, the same 9
//    multiply-adds per input pixel), a few images at a time so their outputs stay small;
//  - one pass then interleaves the phases, blurs, and applies the layer's end (demodulation,
//    noise, bias, leaky ReLU, gain, clamp) while each channel's plane is in cache;
//  - the plain layers apply that end in one pass instead of five;
//  - ToRGB folds the style into its 1x1 weights (one batched matrix product) instead of
//    scaling the whole input.
// Rounding differs from the ATen path only in the order of the convolutions' and the blur's
// sums (tests/unit/test_fused_layers.cpp compares both in float64 and against the references).
#pragma once

#include <ATen/core/Tensor.h>

#include <optional>

namespace styleseg::stylegan2::fused {

// Whether the fused path computes a layer on `x`: CPU, float32 or float64, autograd off.
bool applies(const at::Tensor& x);

// What follows a modulated convolution, element by element:
//   out = clamp(leaky_relu(y * demod[b, c] + noise[b, h, w] * noise_strength + bias[c]) * sqrt(2))
struct LayerEnd {
  at::Tensor demod;           // [B, C]
  at::Tensor noise;           // [B or 1, 1, H, W]; undefined: no noise
  at::Tensor noise_strength;  // 0-dim
  at::Tensor bias;            // [C]
  std::optional<double> clamp;
};

// The 3x3 modulated convolution (stride 1, padding 1) of the already modulated input, then
// the layer's end.
at::Tensor conv3x3(const at::Tensor& modulated_input, const at::Tensor& weight, const LayerEnd& end);

// The taps of a 3x3 kernel ([out, in, 3, 3]) that reach each output phase of its stride-2
// transposed convolution, as plain convolution kernels ([out, in, 2, 2], [.., 2, 1], [.., 1, 2],
// [.., 1, 1]). Made every call (0.4 ms for 512 x 512 channels): a cache keyed on the
// weight would miss the raw in-place writes of the optimiser and of collectives.
struct PhaseKernels {
  at::Tensor even_even, even_odd, odd_even, odd_odd;
};
PhaseKernels phase_kernels(const at::Tensor& weight);

// The up-sampling layer: the stride-2 transposed 3x3 convolution of the modulated input
// with `kernels` (phase_kernels of the layer's [out, in, 3, 3] weight), the FIR blur `fir`
// ([4, 4], true convolution, padding 1 on each side), then the layer's end. [B, in, H, W] ->
// [B, out, 2H, 2W].
at::Tensor upsample_conv3x3(const at::Tensor& modulated_input, const PhaseKernels& kernels, const at::Tensor& fir,
                            const LayerEnd& end);

// ToRGB: the 1x1 convolution of `x` modulated by `styles` ([B, in], gain applied), plus bias,
// optionally clamped. [B, in, H, W] -> [B, 3, H, W].
at::Tensor to_rgb(const at::Tensor& x, const at::Tensor& styles, const at::Tensor& weight, const at::Tensor& bias,
                  std::optional<double> clamp);

}  // namespace styleseg::stylegan2::fused
