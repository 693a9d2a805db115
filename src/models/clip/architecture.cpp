#include "models/clip/architecture.h"

#include <ATen/ATen.h>

#include <cmath>
#include <set>
#include <sstream>

#include "core/error.h"
#include "models/state_dict.h"

namespace styleseg::clip {
namespace {

// The distinct values of the path component after `prefix` ("visual.layer1." -> {"0", "1"}).
std::set<std::string> children(const models::StateDict& state, const std::string& prefix) {
  std::set<std::string> names;
  for (const auto& [key, tensor] : state.tensors())
    if (key.rfind(prefix, 0) == 0) names.insert(key.substr(prefix.size(), key.find('.', prefix.size()) - prefix.size()));
  return names;
}

// round(sqrt(rows - 1)) of a positional embedding, checked to be a square grid plus one.
int64_t grid_of(const models::StateDict& state, const std::string& key) {
  const at::Tensor& pos = state.raw(key);
  if (pos.dim() != 2) state.fail(key, "is not a [tokens, width] matrix");
  const auto grid = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(pos.size(0) - 1))));
  if (grid < 1 || grid * grid + 1 != pos.size(0)) state.fail(key, "has " + std::to_string(pos.size(0)) + " rows, not a square grid plus one");
  return grid;
}

}  // namespace

std::string Architecture::describe() const {
  std::ostringstream out;
  if (is_vit()) {
    out << "VisionTransformer " << vision_layers.at(0) << " layers x " << vision_width << " (" << vision_heads
        << " heads), patch " << vision_patch_size;
  } else {
    out << "ModifiedResNet [";
    for (size_t i = 0; i < vision_layers.size(); ++i) out << (i ? ", " : "") << vision_layers[i];
    out << "] width " << vision_width << " (" << vision_heads << " heads)";
  }
  out << ", " << image_resolution << " px; text " << transformer_layers << " layers x " << transformer_width << " ("
      << transformer_heads << " heads), context " << context_length << "; embed " << embed_dim;
  return out.str();
}

Architecture infer_architecture(const models::StateDict& state) {
  Architecture a;
  a.embed_dim = state.raw("text_projection").size(-1);
  a.context_length = state.raw("positional_embedding").size(0);
  a.vocab_size = state.raw("token_embedding.weight").size(0);
  a.transformer_width = state.raw("ln_final.weight").size(0);
  a.transformer_heads = a.transformer_width / 64;
  a.transformer_layers = static_cast<int64_t>(children(state, "transformer.resblocks.").size());
  if (a.transformer_heads < 1) state.fail("ln_final.weight", "gives a text width below 64 (CLIP has width / 64 heads)");
  if (a.transformer_layers < 1) state.fail("transformer.resblocks.0.ln_1.weight", "is missing: no text transformer blocks");

  if (state.has("visual.proj")) {
    a.image_tower = ImageTower::VisionTransformer;
    const at::Tensor& conv1 = state.raw("visual.conv1.weight");
    if (conv1.dim() != 4) state.fail("visual.conv1.weight", "is not a convolution weight");
    a.vision_width = conv1.size(0);
    a.vision_patch_size = conv1.size(-1);
    int64_t layers = 0;
    const std::string suffix = ".attn.in_proj_weight";
    for (const auto& [key, tensor] : state.tensors())
      if (key.rfind("visual.", 0) == 0 && key.size() > suffix.size() &&
          key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0)
        ++layers;
    a.vision_layers = {layers};
    a.vision_heads = a.vision_width / 64;
    a.image_resolution = a.vision_patch_size * grid_of(state, "visual.positional_embedding");
    if (a.vision_heads < 1) state.fail("visual.conv1.weight", "gives a vision width below 64 (ViT has width / 64 heads)");
  } else {
    a.image_tower = ImageTower::ModifiedResNet;
    for (int stage = 1; stage <= 4; ++stage)
      a.vision_layers.push_back(static_cast<int64_t>(children(state, "visual.layer" + std::to_string(stage) + ".").size()));
    for (int stage = 0; stage < 4; ++stage)
      if (a.vision_layers[static_cast<size_t>(stage)] == 0)
        state.fail("visual.layer" + std::to_string(stage + 1) + ".0.conv1.weight", "is missing: not a CLIP ResNet image tower");
    a.vision_width = state.raw("visual.layer1.0.conv1.weight").size(0);
    a.vision_heads = a.vision_width * 32 / 64;
    a.image_resolution = 32 * grid_of(state, "visual.attnpool.positional_embedding");
  }
  return a;
}

}  // namespace styleseg::clip
