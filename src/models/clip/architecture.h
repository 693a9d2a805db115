// CLIP's sizes, read from a state dict the way OpenAI's `clip.model.build_model` reads
// them (openai/CLIP clip/model.py): nothing in the released files stores them directly.
//
//   image tower  VisionTransformer when `visual.proj` exists, else ModifiedResNet
//   ResNet       layers = blocks per stage (visual.layer1..4), width = channels of
//                layer1.0.conv1, heads = width * 32 / 64, resolution = 32 * sqrt(rows - 1)
//                of visual.attnpool.positional_embedding
//   ViT          width = visual.conv1 out channels, patch = its kernel size, layers = the
//                visual.*.attn.in_proj_weight keys, heads = width / 64, resolution = patch *
//                sqrt(rows - 1) of visual.positional_embedding
//   text         width = ln_final, heads = width / 64, layers = transformer.resblocks.*,
//                context = rows of positional_embedding, embed_dim = text_projection columns
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace styleseg::models {
class StateDict;
}

namespace styleseg::clip {

enum class ImageTower { ModifiedResNet, VisionTransformer };

struct Architecture {
  ImageTower image_tower = ImageTower::ModifiedResNet;
  int64_t embed_dim = 0;             // the joint image-text space
  int64_t image_resolution = 0;
  std::vector<int64_t> vision_layers;  // ResNet: blocks per stage (4); ViT: {layers}
  int64_t vision_width = 0;          // ResNet: stem width (layer4 gives 32x); ViT: token width
  int64_t vision_heads = 0;
  int64_t vision_patch_size = 0;     // ViT only
  int64_t context_length = 0;
  int64_t vocab_size = 0;
  int64_t transformer_width = 0;
  int64_t transformer_heads = 0;
  int64_t transformer_layers = 0;

  bool is_vit() const { return image_tower == ImageTower::VisionTransformer; }
  // Channels of the map the attention pool reads (ResNet: 32 x width).
  int64_t resnet_feature_channels() const { return vision_width * 32; }
  // Side of the token grid / last feature map at the model's resolution.
  int64_t grid_size() const { return is_vit() ? image_resolution / vision_patch_size : image_resolution / 32; }
  // "ModifiedResNet [3, 4, 6, 3] width 64, 224 px; text 12 x 512; embed 1024".
  std::string describe() const;
};

// Throws InputError naming the file and the key when the state dict is not a CLIP model.
Architecture infer_architecture(const models::StateDict& state);

}  // namespace styleseg::clip
