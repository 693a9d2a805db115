#include "models/stylegan2/discriminator.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer includes it in LibTorch 2.x

#include <cmath>

#include "core/error.h"
#include "models/state_dict.h"
#include "models/stylegan2/ops.h"

namespace styleseg::stylegan2 {
namespace {

const int64_t kStrideOne[2] = {1, 1};
const int64_t kStrideTwo[2] = {2, 2};
const int64_t kDilation[2] = {1, 1};

// rosinality make_kernel([1, 3, 3, 1]): the outer product, normalised to sum 1.
at::Tensor blur_kernel() {
  const at::Tensor k = at::tensor({1.0f, 3.0f, 3.0f, 1.0f});
  const at::Tensor k2 = at::outer(k, k);
  return k2 / k2.sum();
}

bool is_blur_kernel(const std::string& name) { return name.size() > 7 && name.compare(name.size() - 7, 7, ".kernel") == 0; }

}  // namespace

Discriminator::Discriminator(int64_t resolution, std::map<int64_t, int64_t> channels)
    : resolution_(resolution), channels_(std::move(channels)) {
  STYLESEG_CHECK(resolution >= 8 && (resolution & (resolution - 1)) == 0, ConfigError,
                 "discriminator: the resolution must be a power of two >= 8");
  for (int64_t r = 4; r <= resolution; r *= 2)
    STYLESEG_CHECK(channels_.count(r) && channels_.at(r) > 0, ConfigError,
                   "discriminator: no channel count for resolution " + std::to_string(r));
  auto add = [&](const std::string& name, at::Tensor t) {
    if (!is_blur_kernel(name)) t.requires_grad_(true);
    index_[name] = tensors_.size();
    tensors_.emplace_back(name, std::move(t));
  };
  // rosinality ConvLayer's entries: [blur kernel], conv weight, [FusedLeakyReLU bias]. (The
  // discriminator's only layer without activation, skip, has no bias either.)
  auto conv_layer = [&](const std::string& p, int64_t in, int64_t out, int64_t k, bool downsample, bool bias) {
    int64_t i = 0;
    if (downsample) add(p + "." + std::to_string(i++) + ".kernel", blur_kernel());
    add(p + "." + std::to_string(i++) + ".weight", at::randn({out, in, k, k}));
    if (bias) add(p + "." + std::to_string(i) + ".bias", at::zeros({out}));
  };
  int64_t in = channels_.at(resolution);
  conv_layer("convs.0", 3, in, 1, false, true);
  int block = 1;
  for (int64_t r = resolution; r > 4; r /= 2, ++block) {
    const int64_t out = channels_.at(r / 2);
    const std::string p = "convs." + std::to_string(block);
    conv_layer(p + ".conv1", in, in, 3, false, true);
    conv_layer(p + ".conv2", in, out, 3, true, true);
    conv_layer(p + ".skip", in, out, 1, true, false);
    in = out;
  }
  const int64_t c4 = channels_.at(4);
  conv_layer("final_conv", in + 1, c4, 3, false, true);
  add("final_linear.0.weight", at::randn({c4, c4 * 16}));
  add("final_linear.0.bias", at::zeros({c4}));
  add("final_linear.1.weight", at::randn({1, c4}));
  add("final_linear.1.bias", at::zeros({1}));
}

const at::Tensor& Discriminator::get(const std::string& name) const { return tensors_[index_.at(name)].second; }

// rosinality ConvLayer: [Blur (downsampling)] -> EqualConv2d -> [FusedLeakyReLU].
at::Tensor Discriminator::conv(const std::string& p, const at::Tensor& x, int64_t padding, bool downsample, bool activate,
                               bool bias) const {
  int64_t i = 0;
  at::Tensor y = x;
  if (downsample) {
    const at::Tensor& weight = get(p + "." + std::to_string(i + 1) + ".weight");
    // pad = (len(blur) - factor) + (k - 1), split (p + 1) // 2 before, p // 2 after.
    const int64_t pad = 4 - 2 + (weight.size(2) - 1);
    y = fir_filter(y, get(p + "." + std::to_string(i++) + ".kernel"), (pad + 1) / 2, pad / 2);
  }
  const at::Tensor& weight = get(p + "." + std::to_string(i++) + ".weight");
  const double scale = 1.0 / std::sqrt(static_cast<double>(weight.size(1) * weight.size(2) * weight.size(3)));
  const int64_t pads[2] = {padding, padding};
  y = at::conv2d(y, weight * scale, {}, downsample ? kStrideTwo : kStrideOne, pads, kDilation);
  STYLESEG_ASSERT(bias == activate, "discriminator: a conv layer has both or neither of bias and activation");
  if (activate) y = bias_leaky_relu(y, get(p + "." + std::to_string(i) + ".bias"), std::nullopt);
  return y;
}

at::Tensor Discriminator::forward(const at::Tensor& images) const {
  STYLESEG_CHECK(images.dim() == 4 && images.size(1) == 3 && images.size(2) == resolution_ && images.size(3) == resolution_,
                 Error, "discriminator: expected images [B, 3, " + std::to_string(resolution_) + ", " + std::to_string(resolution_) + "]");
  at::Tensor x = conv("convs.0", images, 0, false, true, true);
  int block = 1;
  for (int64_t r = resolution_; r > 4; r /= 2, ++block) {
    const std::string p = "convs." + std::to_string(block);
    const at::Tensor main = conv(p + ".conv2", conv(p + ".conv1", x, 1, false, true, true), 0, true, true, true);
    x = (main + conv(p + ".skip", x, 0, true, false, false)) / std::sqrt(2.0);
  }
  // Minibatch standard deviation (rosinality: stddev_group 4, stddev_feat 1).
  const int64_t batch = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const int64_t group = std::min<int64_t>(batch, 4);
  STYLESEG_CHECK(batch % group == 0, Error,
                 "discriminator: a batch of " + std::to_string(batch) + " is not a multiple of the minibatch-stddev group " +
                     std::to_string(group));
  at::Tensor stddev = x.view({group, batch / group, 1, c, h, w});
  stddev = (stddev.var(0, /*unbiased=*/false) + 1e-8).sqrt();             // [B/G, 1, C, H, W]
  stddev = stddev.mean({2, 3, 4}, /*keepdim=*/true).squeeze(2);          // [B/G, 1, 1, 1]
  stddev = stddev.repeat({group, 1, h, w});                              // [B, 1, H, W]
  x = conv("final_conv", at::cat({x, stddev}, 1), 1, false, true, true).view({batch, -1});
  const at::Tensor& w0 = get("final_linear.0.weight");
  x = bias_leaky_relu(at::linear(x, w0 / std::sqrt(static_cast<double>(w0.size(1)))), get("final_linear.0.bias"), std::nullopt);
  const at::Tensor& w1 = get("final_linear.1.weight");
  return at::linear(x, w1 / std::sqrt(static_cast<double>(w1.size(1))), get("final_linear.1.bias"));
}

std::vector<at::Tensor> Discriminator::parameters() const {
  std::vector<at::Tensor> out;
  for (const auto& [name, t] : tensors_)
    if (!is_blur_kernel(name)) out.push_back(t);
  return out;
}

std::vector<std::pair<std::string, at::Tensor>> Discriminator::state() const { return tensors_; }

void Discriminator::load_state(const std::vector<std::pair<std::string, at::Tensor>>& state, const std::string& source) {
  models::load_named_tensors(tensors_, state, source, "discriminator");
}

void Discriminator::to(c10::Device device, std::optional<c10::ScalarType> dtype) {
  for (auto& [name, t] : tensors_) {
    const bool grad = t.requires_grad();
    t = t.detach().to(device, dtype && t.is_floating_point() ? *dtype : t.scalar_type()).requires_grad_(grad);
  }
}

}  // namespace styleseg::stylegan2
