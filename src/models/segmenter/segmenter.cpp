#include "models/segmenter/segmenter.h"

#include <ATen/ATen.h>
#include <torch/nn/functional/activation.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/pooling.h>
#include <torch/nn/init.h>

#include <map>

#include "core/error.h"
#include "io/torch_file.h"
#include "models/state_dict.h"

namespace styleseg::segmenter {
namespace {

namespace nn = torch::nn;

nn::Conv2d conv3x3(int64_t in, int64_t out, int64_t stride, int64_t dilation) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, 3).stride(stride).padding(dilation).dilation(dilation).bias(false));
}

// Shared by every layer of one network: the training-mode normalisation, when replaced.
using SharedOverride = std::shared_ptr<BatchNormOverride>;

at::Tensor normalise(nn::BatchNorm2d& bn, const at::Tensor& x, const SharedOverride& norm_override) {
  if (!*norm_override || !bn->is_training()) return bn->forward(x);
  {
    at::NoGradGuard no_grad;
    bn->num_batches_tracked.add_(1);
  }
  return (*norm_override)(x, {bn->weight, bn->bias, bn->running_mean, bn->running_var,
                          bn->options.momentum().value_or(0.1), bn->options.eps()});
}

// torchvision's BasicBlock, with the dilation torchvision refuses for it (the seed's
// resnet18_8s sets it on both 3x3 convolutions of the dilated layers).
struct BasicBlockImpl : nn::Module {
  BasicBlockImpl(int64_t in, int64_t out, int64_t stride, int64_t dilation, SharedOverride shared_override)
      : norm_override(std::move(shared_override)) {
    conv1 = register_module("conv1", conv3x3(in, out, stride, dilation));
    bn1 = register_module("bn1", nn::BatchNorm2d(out));
    conv2 = register_module("conv2", conv3x3(out, out, 1, dilation));
    bn2 = register_module("bn2", nn::BatchNorm2d(out));
    if (stride != 1 || in != out) {
      down_conv = nn::Conv2d(nn::Conv2dOptions(in, out, 1).stride(stride).bias(false));
      down_bn = nn::BatchNorm2d(out);
      downsample = register_module("downsample", nn::Sequential(down_conv, down_bn));
    }
  }
  at::Tensor forward(const at::Tensor& x) {
    at::Tensor y = at::relu(normalise(bn1, conv1(x), norm_override));
    y = normalise(bn2, conv2(y), norm_override);
    return at::relu(y + (downsample ? shortcut(x) : x));
  }
  at::Tensor shortcut(const at::Tensor& x) { return normalise(down_bn, down_conv(x), norm_override); }
  nn::Conv2d conv1{nullptr}, conv2{nullptr}, down_conv{nullptr};
  nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, down_bn{nullptr};
  // Holds down_conv and down_bn as downsample.0 and downsample.1 (torchvision's names).
  nn::Sequential downsample{nullptr};
  SharedOverride norm_override;
};
TORCH_MODULE(BasicBlock);

struct NetImpl : nn::Module {
  explicit NetImpl(int64_t classes) : norm_override(std::make_shared<BatchNormOverride>()) {
    conv1 = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(3, 64, 7).stride(2).padding(3).bias(false)));
    bn1 = register_module("bn1", nn::BatchNorm2d(64));
    // (out channels, stride, dilation): layer3 and layer4 keep the resolution of layer2
    // (stride 8) and dilate instead.
    const int64_t spec[4][3] = {{64, 1, 1}, {128, 2, 1}, {256, 1, 2}, {512, 1, 4}};
    int64_t in = 64;
    for (int l = 0; l < 4; ++l) {
      nn::Sequential layer;
      layer->push_back(BasicBlock(in, spec[l][0], spec[l][1], spec[l][2], norm_override));
      layer->push_back(BasicBlock(spec[l][0], spec[l][0], 1, spec[l][2], norm_override));
      // The first block of layer3/4 needs a 1x1 projection only for the channel change.
      layers.push_back(register_module("layer" + std::to_string(l + 1), layer));
      in = spec[l][0];
    }
    classifier = register_module("classifier", nn::Conv2d(nn::Conv2dOptions(512, classes, 1)));
    // torchvision's ResNet initialisation.
    for (auto& module : modules(/*include_self=*/false)) {
      if (auto* conv = module->as<nn::Conv2d>()) {
        nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
      } else if (auto* bn = module->as<nn::BatchNorm2d>()) {
        nn::init::ones_(bn->weight);
        nn::init::zeros_(bn->bias);
      }
    }
    nn::init::normal_(classifier->weight, 0.0, 0.01);
    nn::init::zeros_(classifier->bias);
  }
  at::Tensor features(const at::Tensor& x) {
    at::Tensor y = at::relu(normalise(bn1, conv1(x), norm_override));
    y = at::max_pool2d(y, {3, 3}, {2, 2}, {1, 1});
    for (auto& layer : layers) y = layer->forward(y);
    return y;
  }
  nn::Conv2d conv1{nullptr}, classifier{nullptr};
  nn::BatchNorm2d bn1{nullptr};
  std::vector<nn::Sequential> layers;
  SharedOverride norm_override;
};
TORCH_MODULE(Net);

