// Samples from a StyleGAN2 generator, by index: what every stage that draws from a
// generator (generate, cluster, assign, synthesize) shares. Sample i's latent, noise and
// mixing latent come from (seed, i) alone (core/seeding.h), or from row i of a latents
// file, so sample i is the same image whatever the batch it is made in, the number of
// ranks or the stage asking for it.
//
//   sampling::Sampler sampler(options, comm.local_rank());
//   SampleBatch b = sampler.make(start, n);   // samples [start, start + n)
#pragma once

#include "core/named_enum.h"
#include "core/seeding.h"

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "models/stylegan2/feature_layer.h"
#include "models/stylegan2/generator.h"

namespace styleseg::sampling {

// The noise inputs of a synthesis pass: the checkpoint's constant buffers, fresh noise from
// (seed, i), or none.
enum class NoiseMode { Const, Random, None };
constexpr std::array<NamedValue<NoiseMode>, 3> names_of(NoiseMode) {
  return {{{NoiseMode::Const, "const"}, {NoiseMode::Random, "random"}, {NoiseMode::None, "none"}}};
}

// The noise of the pass whose layer gives the features: the image's own pass, or a second
// pass with other noise. Noise adds per-pixel detail to a layer's features that k-means then
// splits into salt-and-pepper clusters; features without it give smooth masks while the
// images keep their texture.
enum class FeatureNoise { Same, Const, Random, None };
constexpr std::array<NamedValue<FeatureNoise>, 4> names_of(FeatureNoise) {
  return {{{FeatureNoise::Same, "same"}, {FeatureNoise::Const, "const"}, {FeatureNoise::Random, "random"},
           {FeatureNoise::None, "none"}}};
}

// L2: each pixel's feature vector scaled to unit length (at the layer's resolution, before
// any resize), so k-means compares directions, not magnitudes that follow local contrast and
// lighting (the `image` layer excepted). None: as the layer gives them.
enum class FeatureNormalize { None, L2 };
constexpr std::array<NamedValue<FeatureNormalize>, 2> names_of(FeatureNormalize) {
  return {{{FeatureNormalize::None, "none"}, {FeatureNormalize::L2, "l2"}}};
}

// The options of a generator and of how it is sampled (the CLI declares them once,
// cli/sampler_options.cpp).
struct SamplerOptions {
  std::string checkpoint;          // generator file (.pt)
  uint64_t seed = 0;               // sample i draws from (seed, i)
  std::string latents;             // HDF5 file with z [N, z_dim] or w [N, w_dim] / [N, num_ws, w_dim]
  double truncation = 1.0;         // psi; 1 = none
  int truncation_samples = 4096;   // average-latent estimate when the checkpoint stores none
  NoiseMode noise = NoiseMode::Const;
  FeatureNoise feature_noise = FeatureNoise::Same;
  FeatureNormalize feature_normalize = FeatureNormalize::None;
  int mixing_crossover = -1;       // >= 0: layers from here on take a second latent from (seed, i)
  // A latent direction (directions/latent_direction.h): every sample's per-layer latents
  // move to ws + alpha * direction after truncation and mixing.
  std::string direction;
  double alpha = 0;
  // empty: no features (see models/stylegan2/feature_layer.h). Several joined by '+'
  // ("5+7"): each layer's features resized to the finest of them and concatenated (a
  // hypercolumn), one synthesis pass per layer.
  std::string feature_layer;
  int feature_size = 0;            // bilinear resize of features (align_corners=True); 0 = native
  std::string device = "auto";     // auto | cpu | cuda | cuda:N
  std::string precision = "float32";  // float32 | bfloat16
  std::optional<double> lr_mapping;   // override for the checkpoint's mapping lr multiplier
  std::optional<double> conv_clamp;   // override for NVlabs conv_clamp (<= 0: off)
};

struct SampleBatch {
  at::Tensor images;    // uint8 [n, H, W, 3]: clamp(x * 127.5 + 128) (NVlabs convention)
  at::Tensor z;         // float32 [n, z_dim], or undefined when latents were given as w
  at::Tensor ws;        // float32 [n, num_ws, w_dim]: per-layer latents used (after truncation, mixing)
  at::Tensor raw;       // float32 [n, 3, H, W]: the generator output before clamping
  at::Tensor features;  // float32 [n, C, h, w] (native or feature_size; see make()), or undefined
};

// The layers of a feature spec ("7", "5+7", "convs.5+synthesis.b64.conv1") on an
// architecture: each of them, in order. ConfigError naming the layer that does not exist.
std::vector<stylegan2::FeatureLayer> resolve_feature_layers(const std::string& spec, const stylegan2::Architecture& arch);

class Sampler {
 public:
  // Loads the generator, resolves the feature layer and the device (`local_rank` picks
  // the GPU for --device auto). Throws ConfigError / InputError naming the option or file.
  Sampler(const SamplerOptions& options, int local_rank);
  ~Sampler();
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  // Samples [start, start + n). Features (when a layer is set) are resized to
  // feature_size() when `resize_features`, else left at the layer's native resolution
  // (for the score-map route of cluster/assign, which resizes scores instead). Every
  // tensor is on the CPU, except features, which stay on the generator's device.
  SampleBatch make(int64_t start, int64_t n, bool resize_features = true) const;
  // The per-layer latents ws [n, num_ws, w_dim] of samples [start, start + n) that make()
  // synthesizes (mapping, mixing, truncation, shift), on the generator's device.
  at::Tensor latents(int64_t start, int64_t n) const;
  // The noise inputs of samples [start, start + n) in `mode`, on the generator's device: what
  // make() gives the synthesis pass.
  stylegan2::Noise noise(NoiseMode mode, int64_t start, int64_t n) const;

