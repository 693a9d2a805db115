// StyleGAN2's residual discriminator, in rosinality's layout (model.py `Discriminator`), for
// training a generator from scratch (train-gan). Parameters are kept under rosinality's
// state-dict names, so a checkpoint's "d" entry loads into it and it saves one back:
//
//   convs.0.0.weight                 1x1 from RGB (EqualConv2d), convs.0.1.bias (FusedLeakyReLU)
//   convs.i (i = 1..log2(R)-2)       ResBlock: conv1.0.weight, conv1.1.bias (3x3);
//                                    conv2.0.kernel (blur), conv2.1.weight, conv2.2.bias (3x3, stride 2);
//                                    skip.0.kernel, skip.1.weight (1x1, stride 2, no bias);
//                                    out = (conv2(conv1(x)) + skip(x)) / sqrt(2)
//   minibatch standard deviation     groups of min(4, B): samples b, b + B/G, ... share one
//                                    extra feature map (their std, averaged over C, H, W)
//   final_conv.0.weight, .1.bias     3x3 on C4 + 1 channels at 4x4
//   final_linear.0.{weight,bias}     C4*16 -> C4, leaky ReLU; final_linear.1: C4 -> 1
//
// Equalised learning rate: weights are stored N(0, 1) and scaled by 1/sqrt(fan_in) at use.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace styleseg::stylegan2 {

class Discriminator {
 public:
  // `channels[r]`: feature channels at resolution r, for every power of two 4..resolution.
  // Weights N(0, 1), biases 0 (rosinality's init), from LibTorch's generator (at::manual_seed).
  Discriminator(int64_t resolution, std::map<int64_t, int64_t> channels);

  // images [B, 3, R, R] in [-1, 1] -> scores [B, 1]. B must be a multiple of min(4, B).
  at::Tensor forward(const at::Tensor& images) const;

  int64_t resolution() const { return resolution_; }
  const std::map<int64_t, int64_t>& channels() const { return channels_; }

  // Trainable tensors (not the blur kernels), in a fixed order.
  std::vector<at::Tensor> parameters() const;
  // Everything by rosinality's names, blur kernels included.
  std::vector<std::pair<std::string, at::Tensor>> state() const;
  // Copies a state dict (names and shapes checked; InputError naming `source`).
  void load_state(const std::vector<std::pair<std::string, at::Tensor>>& state, const std::string& source);
  // Moves every tensor; `dtype` (float64 for reference runs) converts the floating ones.
  void to(c10::Device device, std::optional<c10::ScalarType> dtype = std::nullopt);

 private:
  const at::Tensor& get(const std::string& name) const;
  at::Tensor conv(const std::string& prefix, const at::Tensor& x, int64_t padding, bool downsample, bool activate, bool bias) const;
  int64_t resolution_;
  std::map<int64_t, int64_t> channels_;
  std::vector<std::pair<std::string, at::Tensor>> tensors_;  // rosinality's order
  std::map<std::string, size_t> index_;
};

}  // namespace styleseg::stylegan2
