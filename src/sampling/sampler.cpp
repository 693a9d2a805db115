#include "sampling/sampler.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer includes it in LibTorch 2.x

#include <algorithm>
#include <cmath>

#include "core/device.h"
#include "core/error.h"
#include "core/log.h"
#include "core/seeding.h"
#include "directions/latent_direction.h"
#include "io/h5.h"
#include "io/h5_tensor.h"
#include "models/stylegan2/checkpoint.h"

namespace styleseg::sampling {

using stylegan2::Noise;

void validate(const SamplerOptions& o, const std::string& command) {
  STYLESEG_CHECK(!o.checkpoint.empty(), ConfigError, command + ": --checkpoint is required");
  STYLESEG_CHECK(o.truncation >= 0.0 && o.truncation <= 2.0, ConfigError,
                 command + ": --truncation must be in [0, 2], got " + std::to_string(o.truncation));
  STYLESEG_CHECK(o.feature_size >= 0, ConfigError, command + ": --feature-size must be >= 0");
  STYLESEG_CHECK(o.truncation_samples > 0, ConfigError, command + ": --truncation-samples must be positive");
  STYLESEG_CHECK(o.alpha == 0 || !o.direction.empty(), ConfigError, command + ": --alpha needs --direction (a direction file)");
  STYLESEG_CHECK(std::isfinite(o.alpha), ConfigError, command + ": --alpha must be finite");
}

// Where the latents of a sample come from: (seed, i), or rows of an HDF5 file (opened once).
namespace {

// The noise mode of the features' pass: the image's, unless another is asked.
NoiseMode noise_of_features(FeatureNoise feature_noise, NoiseMode image_noise) {
  switch (feature_noise) {
    case FeatureNoise::Same: return image_noise;
    case FeatureNoise::Const: return NoiseMode::Const;
    case FeatureNoise::Random: return NoiseMode::Random;
    case FeatureNoise::None: return NoiseMode::None;
  }
  STYLESEG_ASSERT(false, "a FeatureNoise without a case");
  return image_noise;
}

std::vector<int64_t> sample_range(int64_t start, int64_t n) {
  std::vector<int64_t> samples(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) samples[static_cast<size_t>(i)] = start + i;
  return samples;
}

}  // namespace

std::vector<at::Tensor> random_noise(const stylegan2::Architecture& arch, uint64_t seed, const std::vector<int64_t>& samples,
                                     c10::Device device, c10::ScalarType dtype) {
  const int64_t n = static_cast<int64_t>(samples.size());
  // All layers in one buffer, layer after layer: one copy to the device, not one a layer.
  std::vector<int64_t> offsets{0};  // of each layer's [n, R, R] block, in values
  for (int layer = 0; layer < arch.num_conv_layers(); ++layer) {
    const int64_t res = arch.conv_layer_resolution(layer);
    offsets.push_back(offsets.back() + n * res * res);
  }
  at::Tensor buffer = at::empty({offsets.back()}, at::kFloat);
  float* values = buffer.data_ptr<float>();
  // One stream per sample: drawn in parallel, the same numbers (about 1.4 M a batch of 32 at
  // 128x128: 20 ms on one core, on the critical path of every GPU training step). Raw
  // offsets, not `layer[i]`: a tensor view per sample and layer is an operation each.
  at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      SampleRng rng(seed, static_cast<uint64_t>(samples[static_cast<size_t>(i)]), Stream::Noise);
      for (int layer = 0; layer < arch.num_conv_layers(); ++layer) {
        const int64_t area = arch.conv_layer_resolution(layer) * arch.conv_layer_resolution(layer);
        rng.fill_normal(values + offsets[static_cast<size_t>(layer)] + i * area, static_cast<size_t>(area));
      }
    }
  });
  buffer = buffer.to(device, dtype);
  std::vector<at::Tensor> layers;
  for (int layer = 0; layer < arch.num_conv_layers(); ++layer) {
    const int64_t res = arch.conv_layer_resolution(layer);
    layers.push_back(buffer.narrow(0, offsets[static_cast<size_t>(layer)], n * res * res).view({n, 1, res, res}));
  }
  return layers;
}