bool is_classifier(const std::string& name) { return name.rfind("classifier.", 0) == 0; }

}  // namespace

struct Segmenter::Impl {
  explicit Impl(int64_t classes) : net(classes), classes(classes) {}
  Net net;
  int64_t classes;
};

Segmenter::Segmenter(int64_t classes) {
  STYLESEG_CHECK(classes >= 1, ConfigError, "the segmenter needs at least one class");
  impl_ = std::make_unique<Impl>(classes);
}
Segmenter::~Segmenter() = default;
Segmenter::Segmenter(Segmenter&&) noexcept = default;
Segmenter& Segmenter::operator=(Segmenter&&) noexcept = default;

at::Tensor Segmenter::features(const at::Tensor& images) { return impl_->net->features(images); }

at::Tensor Segmenter::forward(const at::Tensor& images) { return classify(features(images), images.size(2), images.size(3)); }

at::Tensor Segmenter::classify(const at::Tensor& features, int64_t height, int64_t width) {
  return at::upsample_bilinear2d(impl_->net->classifier(features), {height, width}, /*align_corners=*/true);
}

int64_t Segmenter::classes() const { return impl_->classes; }
void Segmenter::train(bool on) { impl_->net->train(on); }
void Segmenter::set_batch_norm_override(BatchNormOverride normalise) { *impl_->net->norm_override = std::move(normalise); }
void Segmenter::to(c10::Device device) { impl_->net->to(device); }
void Segmenter::to(c10::ScalarType dtype) { impl_->net->to(dtype); }
std::vector<at::Tensor> Segmenter::parameters() const { return impl_->net->parameters(); }

NamedTensors Segmenter::state() const {
  NamedTensors out;
  for (const auto& p : impl_->net->named_parameters()) out.emplace_back(p.key(), p.value());
  for (const auto& b : impl_->net->named_buffers()) out.emplace_back(b.key(), b.value());
  return out;
}

void Segmenter::load_state(const NamedTensors& state, bool backbone_only, const std::string& source) {
  models::load_named_tensors(this->state(), state, source, "segmenter", "(not a ResNet-18 state dict?)",
                             [backbone_only](const std::string& name) { return backbone_only && is_classifier(name); });
}

void Segmenter::load_torchvision(const std::string& path) {
  const io::PyValue root = io::load_torch_file(path);
  const io::PyValue& dict = root.contains("state_dict") ? root.at("state_dict") : root;
  load_state(io::tensor_items(dict), /*backbone_only=*/true, path);
}

at::Tensor normalise(const at::Tensor& images, const std::array<float, 3>& mean, const std::array<float, 3>& std) {
  const auto column = [&](const std::array<float, 3>& v) {
    return at::tensor({v[0], v[1], v[2]}, images.options()).view({1, 3, 1, 1});
  };
  return ((images - column(mean)) / column(std)).contiguous();
}

at::Tensor normalise_images(const at::Tensor& images) {
  return normalise(images.permute({0, 3, 1, 2}).to(at::kFloat) / 255.0, {kImageMean[0], kImageMean[1], kImageMean[2]},
                   {kImageStd[0], kImageStd[1], kImageStd[2]});
}

}  // namespace styleseg::segmenter
