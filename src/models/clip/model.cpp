#include "models/clip/model.h"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>

#include "core/error.h"

namespace styleseg::clip {
namespace {

constexpr double kNormEps = 1e-5;  // every BatchNorm and LayerNorm of CLIP (PyTorch's default; not stored)

void emit(const ActivationSink* sink, const std::string& name, const at::Tensor& value) {
  if (sink) (*sink)(name, value.to(at::kFloat));
}

at::Tensor quick_gelu(const at::Tensor& x) { return x * at::sigmoid(1.702 * x); }  // CLIP's QuickGELU

// Multi-head attention as torch.nn.functional.multi_head_attention_forward computes it
// (batch-first here): queries [B, Lq, C], keys/values [B, L, C], projections given
// separately, q scaled by 1/sqrt(head dim) before the product, an additive mask [Lq, L].
struct AttentionWeights {
  at::Tensor q_weight, q_bias, k_weight, k_bias, v_weight, v_bias, out_weight, out_bias;
};

at::Tensor multi_head_attention(const at::Tensor& query, const at::Tensor& key_value, const AttentionWeights& a,
                                int64_t heads, const at::Tensor& mask) {
  const int64_t batch = query.size(0), lq = query.size(1), l = key_value.size(1), width = query.size(2);
  const int64_t head_dim = width / heads;
  auto split_heads = [&](const at::Tensor& t, int64_t length) {
    return t.reshape({batch, length, heads, head_dim}).transpose(1, 2);  // [B, h, L, d]
  };
  const at::Tensor q = split_heads(at::linear(query, a.q_weight, a.q_bias), lq) * (1.0 / std::sqrt(static_cast<double>(head_dim)));
  const at::Tensor k = split_heads(at::linear(key_value, a.k_weight, a.k_bias), l);
  const at::Tensor v = split_heads(at::linear(key_value, a.v_weight, a.v_bias), l);
  at::Tensor scores = at::matmul(q, k.transpose(-2, -1));
  if (mask.defined()) scores = scores + mask;
  const at::Tensor attention = at::softmax(scores.to(at::kFloat), -1).to(q.scalar_type());
  const at::Tensor mixed = at::matmul(attention, v).transpose(1, 2).reshape({batch, lq, width});
  return at::linear(mixed, a.out_weight, a.out_bias);
}

// Positional embedding rows laid out as a g x g grid ([g*g, C]), resized (bicubic, as
// the dense-CLIP literature does) to h x w and flattened back to [h*w, C].
at::Tensor resize_grid_embedding(const at::Tensor& rows, int64_t grid, int64_t h, int64_t w) {
  if (h == grid && w == grid) return rows;
  const int64_t channels = rows.size(1);
  const at::Tensor map = rows.to(at::kFloat).reshape({1, grid, grid, channels}).permute({0, 3, 1, 2});
  const at::Tensor resized = at::upsample_bicubic2d(map, {h, w}, /*align_corners=*/false);
  return resized.permute({0, 2, 3, 1}).reshape({h * w, channels}).to(rows.scalar_type());
}

}  // namespace

Model::Model(Architecture architecture, const models::StateDict& state, ModelSettings settings)
    : arch_(std::move(architecture)), settings_(settings), source_(state.source()) {
  STYLESEG_CHECK(settings_.dtype == at::kFloat || settings_.dtype == at::kBFloat16, ConfigError,
                 "CLIP: precision must be float32 or bfloat16");
  for (const auto& [key, tensor] : state.tensors()) {
    if (!tensor.is_floating_point()) continue;  // input_resolution, context_length, num_batches_tracked, ...
    weights_.emplace(key, tensor.to(settings_.device, settings_.dtype).contiguous());
  }
  logit_scale_ = state.get("logit_scale", {}).item<double>();
}

const at::Tensor& Model::w(const std::string& key) const {
  auto it = weights_.find(key);
  if (it == weights_.end()) throw InputError(source_ + ": CLIP model has no tensor '" + key + "' (" + arch_.describe() + ")");
  return it->second;
}

at::Tensor Model::linear(const at::Tensor& x, const std::string& prefix) const {
  return at::linear(x, w(prefix + ".weight"), w(prefix + ".bias"));
}

// CLIP's LayerNorm computes in float32 whatever the input type (its fp16 subclass).
at::Tensor Model::layer_norm(const at::Tensor& x, const std::string& prefix) const {
  return at::layer_norm(x.to(at::kFloat), {x.size(-1)}, w(prefix + ".weight").to(at::kFloat),
                        w(prefix + ".bias").to(at::kFloat), kNormEps)
      .to(x.scalar_type());
}

at::Tensor Model::batch_norm(const at::Tensor& x, const std::string& prefix) const {
  return at::batch_norm(x, w(prefix + ".weight"), w(prefix + ".bias"), w(prefix + ".running_mean"),
                        w(prefix + ".running_var"), /*training=*/false, 0.0, kNormEps, /*cudnn_enabled=*/true);
}

at::Tensor Model::to_model(const at::Tensor& images) const {
  STYLESEG_CHECK(images.dim() == 4 && images.size(1) == 3, ConfigError,
                 "CLIP: images must be [B, 3, H, W], got " + models::shape_text(images.sizes()));
  return images.to(settings_.device, settings_.dtype);
}

// ---- text -------------------------------------------------------------------------------

at::Tensor Model::residual_attention_block(const at::Tensor& x, const std::string& prefix, int64_t heads,
                                           const at::Tensor& mask) const {
  const auto qkv_weight = w(prefix + ".attn.in_proj_weight").chunk(3, 0);  // q, k, v stacked
  const auto qkv_bias = w(prefix + ".attn.in_proj_bias").chunk(3, 0);
  const AttentionWeights attn{qkv_weight[0], qkv_bias[0], qkv_weight[1], qkv_bias[1], qkv_weight[2], qkv_bias[2],
                              w(prefix + ".attn.out_proj.weight"), w(prefix + ".attn.out_proj.bias")};
  const at::Tensor normed = layer_norm(x, prefix + ".ln_1");
  const at::Tensor after_attention = x + multi_head_attention(normed, normed, attn, heads, mask);
  const at::Tensor hidden = quick_gelu(linear(layer_norm(after_attention, prefix + ".ln_2"), prefix + ".mlp.c_fc"));
  return after_attention + linear(hidden, prefix + ".mlp.c_proj");
}

at::Tensor Model::transformer(at::Tensor x, const std::string& prefix, int64_t layers, int64_t heads,
                              const at::Tensor& mask, const ActivationSink* sink) const {
  for (int64_t i = 0; i < layers; ++i) {
    const std::string block = prefix + ".resblocks." + std::to_string(i);
    x = residual_attention_block(x, block, heads, mask);
    emit(sink, block, x.transpose(0, 1));  // the reference runs sequence-first
  }
  return x;
}

at::Tensor Model::encode_text(const at::Tensor& tokens, const ActivationSink* sink) const {
  STYLESEG_CHECK(tokens.dim() == 2 && tokens.size(1) == arch_.context_length, ConfigError,
                 "CLIP: tokens must be [N, " + std::to_string(arch_.context_length) + "], got " +
                     models::shape_text(tokens.sizes()));
  const at::Tensor ids = tokens.to(settings_.device, at::kLong);
  STYLESEG_CHECK(ids.numel() == 0 || (ids.min().item<int64_t>() >= 0 && ids.max().item<int64_t>() < arch_.vocab_size),
                 ConfigError, "CLIP: token ids must lie in [0, " + std::to_string(arch_.vocab_size) + ")");
  at::Tensor x = at::embedding(w("token_embedding.weight"), ids) + w("positional_embedding");
  // Causal: position i sees positions <= i (the reference builds it; it is not stored).
  const at::Tensor mask = at::full({arch_.context_length, arch_.context_length}, -std::numeric_limits<float>::infinity(),
                                   x.options())
                              .triu(1);
  x = transformer(x, "transformer", arch_.transformer_layers, arch_.transformer_heads, mask, sink);
  x = layer_norm(x, "ln_final");
  emit(sink, "ln_final", x);
  const at::Tensor end = ids.argmax(-1);  // the end token has the largest id
  const at::Tensor features = x.index({at::arange(x.size(0), ids.options()), end});
  return at::matmul(features, w("text_projection")).to(at::kFloat);
}

at::Tensor Model::logits_per_image(const at::Tensor& image_embeddings, const at::Tensor& text_embeddings) const {
  const at::Tensor image = image_embeddings.to(at::kFloat);
  const at::Tensor text = text_embeddings.to(image.device(), at::kFloat);
  return std::exp(logit_scale_) * at::matmul(image / image.norm(2, -1, true), (text / text.norm(2, -1, true)).t());
}

// ---- ResNet image tower -------------------------------------------------------------------

// CLIP's Bottleneck: all convolutions stride 1, an average pool after the 3x3 convolution
// does the down-sampling (anti-aliasing), and the shortcut pools before its 1x1
// convolution. `dilation` replaces a removed stride in the dense path.
at::Tensor Model::bottleneck(const at::Tensor& x, const std::string& prefix, int64_t stride, int64_t dilation) const {
  at::Tensor out = at::relu(batch_norm(at::conv2d(x, w(prefix + ".conv1.weight")), prefix + ".bn1"));
  out = at::conv2d(out, w(prefix + ".conv2.weight"), {}, /*stride=*/1, /*padding=*/dilation, dilation);
  out = at::relu(batch_norm(out, prefix + ".bn2"));
  if (stride > 1) out = at::avg_pool2d(out, stride);
  out = batch_norm(at::conv2d(out, w(prefix + ".conv3.weight")), prefix + ".bn3");
  at::Tensor identity = x;
  if (weights_.count(prefix + ".downsample.0.weight")) {
    if (stride > 1) identity = at::avg_pool2d(identity, stride);
    identity = batch_norm(at::conv2d(identity, w(prefix + ".downsample.0.weight")), prefix + ".downsample.1");
  }
  return at::relu(out + identity);
}

at::Tensor Model::resnet_features(const at::Tensor& images, int64_t output_stride, const ActivationSink* sink) const {
  at::Tensor x = to_model(images);
  x = at::relu(batch_norm(at::conv2d(x, w("visual.conv1.weight"), {}, 2, 1), "visual.bn1"));
  x = at::relu(batch_norm(at::conv2d(x, w("visual.conv2.weight"), {}, 1, 1), "visual.bn2"));
  x = at::relu(batch_norm(at::conv2d(x, w("visual.conv3.weight"), {}, 1, 1), "visual.bn3"));
  x = at::avg_pool2d(x, 2);
  emit(sink, "visual.avgpool", x);
  int64_t dilation = 1;
  for (int stage = 1; stage <= 4; ++stage) {
    int64_t stride = stage == 1 ? 1 : 2;
    // Stages 4 (stride 16) and 3 (stride 8) trade their stride for dilation.
    const bool dilate = (stage == 4 && output_stride <= 16) || (stage == 3 && output_stride <= 8);
    const int64_t previous_dilation = dilation;
    if (dilate) {
      dilation *= stride;
      stride = 1;
    }
    const std::string name = "visual.layer" + std::to_string(stage);
    for (int64_t block = 0; block < arch_.vision_layers[static_cast<size_t>(stage - 1)]; ++block)
      x = bottleneck(x, name + "." + std::to_string(block), block == 0 ? stride : 1,
                     block == 0 ? previous_dilation : dilation);
    emit(sink, name, x);
  }
  return x;
}

// AttentionPool2d: the map's mean is prepended as a query token, positions get their
// embedding, and the query attends over all tokens.
at::Tensor Model::attention_pool(const at::Tensor& map) const {
  const int64_t batch = map.size(0);
  const at::Tensor positions = map.flatten(2).transpose(1, 2);                        // [B, HW, C]
  at::Tensor tokens = at::cat({positions.mean(1, true), positions}, 1) + w("visual.attnpool.positional_embedding");
  const AttentionWeights attn{w("visual.attnpool.q_proj.weight"), w("visual.attnpool.q_proj.bias"),
                              w("visual.attnpool.k_proj.weight"), w("visual.attnpool.k_proj.bias"),
                              w("visual.attnpool.v_proj.weight"), w("visual.attnpool.v_proj.bias"),
                              w("visual.attnpool.c_proj.weight"), w("visual.attnpool.c_proj.bias")};
  const at::Tensor query = tokens.narrow(1, 0, 1);
  return multi_head_attention(query, tokens, attn, arch_.vision_heads, {}).reshape({batch, -1});
}

// ---- ViT image tower ------------------------------------------------------------------------

at::Tensor Model::vit_tokens(const at::Tensor& images, const ActivationSink* sink) const {
  const int64_t patch = arch_.vision_patch_size;
  at::Tensor x = at::conv2d(to_model(images), w("visual.conv1.weight"), {}, patch);  // [B, W, gh, gw]
  emit(sink, "visual.conv1", x);
  const int64_t batch = x.size(0), width = x.size(1), gh = x.size(2), gw = x.size(3);
  x = x.reshape({batch, width, gh * gw}).transpose(1, 2);   // token 1 + i*gw + j = patch row i, column j
  const at::Tensor cls = w("visual.class_embedding").reshape({1, 1, width}).expand({batch, 1, width});
  const at::Tensor pos = w("visual.positional_embedding");
  const int64_t grid = arch_.grid_size();
  const at::Tensor pos_all = at::cat({pos.narrow(0, 0, 1), resize_grid_embedding(pos.narrow(0, 1, grid * grid), grid, gh, gw)}, 0);
  x = at::cat({cls, x}, 1) + pos_all;
  x = layer_norm(x, "visual.ln_pre");
  emit(sink, "visual.ln_pre", x);
  return transformer(x, "visual.transformer", arch_.vision_layers.at(0), arch_.vision_heads, {}, sink);
}

// ---- images ----------------------------------------------------------------------------------

int64_t Model::checked_stride(int64_t output_stride) const {
  const std::vector<int64_t> strides = output_strides();
  if (output_stride == 0) return strides.front();
  for (int64_t s : strides)
    if (s == output_stride) return s;
  std::string allowed;
  for (int64_t s : strides) allowed += (allowed.empty() ? "" : ", ") + std::to_string(s);
  throw ConfigError("CLIP: output stride " + std::to_string(output_stride) + " is not available for a " +
                    (arch_.is_vit() ? "ViT" : "ResNet") + " image tower (" + allowed + ")");
}

std::vector<int64_t> Model::output_strides() const {
  if (arch_.is_vit()) return {arch_.vision_patch_size};
  return {8, 16, 32};
}

at::Tensor Model::image_features(const at::Tensor& images, int64_t output_stride, const ActivationSink* sink) const {
  const int64_t stride = checked_stride(output_stride);
  return arch_.is_vit() ? vit_tokens(images, sink) : resnet_features(images, stride, sink);
}

at::Tensor Model::encode_image(const at::Tensor& images, const ActivationSink* sink) const {
  const int64_t r = arch_.image_resolution;
  STYLESEG_CHECK(images.dim() == 4 && images.size(2) == r && images.size(3) == r, ConfigError,
                 "CLIP: encode_image takes [B, 3, " + std::to_string(r) + ", " + std::to_string(r) + "] images, got " +
                     models::shape_text(images.sizes()) + " (clip/preprocess.h resizes)");
  at::Tensor embedding;
  if (arch_.is_vit()) {
    const at::Tensor tokens = vit_tokens(images, sink);
    const at::Tensor pooled = layer_norm(tokens.select(1, 0), "visual.ln_post");
    emit(sink, "visual.ln_post", pooled);
    embedding = at::matmul(pooled, w("visual.proj"));
  } else {
    embedding = attention_pool(resnet_features(images, 32, sink));
    emit(sink, "visual.attnpool", embedding);
  }
  return embedding.to(at::kFloat);
}

at::Tensor Model::dense_embeddings(const at::Tensor& images, int64_t output_stride) const {
  const int64_t stride = checked_stride(output_stride);
  STYLESEG_CHECK(images.dim() == 4 && images.size(2) % stride == 0 && images.size(3) % stride == 0, ConfigError,
                 "CLIP: dense embeddings at output stride " + std::to_string(stride) + " need image sides divisible by it, got " +
                     models::shape_text(images.sizes()));
  const int64_t h = images.size(2) / stride, wd = images.size(3) / stride, grid = arch_.grid_size();
  at::Tensor per_location;  // [B, h*w, E]
  if (arch_.is_vit()) {
    const at::Tensor tokens = vit_tokens(images, nullptr);
    per_location = at::matmul(layer_norm(tokens.narrow(1, 1, h * wd), "visual.ln_post"), w("visual.proj"));
  } else {
    const at::Tensor map = resnet_features(images, stride, nullptr);
    const at::Tensor pos = w("visual.attnpool.positional_embedding");
    const at::Tensor positions = map.flatten(2).transpose(1, 2) + resize_grid_embedding(pos.narrow(0, 1, grid * grid), grid, h, wd);
    per_location = linear(linear(positions, "visual.attnpool.v_proj"), "visual.attnpool.c_proj");
  }
  return per_location.transpose(1, 2).reshape({images.size(0), -1, h, wd}).to(at::kFloat);
}

}  // namespace styleseg::clip