  const stylegan2::Generator& generator() const { return generator_; }
  // The feature layer; for several, one entry describing them together (channels summed,
  // the finest resolution, names joined by '+', conv_layer of the last).
  const std::optional<stylegan2::FeatureLayer>& feature_layer() const { return feature_layer_; }
  // Side of the feature maps after resizing (0 without a feature layer).
  int64_t feature_size() const { return feature_size_; }
  c10::Device device() const;
  // Samples a latents file holds (0: latents are drawn from the seed, any count works).
  int64_t latent_rows() const;
  // Whether z is known (drawn, or given as z).
  bool has_z() const;
  // Layout, sizes and settings of the generator, for provenance attributes.
  nlohmann::json describe() const;
  const SamplerOptions& options() const { return options_; }
  // Replaces the latent shift (`direction` [num_ws, w_dim], LatentDirection::per_layer;
  // any device; undefined: none): for stages that sample along a direction they are finding.
  void set_shift(const at::Tensor& direction, double alpha);

 private:
  class LatentSource;
  // latents() from already drawn z (undefined: the latents file's w), so make() draws once.
  at::Tensor latents_from(const at::Tensor& z, int64_t start, int64_t n) const;
  SamplerOptions options_;
  stylegan2::Generator generator_;
  std::optional<stylegan2::FeatureLayer> feature_layer_;
  std::vector<stylegan2::FeatureLayer> layers_;  // each of them (one, or several for "5+7")
  int64_t feature_size_ = 0;
  at::Tensor truncation_centre_;
  at::Tensor shift_;               // [num_ws, w_dim] on the generator's device, or undefined
  double alpha_ = 0;
  std::unique_ptr<LatentSource> latents_;
};

// Throws ConfigError naming the option for values outside their range. `command` names
// the command in messages.
void validate(const SamplerOptions& options, const std::string& command);

// Per-layer noise [n, 1, R, R] of the given samples, each from its own stream (seed, i),
// layer after layer: independent of batching and of which rank draws it. Drawn on the CPU in
// float32 and moved to `device` and `dtype` in one copy (the layers are views of one buffer).
std::vector<at::Tensor> random_noise(const stylegan2::Architecture& arch, uint64_t seed, const std::vector<int64_t>& samples,
                                     c10::Device device = c10::kCPU, c10::ScalarType dtype = at::kFloat);
// Latents [n, dim] of the given samples from (seed, i, stream).
at::Tensor random_latents(int64_t dim, uint64_t seed, const std::vector<int64_t>& samples, Stream stream);

// Generator output [n, 3, H, W] (about [-1, 1]) -> uint8 [n, H, W, 3] on the CPU,
// clamp(x * 127.5 + 128): NVlabs' convention, used for every saved generated image.
at::Tensor to_pixels(const at::Tensor& images);

}  // namespace styleseg::sampling
