#include "models/stylegan2/generator.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <cmath>

#include "core/error.h"
#include "core/seeding.h"
#include "models/stylegan2/fused_layers.h"
#include "models/stylegan2/ops.h"

namespace styleseg::stylegan2 {
namespace {

constexpr double kDemodEps = 1e-8;      // both references: rsqrt(sum(w^2) + 1e-8)
constexpr double kPixelNormEps = 1e-8;  // PixelNorm / normalize_2nd_moment
// Named arrays: brace lists like {0, 0} would also match conv2d's string-padding overload.
const int64_t kZeros[2] = {0, 0};
const int64_t kOnes[2] = {1, 1};
const int64_t kTwos[2] = {2, 2};

void emit(const ActivationSink* sink, const std::string& name, const at::Tensor& value) {
  if (sink) (*sink)(name, value);
}

at::Tensor dense(const DenseWeights& layer, const at::Tensor& x) {
  return at::addmm(layer.bias * layer.bias_gain, x, (layer.weight * layer.weight_gain).t());
}

// The stride-2 transposed convolution of the up-sampling layers. LibTorch 1.13's CPU
// bfloat16 transposed convolution returns a wrong shape ([B, C, 1, 1] for a 4x4 input), so
// on the CPU a bfloat16 one runs in float32 and is rounded back.
at::Tensor transposed_conv_stride2(const at::Tensor& x, const at::Tensor& weight) {
  if (x.is_cpu() && x.scalar_type() == at::kBFloat16)
    return at::conv_transpose2d(x.to(at::kFloat), weight.to(at::kFloat), {}, kTwos, kZeros).to(at::kBFloat16);
  return at::conv_transpose2d(x, weight, {}, /*stride=*/kTwos, /*padding=*/kZeros);
}

}  // namespace

Generator::Generator(Architecture arch, Layout layout, GeneratorWeights weights, GeneratorSettings settings)
    : arch_(std::move(arch)), layout_(layout), weights_(std::move(weights)), settings_(settings) {
  STYLESEG_ASSERT(static_cast<int>(weights_.convs.size()) == arch_.num_conv_layers(),
                  "generator: expected " + std::to_string(arch_.num_conv_layers()) + " conv layers, got " +
                     std::to_string(weights_.convs.size()));
  STYLESEG_ASSERT(static_cast<int>(weights_.to_rgbs.size()) == arch_.log2_resolution() - 1,
                  "generator: wrong number of ToRGB layers");
}

namespace {
void move_tensor(at::Tensor& t, c10::Device device, c10::ScalarType dtype) {
  if (!t.defined()) return;
  t = t.is_floating_point() ? t.to(device, dtype) : t.to(device);
}
void move_dense(DenseWeights& d, c10::Device device, c10::ScalarType dtype) {
  move_tensor(d.weight, device, dtype);
  move_tensor(d.bias, device, dtype);
}
}  // namespace

void Generator::to(c10::Device device, c10::ScalarType dtype) {
  for (auto& layer : weights_.mapping) move_dense(layer, device, dtype);
  move_tensor(weights_.constant_input, device, dtype);
  for (auto& conv : weights_.convs) {
    move_dense(conv.affine, device, dtype);
    for (at::Tensor* t : {&conv.weight, &conv.bias, &conv.noise_strength, &conv.noise_const, &conv.fir})
      move_tensor(*t, device, dtype);
  }
  for (auto& rgb : weights_.to_rgbs) {
    move_dense(rgb.affine, device, dtype);
    for (at::Tensor* t : {&rgb.weight, &rgb.bias, &rgb.fir}) move_tensor(*t, device, dtype);
  }
  // The truncation centre stays float32 (it is a statistic, not a weight).
  if (weights_.w_avg.defined()) weights_.w_avg = weights_.w_avg.to(device, at::kFloat);
}

Generator Generator::clone() const {
  GeneratorWeights w = weights_;
  auto copy = [](at::Tensor& t) {
    if (t.defined()) t = t.detach().clone();
  };
  auto copy_dense = [&](DenseWeights& d) { copy(d.weight), copy(d.bias); };
  for (auto& d : w.mapping) copy_dense(d);
  copy(w.constant_input);
  copy(w.w_avg);
  for (auto& c : w.convs) {
    copy_dense(c.affine);
    for (at::Tensor* t : {&c.weight, &c.bias, &c.noise_strength, &c.noise_const, &c.fir}) copy(*t);
  }
  for (auto& rgb : w.to_rgbs) {
    copy_dense(rgb.affine);
    for (at::Tensor* t : {&rgb.weight, &rgb.bias, &rgb.fir}) copy(*t);
  }
  return Generator(arch_, layout_, std::move(w), settings_);
}

std::vector<at::Tensor> Generator::trainable_weights() const {
  std::vector<at::Tensor> out;
  auto dense = [&](const DenseWeights& d) { out.insert(out.end(), {d.weight, d.bias}); };
  for (const auto& d : weights_.mapping) dense(d);
  out.push_back(weights_.constant_input);
  for (const auto& c : weights_.convs) {
    dense(c.affine);
    out.insert(out.end(), {c.weight, c.bias, c.noise_strength});
  }
  for (const auto& rgb : weights_.to_rgbs) {
    dense(rgb.affine);
    out.insert(out.end(), {rgb.weight, rgb.bias});
  }
  return out;
}

c10::Device Generator::device() const { return weights_.constant_input.device(); }
c10::ScalarType Generator::dtype() const { return weights_.constant_input.scalar_type(); }

at::Tensor Generator::map(const at::Tensor& z, const ActivationSink* sink) const {
  STYLESEG_CHECK(z.dim() == 2 && z.size(1) == arch_.z_dim, InputError,
                 "latent z must have shape [N, " + std::to_string(arch_.z_dim) + "], got " +
                     std::to_string(z.dim()) + "-d tensor");
  at::Tensor x = z.to(device(), dtype());
  // PixelNorm (rosinality) = normalize_2nd_moment (NVlabs).
  x = x * at::rsqrt(at::mean(x * x, {1}, /*keepdim=*/true) + kPixelNormEps);
  if (layout_ == Layout::Rosinality) emit(sink, "style.0", x);
  for (size_t i = 0; i < weights_.mapping.size(); ++i) {
    const DenseWeights& layer = weights_.mapping[i];
    x = at::matmul(x, (layer.weight * layer.weight_gain).t());
    x = bias_leaky_relu(x, layer.bias * layer.bias_gain, std::nullopt);
    emit(sink, layout_ == Layout::Rosinality ? "style." + std::to_string(i + 1) : "mapping.fc" + std::to_string(i), x);
  }
  return x;
}

at::Tensor Generator::broadcast(const at::Tensor& w) const {
  return w.unsqueeze(1).expand({w.size(0), arch_.num_ws(), w.size(1)}).contiguous();
}

at::Tensor Generator::truncate(const at::Tensor& ws, double psi, const at::Tensor& centre) const {
  if (psi == 1.0) return ws;
  at::Tensor c = centre.defined() ? centre : weights_.w_avg;
  STYLESEG_CHECK(c.defined(), Error,
                 "truncation needs an average latent: the checkpoint has none; estimate one first");
  return at::lerp(c.to(ws.device(), ws.scalar_type()).expand_as(ws), ws, psi);
}

at::Tensor Generator::mix(const at::Tensor& ws_a, const at::Tensor& ws_b, int crossover) const {
  STYLESEG_CHECK(crossover >= 0 && crossover <= arch_.num_ws(), ConfigError,
                 "style-mixing crossover must be in [0, " + std::to_string(arch_.num_ws()) + "], got " +
                     std::to_string(crossover));
  return at::cat({ws_a.narrow(1, 0, crossover), ws_b.narrow(1, crossover, arch_.num_ws() - crossover)}, 1);
}

at::Tensor Generator::layer_noise(int layer, const Noise& noise, int64_t batch) const {
  switch (noise.mode) {
    case Noise::Mode::None:
      return {};
    case Noise::Mode::Constant:
      return weights_.convs[layer].noise_const.unsqueeze(0).unsqueeze(0);
    case Noise::Mode::Explicit: {
      STYLESEG_ASSERT(static_cast<int>(noise.per_layer.size()) == arch_.num_conv_layers(),
                      "explicit noise needs one tensor per conv layer (" + std::to_string(arch_.num_conv_layers()) + ")");
      return noise.per_layer[layer].to(device(), dtype());
    }
  }
  return {};
}

// Modulated 3x3 convolution with demodulation, computed in the non-fused form
// (modulate the activations, one shared-weight convolution for the whole batch, then
// demodulate the outputs), which is the same function as the grouped-convolution form of
// both references and keeps batches fast on CPU and GPU.
at::Tensor Generator::modulated_conv(const ModulatedConvWeights& layer, const at::Tensor& x, const at::Tensor& w,
                                     const at::Tensor& noise, const std::string& name,
                                     const ActivationSink* sink) const {
  at::Tensor styles = dense(layer.affine, w);  // [B, in]
  emit(sink, name + (layout_ == Layout::Rosinality ? ".conv.modulation" : ".affine"), styles);
  at::Tensor s = styles * layer.weight_gain;
  // d[b, o] = rsqrt(sum_{i,k} (W[o,i,k] * s[b,i])^2 + eps)
  at::Tensor w_sq = (layer.weight * layer.weight).sum({2, 3});  // [out, in]
  at::Tensor demod = at::rsqrt(at::matmul(s * s, w_sq.t()) + kDemodEps);  // [B, out]
  at::Tensor y = x * s.unsqueeze(2).unsqueeze(3);
  if (fused::applies(y)) {  // the same function in fewer passes (fused_layers.h)
    const fused::LayerEnd end{demod, noise, layer.noise_strength, layer.bias, settings_.conv_clamp};
    y = layer.upsample ? fused::upsample_conv3x3(y, fused::phase_kernels(layer.weight), layer.fir, end) : fused::conv3x3(y, layer.weight, end);
    emit(sink, name, y);
    return y;
  }
  if (layer.upsample) {
    // Transposed conv with stride 2, then the FIR blur with padding (1, 1): rosinality
    // ModulatedConv2d(upsample=True) + Blur, NVlabs conv2d_resample(up=2).
    y = transposed_conv_stride2(y, layer.weight.transpose(0, 1));
    y = fir_filter(y, layer.fir, 1, 1);
  } else {
    y = at::conv2d(y, layer.weight, {}, /*stride=*/kOnes, /*padding=*/kOnes);
  }
  const bool in_place = !c10::GradMode::is_enabled();  // y is our own temporary
  y = in_place ? y.mul_(demod.unsqueeze(2).unsqueeze(3)) : y * demod.unsqueeze(2).unsqueeze(3);
  if (layout_ == Layout::Rosinality) emit(sink, name + ".conv", y);
  if (noise.defined()) y = in_place ? y.add_(noise * layer.noise_strength) : y + noise * layer.noise_strength;
  y = bias_leaky_relu(y, layer.bias, settings_.conv_clamp);
  emit(sink, name, y);
  return y;
}

at::Tensor Generator::to_rgb(const ToRgbWeights& layer, const at::Tensor& x, const at::Tensor& w,
                             const std::string& name, const ActivationSink* sink) const {
  at::Tensor styles = dense(layer.affine, w);
  emit(sink, name + (layout_ == Layout::Rosinality ? ".conv.modulation" : ".affine"), styles);
  at::Tensor s = styles * layer.style_gain;
  if (fused::applies(x)) return fused::to_rgb(x, s, layer.weight, layer.bias, settings_.conv_clamp);
  at::Tensor y = at::conv2d(x * s.unsqueeze(2).unsqueeze(3), layer.weight);
  if (layout_ == Layout::Rosinality) emit(sink, name + ".conv", y);
  y = y + layer.bias.view({1, -1, 1, 1});
  if (settings_.conv_clamp) y = at::clamp(y, -*settings_.conv_clamp, *settings_.conv_clamp);
  return y;
}

SynthesisResult Generator::synthesize(const at::Tensor& ws_in, const Noise& noise, int feature_layer,
                                      const ActivationSink* sink) const {
  STYLESEG_CHECK(ws_in.dim() == 3 && ws_in.size(1) == arch_.num_ws() && ws_in.size(2) == arch_.w_dim, InputError,
                 "per-layer latents must have shape [N, " + std::to_string(arch_.num_ws()) + ", " +
                     std::to_string(arch_.w_dim) + "]");
  STYLESEG_CHECK(feature_layer < arch_.num_conv_layers(), ConfigError,
                 "feature layer " + std::to_string(feature_layer) + " does not exist");
  const at::Tensor ws = ws_in.to(device(), dtype());
  const int64_t batch = ws.size(0);
  const bool rosinality = layout_ == Layout::Rosinality;
  SynthesisResult result;

  at::Tensor x = weights_.constant_input.unsqueeze(0).expand({batch, -1, -1, -1});
  if (rosinality) emit(sink, "input", x);
  auto run_conv = [&](int layer) {
    x = modulated_conv(weights_.convs[layer], x, ws.select(1, layer), layer_noise(layer, noise, batch),
                       conv_layer_name(layout_, layer), sink);
    if (layer == feature_layer) result.features = x;
  };

  run_conv(0);
  at::Tensor image = to_rgb(weights_.to_rgbs[0], x, ws.select(1, 1), to_rgb_name(layout_, 4), sink);
  if (rosinality) {
    emit(sink, "to_rgb1", image);
  } else {
    emit(sink, "synthesis.b4.torgb", image);
    emit(sink, "synthesis.b4:x", x);
    emit(sink, "synthesis.b4:img", image);
  }

  for (int block = 1; block < arch_.log2_resolution() - 1; ++block) {
    const int res = 4 << block;
    run_conv(2 * block - 1);
    run_conv(2 * block);
    const ToRgbWeights& rgb = weights_.to_rgbs[block];
    const std::string rgb_name = to_rgb_name(layout_, res);
    // Skip connection: the running image is up-sampled with the FIR filter
    // (upfirdn2d up=2, padding (2, 1)) and the block's ToRGB output added.
    at::Tensor skip = fir_upsample2x(image, rgb.fir, 2, 1);
    if (rosinality) emit(sink, rgb_name + ".upsample", skip);
    at::Tensor y = to_rgb(rgb, x, ws.select(1, 2 * block + 1), rgb_name, sink);
    if (rosinality) {
      image = y + skip;
      emit(sink, rgb_name, image);
    } else {
      emit(sink, rgb_name, y);
      image = skip + y;
      const std::string block_name = "synthesis.b" + std::to_string(res);
      emit(sink, block_name + ":x", x);
      emit(sink, block_name + ":img", image);
    }
  }
  result.image = image;
  return result;
}

at::Tensor Generator::estimate_average_latent(int count, uint64_t seed) const {
  STYLESEG_CHECK(count > 0, ConfigError, "the number of samples for the average latent must be positive");
  at::Tensor sum = at::zeros({arch_.w_dim}, at::kDouble);
  const int batch = 256;
  for (int start = 0; start < count; start += batch) {
    const int n = std::min(batch, count - start);
    at::Tensor z = at::empty({n, arch_.z_dim}, at::kFloat);
    for (int i = 0; i < n; ++i)
      SampleRng(seed, static_cast<uint64_t>(start + i), Stream::AverageLatent)
          .fill_normal(z[i].data_ptr<float>(), static_cast<size_t>(arch_.z_dim));
    sum += map(z.to(device())).to(at::kCPU, at::kDouble).sum(0);  // z is drawn on the CPU
  }
  return (sum / count).to(at::kFloat);
}

}  // namespace styleseg::stylegan2
