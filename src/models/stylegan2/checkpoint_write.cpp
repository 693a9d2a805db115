// save_generator / init_generator: kept apart from the reader because the TorchScript
// pickler header is expensive to compile.
#include <ATen/ATen.h>

#include <cmath>

#include "core/error.h"
#include "core/seeding.h"
#include "io/torch_save.h"
#include "models/stylegan2/checkpoint.h"

namespace styleseg::stylegan2 {
namespace {

// Stored rosinality value of a weight that this generator applies with gain `gain`, when
// rosinality applies `rosinality_gain`: the product stays the same.
at::Tensor restore(const at::Tensor& weight, double gain, double rosinality_gain) {
  at::Tensor w = weight.to(at::kCPU, at::kFloat);
  return gain == rosinality_gain ? w.clone() : w * (gain / rosinality_gain);
}

}  // namespace

std::vector<std::pair<std::string, at::Tensor>> rosinality_state_dict(const Generator& generator) {
  const Architecture& arch = generator.architecture();
  const GeneratorWeights& wts = generator.weights();
  const double lr = generator.settings().lr_mapping;
  std::vector<std::pair<std::string, at::Tensor>> state;
  auto put = [&](const std::string& key, const at::Tensor& value) { state.emplace_back(key, value.detach().contiguous()); };

  for (size_t i = 0; i < wts.mapping.size(); ++i) {
    const DenseWeights& d = wts.mapping[i];
    const std::string p = "style." + std::to_string(i + 1);
    put(p + ".weight", restore(d.weight, d.weight_gain, lr / std::sqrt(static_cast<double>(d.weight.size(1)))));
    put(p + ".bias", restore(d.bias, d.bias_gain, lr));
  }
  put("input.input", wts.constant_input.to(at::kCPU, at::kFloat).unsqueeze(0));
  auto put_affine = [&](const std::string& p, const DenseWeights& d) {
    put(p + ".conv.modulation.weight", restore(d.weight, d.weight_gain, 1.0 / std::sqrt(static_cast<double>(arch.w_dim))));
    put(p + ".conv.modulation.bias", restore(d.bias, d.bias_gain, 1.0));
  };
  for (int layer = 0; layer < arch.num_conv_layers(); ++layer) {
    const ModulatedConvWeights& c = wts.convs[layer];
    const std::string p = conv_layer_name(Layout::Rosinality, layer);
    const double fan_in = static_cast<double>(c.weight.size(1) * c.weight.size(2) * c.weight.size(3));
    put_affine(p, c.affine);
    put(p + ".conv.weight", restore(c.weight, c.weight_gain, 1.0 / std::sqrt(fan_in)).unsqueeze(0));
    if (c.upsample) put(p + ".conv.blur.kernel", c.fir.to(at::kCPU, at::kFloat));
    put(p + ".noise.weight", c.noise_strength.to(at::kCPU, at::kFloat).reshape({1}));
    put(p + ".activate.bias", c.bias.to(at::kCPU, at::kFloat));
  }
  for (size_t k = 0; k < wts.to_rgbs.size(); ++k) {
    const ToRgbWeights& t = wts.to_rgbs[k];
    const std::string p = to_rgb_name(Layout::Rosinality, 4 << k);
    put_affine(p, t.affine);
    // Our ToRGB applies its gain to the style, rosinality to the weight: same product.
    put(p + ".conv.weight", restore(t.weight, t.style_gain, 1.0 / std::sqrt(static_cast<double>(t.weight.size(1)))).unsqueeze(0));
    put(p + ".bias", t.bias.to(at::kCPU, at::kFloat).view({1, 3, 1, 1}));
    if (k > 0) put(p + ".upsample.kernel", t.fir.to(at::kCPU, at::kFloat));
  }
  for (int layer = 0; layer < arch.num_conv_layers(); ++layer)
    put("noises.noise_" + std::to_string(layer), wts.convs[layer].noise_const.to(at::kCPU, at::kFloat).unsqueeze(0).unsqueeze(0));
  return state;
}

void save_generator(const Generator& generator, const std::string& path, at::ScalarType storage) {
  STYLESEG_CHECK(storage == at::kFloat || storage == at::kHalf, ConfigError,
                 "a generator is stored as float32 or float16, not " + std::string(c10::toString(storage)));
  c10::impl::GenericDict g_ema(c10::StringType::get(), c10::TensorType::get());
  for (const auto& [key, value] : rosinality_state_dict(generator)) g_ema.insert(key, value.to(storage));
  const double lr = generator.settings().lr_mapping;
  c10::impl::GenericDict meta(c10::StringType::get(), c10::AnyType::get());
  meta.insert("format", std::string("styleseg-stylegan2"));
  meta.insert("format_version", int64_t{1});
  meta.insert("lr_mlp", lr);
  meta.insert("source_layout", std::string(layout_name(generator.layout())));
  meta.insert("version", std::string(STYLESEG_VERSION));

  c10::impl::GenericDict root(c10::StringType::get(), c10::AnyType::get());
  root.insert("g_ema", g_ema);
  if (generator.has_average_latent()) root.insert("latent_avg", generator.average_latent().to(at::kCPU, at::kFloat).contiguous());
  root.insert("styleseg", meta);

  io::save_torch_file(path, root);
}

Generator init_generator(const Architecture& arch, uint64_t seed, double lr_mapping) {
  STYLESEG_CHECK(arch.resolution >= 4 && (arch.resolution & (arch.resolution - 1)) == 0, ConfigError,
                 "generator resolution must be a power of two >= 4, got " + std::to_string(arch.resolution));
  STYLESEG_CHECK(arch.z_dim > 0 && arch.w_dim > 0 && arch.mapping_layers > 0, ConfigError,
                 "generator z_dim, w_dim and mapping layers must be positive");
  uint64_t tensor_index = 0;
  auto randn = [&](std::vector<int64_t> shape) {
    at::Tensor t = at::empty(shape, at::kFloat);
    SampleRng(seed, tensor_index++, Stream::Generic).fill_normal(t.data_ptr<float>(), static_cast<size_t>(t.numel()));
    return t;
  };
  auto dense = [&](int64_t out, int64_t in, double bias_init, double lr) {
    DenseWeights d;
    d.weight = randn({out, in}) / lr;  // EqualLinear: randn / lr_mul
    d.bias = at::full({out}, bias_init / lr, at::kFloat);
    d.weight_gain = lr / std::sqrt(static_cast<double>(in));
    d.bias_gain = lr;
    return d;
  };
  // The blur kernel [1, 3, 3, 1] outer product, normalised, scaled by up^2 = 4.
  at::Tensor k1 = at::tensor(std::vector<float>{1, 3, 3, 1});
  at::Tensor fir = at::outer(k1, k1);
  fir = fir / fir.sum() * 4.0;

  GeneratorWeights w;
  for (int i = 0; i < arch.mapping_layers; ++i)
    w.mapping.push_back(dense(arch.w_dim, i == 0 ? arch.z_dim : arch.w_dim, 0.0, lr_mapping));
  w.constant_input = randn({arch.channels.at(4), 4, 4});
  for (int layer = 0; layer < arch.num_conv_layers(); ++layer) {
    const int64_t in = arch.conv_layer_in_channels(layer), out = arch.conv_layer_out_channels(layer);
    const int64_t res = arch.conv_layer_resolution(layer);
    ModulatedConvWeights c;
    c.affine = dense(in, arch.w_dim, 1.0, 1.0);
    c.weight = randn({out, in, 3, 3});
    c.weight_gain = 1.0 / std::sqrt(static_cast<double>(in * 9));
    c.bias = at::zeros({out}, at::kFloat);
    c.noise_strength = at::zeros({}, at::kFloat);
    c.noise_const = randn({res, res});
    c.upsample = arch.conv_layer_upsamples(layer);
    if (c.upsample) c.fir = fir.clone();
    w.convs.push_back(c);
  }
  for (int res = 4; res <= arch.resolution; res *= 2) {
    const int64_t in = arch.channels.at(res);
    ToRgbWeights t;
    t.affine = dense(in, arch.w_dim, 1.0, 1.0);
    t.weight = randn({3, in, 1, 1});
    t.style_gain = 1.0 / std::sqrt(static_cast<double>(in));
    t.bias = at::zeros({3}, at::kFloat);
    if (res > 4) t.fir = fir.clone();
    w.to_rgbs.push_back(t);
  }
  GeneratorSettings settings;
  settings.lr_mapping = lr_mapping;
  return Generator(arch, Layout::Rosinality, std::move(w), settings);
}

}  // namespace styleseg::stylegan2
