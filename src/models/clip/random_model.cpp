#include "models/clip/random_model.h"

#include <ATen/ATen.h>

#include <cmath>
#include <map>

#include "core/error.h"

namespace styleseg::clip {
namespace {

// Fills a state dict in the reference's key names.
class Builder {
 public:
  explicit Builder(uint64_t seed) : generator_(at::detail::createCPUGenerator(seed)) {}

  void weight(const std::string& key, std::vector<int64_t> shape) {
    int64_t fan_in = 1;
    for (size_t i = 1; i < shape.size(); ++i) fan_in *= shape[i];
    tensors_[key] = at::randn(shape, generator_) / std::sqrt(static_cast<double>(fan_in));
  }
  void normal(const std::string& key, std::vector<int64_t> shape, double std) {
    tensors_[key] = at::randn(shape, generator_) * std;
  }
  void constant(const std::string& key, std::vector<int64_t> shape, double value) { tensors_[key] = at::full(shape, value); }
  void linear(const std::string& prefix, int64_t out, int64_t in) {
    weight(prefix + ".weight", {out, in});
    constant(prefix + ".bias", {out}, 0.0);
  }
  void layer_norm(const std::string& prefix, int64_t width) {
    constant(prefix + ".weight", {width}, 1.0);
    constant(prefix + ".bias", {width}, 0.0);
  }
  void batch_norm(const std::string& prefix, int64_t width) {
    layer_norm(prefix, width);
    constant(prefix + ".running_mean", {width}, 0.0);
    constant(prefix + ".running_var", {width}, 1.0);
  }
  void transformer(const std::string& prefix, int64_t layers, int64_t width) {
    for (int64_t i = 0; i < layers; ++i) {
      const std::string block = prefix + ".resblocks." + std::to_string(i);
      weight(block + ".attn.in_proj_weight", {3 * width, width});
      constant(block + ".attn.in_proj_bias", {3 * width}, 0.0);
      linear(block + ".attn.out_proj", width, width);
      layer_norm(block + ".ln_1", width);
      linear(block + ".mlp.c_fc", 4 * width, width);
      linear(block + ".mlp.c_proj", width, 4 * width);
      layer_norm(block + ".ln_2", width);
    }
  }
  std::map<std::string, at::Tensor> take() { return std::move(tensors_); }

