// A StyleGAN2 generator (config-e/f "skip" architecture) as plain ATen operations, so that
// the same code runs rosinality and NVlabs checkpoints, on CPU and GPU, with autograd when
// weights require grad. Weights are kept in the units of the checkpoint they came from
// (with the gains that layout applies at run time), so results match the reference code.
//
//   Generator g = load_generator("ffhq.pt");           // models/stylegan2/checkpoint.h
//   at::Tensor w = g.map(z);                           // [B, w_dim]
//   at::Tensor ws = g.truncate(g.broadcast(w), 0.7);   // [B, num_ws, w_dim]
//   at::Tensor img = g.synthesize(ws, Noise::constant()).image;   // [B, 3, R, R], about [-1, 1]
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "models/state_dict.h"
#include "models/stylegan2/architecture.h"

namespace styleseg::stylegan2 {

// Receives activations named by the module paths of the checkpoint's layout.
using ActivationSink = models::ActivationSink;

// Per-layer noise of the synthesis network.
struct Noise {
  enum class Mode { Constant, None, Explicit };
  Mode mode = Mode::Constant;
  std::vector<at::Tensor> per_layer;  // Explicit: one [B, 1, R, R] per conv layer

  static Noise constant() { return {Mode::Constant, {}}; }
  static Noise none() { return {Mode::None, {}}; }
  static Noise explicit_tensors(std::vector<at::Tensor> tensors) { return {Mode::Explicit, std::move(tensors)}; }
};

struct SynthesisResult {
  at::Tensor image;     // [B, 3, R, R] before clamping
  at::Tensor features;  // output of the requested conv layer, or undefined
};

// ---- weights ---------------------------------------------------------------------------
struct DenseWeights {     // y = x @ (weight * weight_gain)^T + bias * bias_gain
  at::Tensor weight;      // [out, in]
  at::Tensor bias;        // [out]
  double weight_gain = 1.0;
  double bias_gain = 1.0;
};

struct ModulatedConvWeights {   // one StyledConv (rosinality) / SynthesisLayer (NVlabs)
  DenseWeights affine;          // w -> per-input-channel style s
  at::Tensor weight;            // [out, in, 3, 3]
  double weight_gain = 1.0;     // rosinality 1/sqrt(in*9); NVlabs 1 (demodulation cancels it)
  at::Tensor bias;              // [out]
  at::Tensor noise_strength;    // 0-dim
  at::Tensor noise_const;       // [R, R]
  at::Tensor fir;               // [4, 4] up-sampling blur, scaled to sum 4 (upsampling layers)
  bool upsample = false;
};

struct ToRgbWeights {
  DenseWeights affine;
  at::Tensor weight;            // [3, in, 1, 1]
  double style_gain = 1.0;      // 1/sqrt(in), no demodulation
  at::Tensor bias;              // [3]
  at::Tensor fir;               // [4, 4] skip up-sampling filter, scaled to sum 4
};

struct GeneratorWeights {
  std::vector<DenseWeights> mapping;
  at::Tensor constant_input;    // [C4, 4, 4]
  std::vector<ModulatedConvWeights> convs;   // conv layers 0..num_conv_layers-1
  std::vector<ToRgbWeights> to_rgbs;         // one per resolution 4..R
  at::Tensor w_avg;             // [w_dim] truncation centre, or undefined
};

// Run-time settings that the checkpoint does not store.
struct GeneratorSettings {
  double lr_mapping = 0.01;               // mapping learning-rate multiplier (lr_mlp / lr_multiplier)
  std::optional<double> conv_clamp;       // NVlabs clamps conv outputs to +-256; rosinality does not
};

class Generator {
 public:
  Generator(Architecture arch, Layout layout, GeneratorWeights weights, GeneratorSettings settings = {});

  const Architecture& architecture() const { return arch_; }
  Layout layout() const { return layout_; }
  bool has_average_latent() const { return weights_.w_avg.defined(); }
  const at::Tensor& average_latent() const { return weights_.w_avg; }
  void set_average_latent(at::Tensor w_avg) { weights_.w_avg = std::move(w_avg); }
  const GeneratorWeights& weights() const { return weights_; }
  GeneratorWeights& mutable_weights() { return weights_; }
  const GeneratorSettings& settings() const { return settings_; }

  // A copy with its own weight tensors (a plain copy shares them): the EMA generator.
  Generator clone() const;

  // The tensors training updates (mapping, constant input, convolutions, styles, biases,
  // noise strengths, ToRGB), in a fixed order; not the FIR kernels, the noise buffers or
  // the average latent.
  std::vector<at::Tensor> trainable_weights() const;

  // Moves every weight to `device` and floating weights to `dtype`.
  void to(c10::Device device, c10::ScalarType dtype);
  c10::Device device() const;
  c10::ScalarType dtype() const;

  // Mapping network: z [B, z_dim] -> w [B, w_dim].
  at::Tensor map(const at::Tensor& z, const ActivationSink* sink = nullptr) const;
  // w [B, w_dim] -> [B, num_ws, w_dim].
  at::Tensor broadcast(const at::Tensor& w) const;
  // ws [B, num_ws, w_dim] (or w [B, w_dim]) moved towards `centre` (default: the
  // checkpoint's average latent): centre + psi * (w - centre).
  at::Tensor truncate(const at::Tensor& ws, double psi, const at::Tensor& centre = {}) const;
  // Style mixing: layers < crossover take ws_a, the rest ws_b.
  at::Tensor mix(const at::Tensor& ws_a, const at::Tensor& ws_b, int crossover) const;

  // Synthesis network: per-layer latents -> image (and optionally one layer's features).
  // On the CPU in float32 / float64 without autograd the layers run fused (fused_layers.h):
  // the same function, and `sink` then sees each layer's styles and output but not the
  // references' intermediate captures inside a layer (rosinality's `.conv`).
  SynthesisResult synthesize(const at::Tensor& ws, const Noise& noise, int feature_layer = -1,
                             const ActivationSink* sink = nullptr) const;

  // Mean of the mapping network over `count` latents drawn from `seed` (core/seeding.h),
  // for checkpoints without an average latent.
  at::Tensor estimate_average_latent(int count, uint64_t seed) const;

 private:
  at::Tensor modulated_conv(const ModulatedConvWeights& layer, const at::Tensor& x, const at::Tensor& w,
                            const at::Tensor& noise, const std::string& name, const ActivationSink* sink) const;
  at::Tensor to_rgb(const ToRgbWeights& layer, const at::Tensor& x, const at::Tensor& w,
                    const std::string& name, const ActivationSink* sink) const;
  at::Tensor layer_noise(int layer, const Noise& noise, int64_t batch) const;

  Architecture arch_;
  Layout layout_;
  GeneratorWeights weights_;
  GeneratorSettings settings_;
};

}  // namespace styleseg::stylegan2
