// Applying a segmenter to images of any size: each image is resized to the model's input
// size, normalised, batched through the network, and its logits resized back to the
// image's own size before the per-pixel argmax (so masks align with the input pixels).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <vector>

#include "models/segmenter/model_file.h"

namespace styleseg::segmenter {

// Float images [B, 3, H, W] in [0, 1] -> the network's input: resized to the model's input
// size (antialiased when shrinking, as the synthetic images were made) and normalised.
at::Tensor model_input(const at::Tensor& images, const ModelInfo& info);

// images: uint8 [H_i, W_i, 3] on the CPU, sizes may differ. Returns int64 label maps
// [H_i, W_i] on the CPU. The network must be on `device` and in evaluation mode.
// `precision` float32 or bfloat16 (autocast).
std::vector<at::Tensor> predict_labels(Segmenter& net, const ModelInfo& info, const std::vector<at::Tensor>& images,
                                       c10::Device device, c10::ScalarType precision = c10::ScalarType::Float);

}  // namespace styleseg::segmenter