 private:
  at::Generator generator_;
  std::map<std::string, at::Tensor> tensors_;
};

struct Released {
  const char* name;
  Architecture arch;
};

Architecture make(ImageTower tower, int64_t embed, int64_t resolution, std::vector<int64_t> layers, int64_t width,
                  int64_t patch, int64_t text_width, int64_t text_layers) {
  Architecture a;
  a.image_tower = tower;
  a.embed_dim = embed;
  a.image_resolution = resolution;
  a.vision_layers = std::move(layers);
  a.vision_width = width;
  a.vision_heads = tower == ImageTower::VisionTransformer ? width / 64 : width * 32 / 64;
  a.vision_patch_size = patch;
  a.context_length = 77;
  a.vocab_size = 49408;
  a.transformer_width = text_width;
  a.transformer_heads = text_width / 64;
  a.transformer_layers = text_layers;
  return a;
}

// openai/CLIP's released configurations (their build_model reads the same from the files).
const std::vector<Released>& released() {
  static const std::vector<Released> list{
      {"RN50", make(ImageTower::ModifiedResNet, 1024, 224, {3, 4, 6, 3}, 64, 0, 512, 12)},
      {"RN101", make(ImageTower::ModifiedResNet, 512, 224, {3, 4, 23, 3}, 64, 0, 512, 12)},
      {"RN50x4", make(ImageTower::ModifiedResNet, 640, 288, {4, 6, 10, 6}, 80, 0, 640, 12)},
      {"RN50x16", make(ImageTower::ModifiedResNet, 768, 384, {6, 8, 18, 8}, 96, 0, 768, 12)},
      {"RN50x64", make(ImageTower::ModifiedResNet, 1024, 448, {3, 15, 36, 10}, 128, 0, 1024, 12)},
      {"ViT-B/32", make(ImageTower::VisionTransformer, 512, 224, {12}, 768, 32, 512, 12)},
      {"ViT-B/16", make(ImageTower::VisionTransformer, 512, 224, {12}, 768, 16, 512, 12)},
      {"ViT-L/14", make(ImageTower::VisionTransformer, 768, 224, {24}, 1024, 14, 768, 12)},
  };
  return list;
}

}  // namespace

std::vector<std::string> released_architecture_names() {
  std::vector<std::string> names;
  for (const Released& r : released()) names.push_back(r.name);
  return names;
}

Architecture released_architecture(const std::string& name) {
  std::string known;
  for (const Released& r : released()) {
    if (name == r.name) return r.arch;
    known += (known.empty() ? "" : ", ") + std::string(r.name);
  }
  throw ConfigError("unknown CLIP model '" + name + "' (known: " + known + ")");
}

models::StateDict random_state_dict(const Architecture& a, uint64_t seed) {
  Builder b(seed);
  // Text tower.
  const int64_t tw = a.transformer_width;
  b.normal("token_embedding.weight", {a.vocab_size, tw}, 0.02);
  b.normal("positional_embedding", {a.context_length, tw}, 0.01);
  b.transformer("transformer", a.transformer_layers, tw);
  b.layer_norm("ln_final", tw);
  b.weight("text_projection", {tw, a.embed_dim});
  b.constant("logit_scale", {}, std::log(1 / 0.07));
  const int64_t grid = a.grid_size();
  if (a.is_vit()) {
    const int64_t w = a.vision_width, p = a.vision_patch_size;
    b.weight("visual.conv1.weight", {w, 3, p, p});
    b.normal("visual.class_embedding", {w}, 1.0 / std::sqrt(static_cast<double>(w)));
    b.normal("visual.positional_embedding", {grid * grid + 1, w}, 1.0 / std::sqrt(static_cast<double>(w)));
    b.layer_norm("visual.ln_pre", w);
    b.transformer("visual.transformer", a.vision_layers.at(0), w);
    b.layer_norm("visual.ln_post", w);
    b.weight("visual.proj", {w, a.embed_dim});
  } else {
    const int64_t w = a.vision_width;
    b.weight("visual.conv1.weight", {w / 2, 3, 3, 3});
    b.batch_norm("visual.bn1", w / 2);
    b.weight("visual.conv2.weight", {w / 2, w / 2, 3, 3});
    b.batch_norm("visual.bn2", w / 2);
    b.weight("visual.conv3.weight", {w, w / 2, 3, 3});
    b.batch_norm("visual.bn3", w);
    int64_t inplanes = w;
    for (int stage = 1; stage <= 4; ++stage) {
      const int64_t planes = w << (stage - 1);
      for (int64_t block = 0; block < a.vision_layers.at(static_cast<size_t>(stage - 1)); ++block) {
        const std::string p = "visual.layer" + std::to_string(stage) + "." + std::to_string(block);
        b.weight(p + ".conv1.weight", {planes, inplanes, 1, 1});
        b.batch_norm(p + ".bn1", planes);
        b.weight(p + ".conv2.weight", {planes, planes, 3, 3});
        b.batch_norm(p + ".bn2", planes);
        b.weight(p + ".conv3.weight", {planes * 4, planes, 1, 1});
        b.batch_norm(p + ".bn3", planes * 4);
        if (block == 0 && (stage > 1 || inplanes != planes * 4)) {
          b.weight(p + ".downsample.0.weight", {planes * 4, inplanes, 1, 1});
          b.batch_norm(p + ".downsample.1", planes * 4);
        }
        inplanes = planes * 4;
      }
    }
    const int64_t c = a.resnet_feature_channels();
    b.normal("visual.attnpool.positional_embedding", {grid * grid + 1, c}, 1.0 / std::sqrt(static_cast<double>(c)));
    for (const char* proj : {"q_proj", "k_proj", "v_proj"}) b.linear(std::string("visual.attnpool.") + proj, c, c);
    b.linear("visual.attnpool.c_proj", a.embed_dim, c);
  }
  return models::StateDict(b.take(), "random weights (" + a.describe() + ")", "CLIP model");
}

}  // namespace styleseg::clip
