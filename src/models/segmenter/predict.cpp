#include "models/segmenter/predict.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer includes it in LibTorch 2.x

#include "core/device.h"
#include "core/error.h"
#include "io/image_filters.h"

namespace styleseg::segmenter {

at::Tensor model_input(const at::Tensor& images, const ModelInfo& info) {
  // Antialiased when shrinking, as the synthetic images were made.
  return normalise(resize_bilinear(images, info.input_height, info.input_width), info.mean, info.std);
}

std::vector<at::Tensor> predict_labels(Segmenter& net, const ModelInfo& info, const std::vector<at::Tensor>& images,
                                       c10::Device device, c10::ScalarType precision) {
  if (images.empty()) return {};
  const int64_t height = info.input_height, width = info.input_width;
  std::vector<at::Tensor> inputs;
  for (const at::Tensor& image : images) {
    STYLESEG_CHECK(image.dim() == 3 && image.size(2) == 3 && image.scalar_type() == at::kByte, Error,
                   "predict_labels: expected uint8 images [H, W, 3]");
    inputs.push_back(model_input(image.permute({2, 0, 1}).unsqueeze(0).to(at::kFloat) / 255.0, info));
  }
  // In the network's own dtype (float64 in reference runs of train).
  const at::Tensor batch = at::cat(inputs).to(device, net.parameters().front().scalar_type());
  at::Tensor logits;
  {
    at::NoGradGuard no_grad;
    AutocastScope autocast(device, precision);
    logits = net.forward(batch).to(at::kFloat);
  }
  std::vector<at::Tensor> labels;
  for (size_t i = 0; i < images.size(); ++i) {
    at::Tensor l = logits.narrow(0, static_cast<int64_t>(i), 1);
    const int64_t h = images[i].size(0), w = images[i].size(1);
    if (h != height || w != width) l = at::upsample_bilinear2d(l, {h, w}, /*align_corners=*/false);
    labels.push_back(l.argmax(1)[0].to(at::kCPU));
  }
  return labels;
}

}  // namespace styleseg::segmenter
