// OpenAI's CLIP (Radford et al., 2021) as plain ATen operations: the text transformer and
// both image towers (ModifiedResNet, VisionTransformer) of openai/CLIP clip/model.py,
// loaded from the released TorchScript archives (RN50.pt ... RN50x64.pt, ViT-B-32.pt ...)
// or a torch.save state dict, fp16 weights computed in float32 (or bfloat16 on a GPU).
//
//   clip::Model model = clip::load_model("RN50.pt", {device, at::kFloat});
//   at::Tensor text = model.encode_text(tokenizer.tokenize(prompts));   // [N, E]
//   at::Tensor image = model.encode_image(clip::preprocess(pixels, model.architecture().image_resolution));
//   at::Tensor dense = model.dense_embeddings(images, 8);    // [B, E, H/8, W/8] (ResNet)
//
// Dense embeddings ("Segmentation in Style", after MaskCLIP): a ResNet tower made dense by
// removing the stride of its last stage (output stride 16) or two last stages (8) and
// dilating their 3x3 convolutions instead (as torchvision's replace_stride_with_dilation:
// a stage's first block keeps the previous dilation, the others double it), then the
// attention pool's value and output projections applied at every position, with the
// positional embedding resized (bicubic) to the map. The pool's query/key attention is what
// mixes positions into one vector; without it each location lands in the joint space on its
// own. At output stride 32 and the model's resolution the map is exactly the one
// encode_image pools. ViT: the projected patch tokens (ln_post, proj on every token).
//
// Every output is float32 on the model's device; inputs may be on any device.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <string>
#include <unordered_map>
#include <vector>

#include "models/clip/architecture.h"
#include "models/state_dict.h"

namespace styleseg::clip {

using models::ActivationSink;

struct ModelSettings {
  c10::Device device = c10::Device(c10::kCPU);
  c10::ScalarType dtype = c10::ScalarType::Float;  // Float, or BFloat16 (GPU)
};

class Model {
 public:
  // Weights are copied to settings.device in settings.dtype. Throws InputError naming the
  // source and key when the state dict lacks a tensor the architecture needs.
  Model(Architecture architecture, const models::StateDict& state, ModelSettings settings);

  const Architecture& architecture() const { return arch_; }
  c10::Device device() const { return settings_.device; }
  c10::ScalarType dtype() const { return settings_.dtype; }
  const std::string& source() const { return source_; }

  // Preprocessed images [B, 3, R, R] (R = image_resolution; clip/preprocess.h) -> [B, E].
  // Activations are named as the reference modules: visual.avgpool (ResNet stem),
  // visual.layer1..4, visual.attnpool; ViT: visual.conv1, visual.ln_pre,
  // visual.transformer.resblocks.i (sequence-first [L, B, W] as the reference),
  // visual.ln_post.
  at::Tensor encode_image(const at::Tensor& images, const ActivationSink* sink = nullptr) const;

  // Token ids [N, context_length] int64 (clip/tokenizer.h) -> [N, E]: the end token's
  // feature (the largest id of each row, as the reference's argmax), projected.
  // Activations: transformer.resblocks.i ([77, N, W]), ln_final ([N, 77, W]).
  at::Tensor encode_text(const at::Tensor& tokens, const ActivationSink* sink = nullptr) const;

  // The learned temperature parameter (logits are exp(logit_scale) x cosine similarity).
  double logit_scale() const { return logit_scale_; }
  // [B, N] = exp(logit_scale) * normalized(image) . normalized(text); per text = transpose.
  at::Tensor logits_per_image(const at::Tensor& image_embeddings, const at::Tensor& text_embeddings) const;

  // The image tower before its pooling: ResNet layer4 map [B, 32w, H/s, W/s] at output
  // stride s (32, 16 or 8); ViT every token before ln_post [B, 1 + g*g, W] (s = patch).
  at::Tensor image_features(const at::Tensor& images, int64_t output_stride, const ActivationSink* sink = nullptr) const;
  // Per-location embeddings in the joint space [B, E, h, w] (see the top of this file).
  // Images [B, 3, H, W] preprocessed, any size the stride divides. 0: the default stride
  // (ResNet 8, ViT its patch).
  at::Tensor dense_embeddings(const at::Tensor& images, int64_t output_stride = 0) const;
  // The strides dense_embeddings accepts, finest first.
  std::vector<int64_t> output_strides() const;

 private:
  const at::Tensor& w(const std::string& key) const;
  at::Tensor linear(const at::Tensor& x, const std::string& prefix) const;
  at::Tensor layer_norm(const at::Tensor& x, const std::string& prefix) const;
  at::Tensor batch_norm(const at::Tensor& x, const std::string& prefix) const;
  at::Tensor residual_attention_block(const at::Tensor& x, const std::string& prefix, int64_t heads,
                                      const at::Tensor& mask) const;
  at::Tensor transformer(at::Tensor x, const std::string& prefix, int64_t layers, int64_t heads, const at::Tensor& mask,
                         const ActivationSink* sink) const;
  at::Tensor bottleneck(const at::Tensor& x, const std::string& prefix, int64_t stride, int64_t dilation) const;
  at::Tensor resnet_features(const at::Tensor& images, int64_t output_stride, const ActivationSink* sink) const;
  at::Tensor vit_tokens(const at::Tensor& images, const ActivationSink* sink) const;
  at::Tensor attention_pool(const at::Tensor& map) const;
  at::Tensor to_model(const at::Tensor& images) const;
  int64_t checked_stride(int64_t output_stride) const;

  Architecture arch_;
  ModelSettings settings_;
  std::string source_;
  std::unordered_map<std::string, at::Tensor> weights_;
  double logit_scale_ = 0;
};

// Loads a CLIP model: a TorchScript archive (torch.jit.save, as OpenAI releases them) or a
// torch.save state dict (optionally under "state_dict"). Throws InputError naming the file
// when it is missing or is neither, or not a CLIP model.
Model load_model(const std::string& path, ModelSettings settings = {});

// The file's tensors as stored (fp16 stays fp16), for tools and tests; same errors.
models::StateDict read_state_dict(const std::string& path);

}  // namespace styleseg::clip