at::Tensor random_latents(int64_t dim, uint64_t seed, const std::vector<int64_t>& samples, Stream stream) {
  at::Tensor z = at::empty({static_cast<int64_t>(samples.size()), dim}, at::kFloat);
  float* values = z.data_ptr<float>();
  for (size_t i = 0; i < samples.size(); ++i)
    SampleRng(seed, static_cast<uint64_t>(samples[i]), stream).fill_normal(values + static_cast<int64_t>(i) * dim, static_cast<size_t>(dim));
  return z;
}

at::Tensor to_pixels(const at::Tensor& images) {
  return (images.to(at::kCPU, at::kFloat) * 127.5 + 128.0).clamp(0, 255).to(at::kByte).permute({0, 2, 3, 1}).contiguous();
}

class Sampler::LatentSource {
 public:
  LatentSource(const SamplerOptions& o, const stylegan2::Architecture& arch) : seed_(o.seed), arch_(arch) {
    if (o.latents.empty()) return;
    file_.emplace(h5::File::open(o.latents, h5::Mode::Read));
    if (file_->exists("z")) kind_ = "z";
    else if (file_->exists("w")) kind_ = "w";
    else throw InputError(o.latents + ": has neither a 'z' nor a 'w' dataset");
    const auto shape = file_->info(kind_).shape;
    const int64_t width = kind_ == "z" ? arch.z_dim : arch.w_dim;
    const bool ok = (shape.size() == 2 && shape[1] == width) ||
                    (kind_ == "w" && shape.size() == 3 && shape[1] == arch.num_ws() && shape[2] == width);
    if (!ok)
      throw InputError(o.latents + ": dataset '" + kind_ + "' must be [N, " + std::to_string(width) + "]" +
                       (kind_ == "w" ? " or [N, " + std::to_string(arch.num_ws()) + ", " + std::to_string(width) + "]" : "") +
                       " for this generator");
    per_layer_ = shape.size() == 3;
    rows_ = shape[0];
  }
  int64_t rows() const { return rows_; }
  bool has_z() const { return kind_ == "z"; }
  bool w_per_layer() const { return per_layer_; }

  // z [n, z_dim] (CPU float32), or undefined when the file holds w.
  at::Tensor z(int64_t start, int64_t n) const {
    if (!has_z()) return {};
    if (file_) return read_rows("z", start, n);
    return draw(start, n, Stream::Latent);
  }
  // w [n, w_dim] or [n, num_ws, w_dim] when the file holds w.
  at::Tensor w(int64_t start, int64_t n) const { return read_rows("w", start, n); }

  at::Tensor draw(int64_t start, int64_t n, Stream stream) const {
    return random_latents(arch_.z_dim, seed_, sample_range(start, n), stream);
  }

 private:
  at::Tensor read_rows(const std::string& name, int64_t start, int64_t n) const {
    STYLESEG_CHECK(start + n <= rows_, InputError,
                   file_->path() + ": sample " + std::to_string(start + n - 1) + " asked for, the file holds " +
                       std::to_string(rows_) + " latents");
    const at::Tensor rows = h5::read_tensor(*file_, name, start, n).to(at::kFloat);
    // One NaN would silently turn a whole sample black.
    STYLESEG_CHECK(at::isfinite(rows).all().item<bool>(), InputError,
                   file_->path() + ": dataset '" + name + "' holds a NaN or infinite latent among samples " +
                       std::to_string(start) + "-" + std::to_string(start + n - 1));
    return rows;
  }
  uint64_t seed_;
  const stylegan2::Architecture& arch_;
  std::optional<h5::File> file_;
  std::string kind_ = "z";
  bool per_layer_ = false;
  int64_t rows_ = 0;
};

namespace {


stylegan2::Generator load(const SamplerOptions& o) {
  stylegan2::LoadOptions load_options;
  load_options.lr_mapping = o.lr_mapping;
  load_options.conv_clamp = o.conv_clamp;
  return stylegan2::load_generator(o.checkpoint, load_options);
}

}  // namespace

