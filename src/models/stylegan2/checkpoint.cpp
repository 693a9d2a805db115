#include "models/stylegan2/checkpoint.h"

#include <ATen/ATen.h>

#include <cmath>
#include <sstream>
#include <unordered_map>

#include "core/error.h"
#include "io/torch_file.h"
#include "models/state_dict.h"

namespace styleseg::stylegan2 {
namespace {

using models::StateDict;

bool is_power_of_two(int64_t v) { return v >= 4 && (v & (v - 1)) == 0; }

// A mapping-network layer (rosinality EqualLinear, NVlabs FullyConnectedLayer): both store
// weights divided by the learning-rate multiplier and apply lr / sqrt(fan_in) at run time.
DenseWeights mapping_layer(const StateDict& sd, const std::string& prefix, double lr_mapping) {
  DenseWeights d;
  d.weight = sd.get(prefix + ".weight", {-1, -1});
  d.bias = sd.get(prefix + ".bias", {d.weight.size(0)});
  d.weight_gain = lr_mapping / std::sqrt(static_cast<double>(d.weight.size(1)));
  d.bias_gain = lr_mapping;
  return d;
}

// A style affine (rosinality `.conv.modulation`, NVlabs `.affine`): gain 1/sqrt(w_dim).
DenseWeights style_affine(const StateDict& sd, const std::string& prefix, int64_t in_channels, int64_t w_dim) {
  DenseWeights d;
  d.weight = sd.get(prefix + ".weight", {in_channels, w_dim});
  d.bias = sd.get(prefix + ".bias", {in_channels});
  d.weight_gain = 1.0 / std::sqrt(static_cast<double>(w_dim));
  return d;
}

// ---- rosinality ------------------------------------------------------------------------
Generator load_rosinality(const StateDict& sd, const at::Tensor& latent_avg, const std::string& source,
                          double lr_mapping) {
  Architecture arch;
  arch.mapping_layers = 0;
  while (sd.has("style." + std::to_string(arch.mapping_layers + 1) + ".weight")) ++arch.mapping_layers;
  if (arch.mapping_layers == 0) throw InputError(source + ": rosinality generator has no mapping layers ('style.1.weight')");
  at::Tensor first = sd.get("style.1.weight", {-1, -1});
  arch.z_dim = static_cast<int>(first.size(1));
  arch.w_dim = static_cast<int>(sd.get("style." + std::to_string(arch.mapping_layers) + ".weight", {-1, -1}).size(0));
  const int num_convs = sd.count_prefix("convs.", ".conv.weight");
  if (num_convs % 2 != 0) throw InputError(source + ": rosinality generator has an odd number of 'convs' layers");
  arch.resolution = 1 << (num_convs / 2 + 2);
  at::Tensor input = sd.get("input.input", {1, -1, 4, 4});
  arch.channels[4] = static_cast<int>(input.size(1));
  for (int j = 0; j < num_convs; j += 2)
    arch.channels[8 << (j / 2)] = static_cast<int>(sd.get("convs." + std::to_string(j) + ".conv.weight", {1, -1, -1, 3, 3}).size(1));

  GeneratorWeights weights;
  for (int i = 1; i <= arch.mapping_layers; ++i) weights.mapping.push_back(mapping_layer(sd, "style." + std::to_string(i), lr_mapping));
  weights.constant_input = input[0];
  auto affine = [&](const std::string& p, int64_t in_channels) {
    return style_affine(sd, p + ".conv.modulation", in_channels, arch.w_dim);
  };
  for (int layer = 0; layer < arch.num_conv_layers(); ++layer) {
    const std::string p = conv_layer_name(Layout::Rosinality, layer);
    const int64_t in = arch.conv_layer_in_channels(layer), out = arch.conv_layer_out_channels(layer);
    const int64_t res = arch.conv_layer_resolution(layer);
    ModulatedConvWeights c;
    c.affine = affine(p, in);
    c.weight = sd.get(p + ".conv.weight", {1, out, in, 3, 3})[0];
    c.weight_gain = 1.0 / std::sqrt(static_cast<double>(in * 9));
    c.bias = sd.get(p + ".activate.bias", {out});
    c.noise_strength = sd.get(p + ".noise.weight", {1}).reshape({});
    c.noise_const = sd.get("noises.noise_" + std::to_string(layer), {1, 1, res, res})[0][0];
    c.upsample = arch.conv_layer_upsamples(layer);
    if (c.upsample) c.fir = sd.get(p + ".conv.blur.kernel", {-1, -1});
    weights.convs.push_back(c);
  }
  for (int res = 4; res <= arch.resolution; res *= 2) {
    const std::string p = to_rgb_name(Layout::Rosinality, res);
    const int64_t in = arch.channels.at(res);
    ToRgbWeights t;
    t.affine = affine(p, in);
    t.weight = sd.get(p + ".conv.weight", {1, 3, in, 1, 1})[0];
    t.style_gain = 1.0 / std::sqrt(static_cast<double>(in));
    t.bias = sd.get(p + ".bias", {1, 3, 1, 1}).reshape({3});
    if (res > 4) t.fir = sd.get(p + ".upsample.kernel", {-1, -1});
    weights.to_rgbs.push_back(t);
  }
  if (latent_avg.defined()) {
    at::Tensor avg = latent_avg.to(at::kFloat).reshape({-1});
    if (avg.numel() != arch.w_dim)
      throw InputError(source + ": 'latent_avg' has " + std::to_string(avg.numel()) + " values, expected w_dim = " + std::to_string(arch.w_dim));
    weights.w_avg = avg.contiguous();
  }
  GeneratorSettings settings;
  settings.lr_mapping = lr_mapping;
  return Generator(arch, Layout::Rosinality, std::move(weights), settings);
}

// ---- NVlabs ----------------------------------------------------------------------------
Generator load_nvlabs(const StateDict& sd, const std::string& source, double lr_mapping, std::optional<double> conv_clamp) {
  if (sd.has("mapping.embed.weight"))
    throw InputError(source + ": conditional generators (c_dim > 0, 'mapping.embed') are not supported");
  Architecture arch;
  arch.mapping_layers = sd.count_prefix("mapping.fc", ".weight");
  if (arch.mapping_layers == 0) throw InputError(source + ": NVlabs generator has no mapping layers ('mapping.fc0.weight')");
  arch.z_dim = static_cast<int>(sd.get("mapping.fc0.weight", {-1, -1}).size(1));
  arch.w_dim = static_cast<int>(sd.get("mapping.fc" + std::to_string(arch.mapping_layers - 1) + ".weight", {-1, -1}).size(0));
  arch.resolution = 4;
  while (sd.has("synthesis.b" + std::to_string(arch.resolution * 2) + ".conv1.weight")) arch.resolution *= 2;
  for (int res = 4; res <= arch.resolution; res *= 2) {
    const std::string block = "synthesis.b" + std::to_string(res);
    arch.channels[res] = static_cast<int>(sd.get(block + ".conv1.weight", {-1, -1, 3, 3}).size(0));
    if (!sd.has(block + ".torgb.weight") || sd.has(block + ".skip.weight"))
      throw InputError(source + ": only the 'skip' synthesis architecture of StyleGAN2 is supported (" + block +
                       " has no torgb or has a resnet skip)");
  }

  GeneratorWeights weights;
  for (int i = 0; i < arch.mapping_layers; ++i) weights.mapping.push_back(mapping_layer(sd, "mapping.fc" + std::to_string(i), lr_mapping));
  weights.constant_input = sd.get("synthesis.b4.const", {arch.channels.at(4), 4, 4});
  auto affine = [&](const std::string& p, int64_t in_channels) {
    return style_affine(sd, p + ".affine", in_channels, arch.w_dim);
  };
  for (int layer = 0; layer < arch.num_conv_layers(); ++layer) {
    const std::string p = conv_layer_name(Layout::NVlabs, layer);
    const int64_t in = arch.conv_layer_in_channels(layer), out = arch.conv_layer_out_channels(layer);
    const int64_t res = arch.conv_layer_resolution(layer);
    ModulatedConvWeights c;
    c.affine = affine(p, in);
    c.weight = sd.get(p + ".weight", {out, in, 3, 3});
    c.weight_gain = 1.0;  // NVlabs applies no gain before demodulation
    c.bias = sd.get(p + ".bias", {out});
    c.noise_strength = sd.get(p + ".noise_strength", {}).reshape({});
    c.noise_const = sd.get(p + ".noise_const", {res, res});
    c.upsample = arch.conv_layer_upsamples(layer);
    // resample_filter sums to 1; upfirdn2d applies gain up^2 = 4.
    if (c.upsample) c.fir = sd.get(p + ".resample_filter", {-1, -1}) * 4.0;
    weights.convs.push_back(c);
  }
  for (int res = 4; res <= arch.resolution; res *= 2) {
    const std::string block = "synthesis.b" + std::to_string(res);
    const int64_t in = arch.channels.at(res);
    ToRgbWeights t;
    t.affine = affine(block + ".torgb", in);
    t.weight = sd.get(block + ".torgb.weight", {3, in, 1, 1});
    t.style_gain = 1.0 / std::sqrt(static_cast<double>(in));
    t.bias = sd.get(block + ".torgb.bias", {3});
    if (res > 4) t.fir = sd.get(block + ".resample_filter", {-1, -1}) * 4.0;
    weights.to_rgbs.push_back(t);
  }
  if (sd.has("mapping.w_avg")) weights.w_avg = sd.get("mapping.w_avg", {arch.w_dim});
  GeneratorSettings settings;
  settings.lr_mapping = lr_mapping;
  if (!conv_clamp) settings.conv_clamp = 256.0;
  else if (*conv_clamp > 0) settings.conv_clamp = conv_clamp;
  return Generator(arch, Layout::NVlabs, std::move(weights), settings);
}

bool has_key_prefix(const io::PyValue& dict, const std::string& prefix) {
  for (const auto& [key, value] : dict.dict_items())
    if (key.kind() == io::PyValue::Kind::String && key.as_string().rfind(prefix, 0) == 0) return true;
  return false;
}

void check_architecture(const Generator& g, const std::string& source) {
  const Architecture& a = g.architecture();
  if (!is_power_of_two(a.resolution)) throw InputError(source + ": resolution " + std::to_string(a.resolution) + " is not a power of two");
  if (a.resolution > kMaxResolution)
    throw InputError(source + ": resolution " + std::to_string(a.resolution) + " is above styleseg's limit of " +
                     std::to_string(kMaxResolution));
  // One NaN weight turns every image black without an error.
  for (const at::Tensor& t : g.trainable_weights())
    if (!at::isfinite(t).all().item<bool>()) throw InputError(source + ": holds a NaN or infinite weight");
}

}  // namespace

Generator generator_from_checkpoint(const io::PyValue& root, const std::string& source, const LoadOptions& options) {
  if (!root.is_dict()) throw InputError(source + ": expected a dict of tensors, found " + root.describe());
  double lr_mapping = options.lr_mapping.value_or(0.01);
  std::optional<Generator> generator;
  const char* entry = options.training_generator ? "g" : "g_ema";
  if (options.training_generator && !root.contains("g"))
    throw InputError(source + ": no training generator 'g' (not a training checkpoint)");
  if (root.contains(entry)) {
    if (root.contains("styleseg") && !options.lr_mapping) {
      const io::PyValue& meta = root.at("styleseg");
      if (meta.is_dict() && meta.contains("lr_mlp")) lr_mapping = meta.at("lr_mlp").as_float();
    }
    at::Tensor latent_avg;
    if (root.contains("latent_avg") && root.at("latent_avg").is_tensor()) latent_avg = root.at("latent_avg").as_tensor();
    generator = load_rosinality(StateDict(root.at(entry), source, std::string("rosinality '") + entry + "'"), latent_avg,
                                source, lr_mapping);
  } else if (root.contains("G_ema") && root.at("G_ema").is_dict()) {
    generator = load_nvlabs(StateDict(root.at("G_ema"), source, "NVlabs 'G_ema'"), source, lr_mapping, options.conv_clamp);
  } else if (has_key_prefix(root, "synthesis.") && has_key_prefix(root, "mapping.")) {
    generator = load_nvlabs(StateDict(root, source, "NVlabs state dict"), source, lr_mapping, options.conv_clamp);
  } else if (root.contains("style.1.weight") && root.contains("input.input")) {
    generator = load_rosinality(StateDict(root, source, "rosinality state dict"), {}, source, lr_mapping);
  } else if (root.contains("g")) {
    throw InputError(source + ": has a 'g' generator but no 'g_ema'; styleseg uses the EMA generator 'g_ema' "
                     "(the non-EMA 'g' gives worse images and different numbers)");
  } else {
    std::string keys;
    int shown = 0;
    for (const auto& [key, value] : root.dict_items()) {
      if (shown++ == 8) { keys += ", ..."; break; }
      keys += (keys.empty() ? "" : ", ") + (key.kind() == io::PyValue::Kind::String ? key.as_string() : key.describe());
    }
    throw InputError(source + ": not a StyleGAN2 generator checkpoint that styleseg knows (rosinality {g_ema, latent_avg} "
                     "or NVlabs G_ema state dict); top-level keys: " + keys);
  }
  check_architecture(*generator, source);
  return std::move(*generator);
}

Generator load_generator(const std::string& path, const LoadOptions& options) {
  return generator_from_checkpoint(io::load_torch_file(path), path, options);
}

std::map<int, int> default_channels(int resolution, int channel_multiplier, int channel_max) {
  // rosinality Generator.channels for config-f: 512 for 4..32 (64 too), then 256*m at 128, ...
  std::map<int, int> table{{4, 512}, {8, 512}, {16, 512}, {32, 512}, {64, 256 * channel_multiplier},
                           {128, 128 * channel_multiplier}, {256, 64 * channel_multiplier},
                           {512, 32 * channel_multiplier}, {1024, 16 * channel_multiplier}};
  std::map<int, int> out;
  // int64 steps: an int would overflow past 2^30 and never end.
  for (int64_t r = 4; r <= resolution; r *= 2) {
    const int res = static_cast<int>(r);
    out[res] = std::min(table.count(res) ? table[res] : 16 * channel_multiplier, channel_max);
  }
  return out;
}

}  // namespace styleseg::stylegan2
