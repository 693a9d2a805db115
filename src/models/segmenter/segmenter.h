// The segmenter distilled from the synthetic dataset (stage 6): ResNet-18 in torchvision's
// layout, with the strides of layer3 and layer4 replaced by dilation 2 and 4 (output stride
// 8, as the seed's "resnet18_8s"), a 1x1 classifier on the 512-channel features, and the
// logits up-sampled bilinearly to the input size (align_corners=True).
//
// Parameter and buffer names are torchvision's (conv1.weight, bn1.running_mean,
// layer3.0.downsample.0.weight, ...) plus classifier.weight / classifier.bias, so a
// torchvision resnet18 state dict initialises the backbone (its fc is not used).
//
// torch::nn stays inside segmenter.cpp (PLATFORM.md: its headers cost seconds per file).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace styleseg::segmenter {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

// One BatchNorm layer's tensors and settings, for a replacement of its training-mode
// normalisation (synchronised BatchNorm, train/sync_batchnorm.h).
struct BatchNormLayer {
  at::Tensor weight, bias, running_mean, running_var;
  double momentum = 0.1, eps = 1e-5;
};
using BatchNormOverride = std::function<at::Tensor(const at::Tensor& x, const BatchNormLayer& layer)>;

class Segmenter {
 public:
  // Random weights as torchvision initialises a ResNet (He normal, fan_out, for convs;
  // BatchNorm 1 and 0), drawn from LibTorch's generator (seed it with at::manual_seed).
  explicit Segmenter(int64_t classes);
  ~Segmenter();
  Segmenter(Segmenter&&) noexcept;
  Segmenter& operator=(Segmenter&&) noexcept;

  // Normalised images [B, 3, H, W] (any H, W) -> logits [B, classes, H, W].
  at::Tensor forward(const at::Tensor& images);
  // The backbone's output: [B, 512, ceil(H / 8), ceil(W / 8)].
  at::Tensor features(const at::Tensor& images);
  // The classifier on `features`, logits up-sampled to height x width: forward(x) is
  // classify(features(x), H, W), for callers that want both without two passes.
  at::Tensor classify(const at::Tensor& features, int64_t height, int64_t width);

  int64_t classes() const;
  void train(bool on = true);
  // In training mode every BatchNorm layer calls `normalise` instead of using its own
  // batch's statistics (empty: nn.BatchNorm2d's behaviour). Evaluation mode is unchanged.
  void set_batch_norm_override(BatchNormOverride normalise);
  void to(c10::Device device);
  void to(c10::ScalarType dtype);  // float64 for exact comparisons in tests
  std::vector<at::Tensor> parameters() const;   // trainable, in a fixed order
  NamedTensors state() const;                   // parameters and buffers, by name

  // Copies `state` into the model. Every parameter and buffer of the backbone must be
  // present with its shape; with `backbone_only` the classifier keeps its weights and
  // extra entries (torchvision's fc) are ignored, else the classifier must be present
  // too. Throws InputError naming `source` and the first missing or misshapen entry.
  void load_state(const NamedTensors& state, bool backbone_only, const std::string& source);
  // The backbone from a torchvision resnet18 state dict saved with torch.save.
  void load_torchvision(const std::string& path);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The ImageNet normalisation torchvision's weights expect: mean and std per channel.
constexpr float kImageMean[3] = {0.485f, 0.456f, 0.406f};
constexpr float kImageStd[3] = {0.229f, 0.224f, 0.225f};

// float images [B, 3, H, W] in [0, 1] -> (x - mean) / std per channel.
at::Tensor normalise(const at::Tensor& images, const std::array<float, 3>& mean, const std::array<float, 3>& std);

// uint8 images [B, H, W, 3] -> float [B, 3, H, W] normalised as torchvision's weights expect.
at::Tensor normalise_images(const at::Tensor& images);

}  // namespace styleseg::segmenter