std::vector<stylegan2::FeatureLayer> resolve_feature_layers(const std::string& spec, const stylegan2::Architecture& arch) {
  std::vector<stylegan2::FeatureLayer> layers;
  std::string rest = spec;
  for (size_t plus; (plus = rest.find('+')) != std::string::npos; rest = rest.substr(plus + 1))
    layers.push_back(stylegan2::resolve_feature_layer(rest.substr(0, plus), arch));
  layers.push_back(stylegan2::resolve_feature_layer(rest, arch));
  return layers;
}

Sampler::Sampler(const SamplerOptions& options, int local_rank) : options_(options), generator_(load(options)) {
  const stylegan2::Architecture& arch = generator_.architecture();
  if (!options_.feature_layer.empty()) {
    layers_ = resolve_feature_layers(options_.feature_layer, arch);
    stylegan2::FeatureLayer all = layers_.front();
    for (size_t i = 1; i < layers_.size(); ++i) {
      all.conv_layer = layers_[i].conv_layer;
      all.resolution = std::max(all.resolution, layers_[i].resolution);
      all.channels += layers_[i].channels;
      all.rosinality_name += "+" + layers_[i].rosinality_name;
      all.nvlabs_name += "+" + layers_[i].nvlabs_name;
    }
    feature_layer_ = all;
    feature_size_ = options_.feature_size > 0 ? options_.feature_size : feature_layer_->resolution;
  }
  STYLESEG_CHECK(options_.mixing_crossover < arch.num_ws(), ConfigError,
                 "--mixing-crossover must be below num_ws = " + std::to_string(arch.num_ws()));
  if (options_.truncation != 1.0) {
    if (generator_.has_average_latent()) {
      truncation_centre_ = generator_.average_latent();
    } else {
      log::info("{} stores no average latent; estimating it from {} samples", options_.checkpoint,
                options_.truncation_samples);
      truncation_centre_ = generator_.estimate_average_latent(options_.truncation_samples, options_.seed);
    }
  }
  generator_.to(resolve_device(options_.device, local_rank), parse_precision(options_.precision));
  if (truncation_centre_.defined()) truncation_centre_ = truncation_centre_.to(generator_.device(), generator_.dtype());
  latents_ = std::make_unique<LatentSource>(options_, arch);
  if (!options_.direction.empty()) {
    const directions::LatentDirection d = directions::read_direction(options_.direction);
    STYLESEG_CHECK(d.direction.size(-1) == arch.w_dim, InputError,
                   options_.direction + ": the direction has " + std::to_string(d.direction.size(-1)) + " dimensions, " +
                       options_.checkpoint + "'s W space " + std::to_string(arch.w_dim));
    set_shift(d.per_layer(arch.num_ws()), options_.alpha);
  }
}

void Sampler::set_shift(const at::Tensor& direction, double alpha) {
  shift_ = direction.defined() ? direction.to(generator_.device(), generator_.dtype()).contiguous() : at::Tensor();
  alpha_ = alpha;
}

Sampler::~Sampler() = default;

c10::Device Sampler::device() const { return generator_.device(); }
int64_t Sampler::latent_rows() const { return latents_->rows(); }
bool Sampler::has_z() const { return latents_->has_z(); }

nlohmann::json Sampler::describe() const {
  const stylegan2::Architecture& arch = generator_.architecture();
  return {{"layout", stylegan2::layout_name(generator_.layout())}, {"resolution", arch.resolution},
          {"z_dim", arch.z_dim}, {"w_dim", arch.w_dim}, {"num_ws", arch.num_ws()},
          {"mapping_layers", arch.mapping_layers}, {"lr_mapping", generator_.settings().lr_mapping},
          {"direction", options_.direction}, {"alpha", options_.alpha}};
}

stylegan2::Noise Sampler::noise(NoiseMode mode, int64_t start, int64_t n) const {
  if (mode == NoiseMode::Const) return Noise::constant();
  if (mode == NoiseMode::None) return Noise::none();
  return Noise::explicit_tensors(
      random_noise(generator_.architecture(), options_.seed, sample_range(start, n), generator_.device(), generator_.dtype()));
}

at::Tensor Sampler::latents(int64_t start, int64_t n) const { return latents_from(latents_->z(start, n), start, n); }

at::Tensor Sampler::latents_from(const at::Tensor& z, int64_t start, int64_t n) const {
  const c10::Device device = generator_.device();
  const c10::ScalarType dtype = generator_.dtype();
  at::Tensor ws;
  if (z.defined()) {
    ws = generator_.broadcast(generator_.map(z.to(device, dtype)));
  } else {
    at::Tensor w = latents_->w(start, n).to(device, dtype);
    ws = latents_->w_per_layer() ? w : generator_.broadcast(w);
  }
  if (options_.mixing_crossover >= 0) {
    at::Tensor ws_mix = generator_.broadcast(generator_.map(latents_->draw(start, n, Stream::MixingLatent).to(device, dtype)));
    ws = generator_.mix(ws, ws_mix, options_.mixing_crossover);
  }
  if (options_.truncation != 1.0) ws = generator_.truncate(ws, options_.truncation, truncation_centre_);
  if (shift_.defined() && alpha_ != 0) ws = ws + alpha_ * shift_;
  return ws;
}

SampleBatch Sampler::make(int64_t start, int64_t n, bool resize_features) const {
  SampleBatch out;
  out.z = latents_->z(start, n);
  const at::Tensor ws = latents_from(out.z, start, n);
  auto noise_of = [&](NoiseMode mode) { return noise(mode, start, n); };
  // The image's pass gives the first convolution layer's features too, unless features take
  // other noise; the `image` layer is that pass's image.
  const NoiseMode feature_noise = noise_of_features(options_.feature_noise, options_.noise);
  const bool shared_pass = feature_noise == options_.noise;
  const auto first_conv = std::find_if(layers_.begin(), layers_.end(), [](const auto& l) { return !l.is_image(); });
  const bool first_from_image_pass = shared_pass && first_conv != layers_.end();
  stylegan2::SynthesisResult result;
  std::vector<at::Tensor> per_layer;
  {
    at::NoGradGuard no_grad;
    result = generator_.synthesize(ws, noise_of(options_.noise), first_from_image_pass ? first_conv->conv_layer : -1);
    for (auto layer = layers_.begin(); layer != layers_.end(); ++layer) {
      if (layer->is_image()) per_layer.push_back(result.image);
      else if (layer == first_conv && first_from_image_pass) per_layer.push_back(result.features);
      else per_layer.push_back(generator_.synthesize(ws, noise_of(feature_noise), layer->conv_layer).features);
    }
  }
  out.raw = result.image.to(at::kCPU, at::kFloat).contiguous();
  out.images = to_pixels(out.raw);
  out.ws = ws.to(at::kCPU, at::kFloat).contiguous();
  if (feature_layer_) {
    const int64_t native = feature_layer_->resolution;
    for (size_t i = 0; i < per_layer.size(); ++i) {
      at::Tensor& f = per_layer[i];
      f = f.to(at::kFloat);
      // Never the image: scaled to unit length, every grey would be the same vector.
      if (options_.feature_normalize == FeatureNormalize::L2 && !layers_[i].is_image()) f = f / f.norm(2, 1, true).clamp_min(1e-8);
      if (f.size(2) != native) f = at::upsample_bilinear2d(f, {native, native}, /*align_corners=*/true);
    }
    at::Tensor f = per_layer.size() == 1 ? per_layer[0] : at::cat(per_layer, 1);
    if (resize_features && feature_size_ != f.size(2))
      f = at::upsample_bilinear2d(f, {feature_size_, feature_size_}, /*align_corners=*/true);
    out.features = f.contiguous();
  }
  return out;
}

}  // namespace styleseg::sampling
