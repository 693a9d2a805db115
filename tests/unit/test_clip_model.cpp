// CLIP against the reference (../shared/fixtures/clip, clip_vit: openai/CLIP run on the
// same fp16 weights), and the dense path's relation to the pooled one.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer includes it in LibTorch 2.x
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/h5.h"
#include "io/h5_tensor.h"
#include "models/clip/model.h"
#include "models/clip/preprocess.h"
#include "models/clip/random_model.h"
#include "support/fixtures.h"
#include "support/parity.h"

namespace styleseg::clip {
namespace {

using test::Capture;
using test::ParityChecker;

struct Fixture {
  Model model;
  h5::File expected;
};

Fixture open_fixture(const std::string& model_path, const std::string& expected_path) {
  return {load_model(model_path, {test::test_device(), at::kFloat}), h5::File::open(expected_path, h5::Mode::Read)};
}

TEST(ClipModel, ResNetArchitectureIsReadFromTheStateDict) {
  STYLESEG_REQUIRE_FIXTURE(model_path, "clip/model.pt");
  const Model model = load_model(model_path);
  const Architecture& a = model.architecture();
  EXPECT_FALSE(a.is_vit());
  EXPECT_EQ(a.embed_dim, 32);
  EXPECT_EQ(a.image_resolution, 64);
  EXPECT_EQ(a.vision_layers, (std::vector<int64_t>{1, 1, 1, 1}));
  EXPECT_EQ(a.vision_width, 16);
  EXPECT_EQ(a.vision_heads, 8);
  EXPECT_EQ(a.context_length, 77);
  EXPECT_EQ(a.vocab_size, 49408);
  EXPECT_EQ(a.transformer_width, 128);
  EXPECT_EQ(a.transformer_heads, 2);
  EXPECT_EQ(a.transformer_layers, 2);
}

TEST(ClipModel, ResNetParityWithReference) {
  STYLESEG_REQUIRE_FIXTURE(model_path, "clip/model.pt");
  STYLESEG_REQUIRE_FIXTURE(expected_path, "clip/expected.h5");
  Fixture f = open_fixture(model_path, expected_path);
  ParityChecker c(f.expected, "");
  Capture capture;
  auto sink = capture.sink();
  const at::Tensor images = h5::read_tensor(f.expected, "image_input");
  const at::Tensor tokens = h5::read_tensor(f.expected, "tokens");
  const at::Tensor image_embeddings = f.model.encode_image(images, &sink);
  const at::Tensor text_embeddings = f.model.encode_text(tokens, &sink);
  c.expect_close("encode_image", image_embeddings);
  c.expect_close("encode_text", text_embeddings);
  c.expect_close("visual.layer4", f.model.image_features(images, 32));
  c.expect_close("logits_per_image", f.model.logits_per_image(image_embeddings, text_embeddings));
  c.expect_close("logits_per_text", f.model.logits_per_image(image_embeddings, text_embeddings).t());
  c.expect_activations(capture);
  EXPECT_FLOAT_EQ(static_cast<float>(f.model.logit_scale()), f.expected.read_all<float>("logit_scale").at(0));
  EXPECT_GE(c.checked(), 13);
}

TEST(ClipModel, VitParityWithReference) {
  STYLESEG_REQUIRE_FIXTURE(model_path, "clip_vit/model.pt");
  STYLESEG_REQUIRE_FIXTURE(expected_path, "clip_vit/expected.h5");
  Fixture f = open_fixture(model_path, expected_path);
  const Architecture& a = f.model.architecture();
  ASSERT_TRUE(a.is_vit());
  EXPECT_EQ(a.vision_heads, f.expected.read_int_attribute("/", "vision_heads"));
  EXPECT_EQ(a.grid_size(), f.expected.read_int_attribute("/", "grid_size"));
  EXPECT_EQ(a.vision_patch_size, 16);
  EXPECT_EQ(a.vision_layers, std::vector<int64_t>{2});
  EXPECT_EQ(a.transformer_heads, 1);

  ParityChecker c(f.expected, "");
  Capture capture;
  auto sink = capture.sink();
  const at::Tensor images = h5::read_tensor(f.expected, "image_input");
  const at::Tensor image_embeddings = f.model.encode_image(images, &sink);
  const at::Tensor text_embeddings = f.model.encode_text(h5::read_tensor(f.expected, "tokens"));
  c.expect_close("encode_image", image_embeddings);
  c.expect_close("encode_text", text_embeddings);
  c.expect_close("visual_tokens", f.model.image_features(images, 16));
  c.expect_close("logits_per_image", f.model.logits_per_image(image_embeddings, text_embeddings));
  c.expect_activations(capture);

  // Dense: the projected patch tokens, token 1 + i*g + j at row i, column j.
  const at::Tensor projected = h5::read_tensor(f.expected, "visual_tokens_projected");  // [B, L, E]
  const at::Tensor dense = f.model.dense_embeddings(images);                              // [B, E, g, g]
  const int64_t g = a.grid_size();
  ASSERT_EQ(dense.sizes(), (std::vector<int64_t>{images.size(0), a.embed_dim, g, g}));
  const at::Tensor expected_dense = projected.narrow(1, 1, g * g).transpose(1, 2).reshape({images.size(0), a.embed_dim, g, g});
  const double tolerance = std::max(10 * f.expected.read_double_attribute("visual_tokens_projected", "relerr_f32_vs_f64"), 1e-5);
  EXPECT_LE(test::relative_error(dense, expected_dense), tolerance);
}

// The dense ResNet path at output stride 32 and the model's resolution is, position by
// position, c_proj(v_proj(layer4[:, :, i, j] + positional_embedding[1 + i*g + j])): computed
// here from the reference's layer4 and the raw weights, independent of the model's code.
TEST(ClipDense, ResNetStride32IsTheAttentionPoolsValuePathAtEveryPosition) {
  STYLESEG_REQUIRE_FIXTURE(model_path, "clip/model.pt");
  STYLESEG_REQUIRE_FIXTURE(expected_path, "clip/expected.h5");
  Fixture f = open_fixture(model_path, expected_path);
  const at::Tensor images = h5::read_tensor(f.expected, "image_input");
  const at::Tensor layer4 = h5::read_tensor(f.expected, "visual.layer4");  // [B, C, g, g]
  const at::Tensor dense = f.model.dense_embeddings(images, 32);
  const int64_t b = layer4.size(0), channels = layer4.size(1), g = layer4.size(2);
  ASSERT_EQ(dense.sizes(), (std::vector<int64_t>{b, f.model.architecture().embed_dim, g, g}));

  const models::StateDict state = read_state_dict(model_path);
  auto weight = [&](const std::string& key) { return state.get(key, std::vector<int64_t>(state.raw(key).dim(), -1)); };
  const at::Tensor pos = weight("visual.attnpool.positional_embedding");  // [1 + g*g, C]
  for (int64_t i = 0; i < g; ++i)
    for (int64_t j = 0; j < g; ++j) {
      const at::Tensor x = layer4.select(3, j).select(2, i) + pos[1 + i * g + j];  // [B, C]
      const at::Tensor v = at::linear(x, weight("visual.attnpool.v_proj.weight"), weight("visual.attnpool.v_proj.bias"));
      const at::Tensor e = at::linear(v, weight("visual.attnpool.c_proj.weight"), weight("visual.attnpool.c_proj.bias"));
      EXPECT_LE(test::relative_error(dense.select(3, j).select(2, i), e), 1e-5) << "position " << i << ", " << j;
    }
  EXPECT_EQ(channels, f.model.architecture().resnet_feature_channels());
}

TEST(ClipDense, DilationGivesStride16And8MapsOfTheRightSize) {
  STYLESEG_REQUIRE_FIXTURE(model_path, "clip/model.pt");
  const Model model = load_model(model_path);
  const at::Tensor images = at::randn({2, 3, 64, 96});
  for (int64_t stride : {32, 16, 8}) {
    const at::Tensor dense = model.dense_embeddings(images, stride);
    EXPECT_EQ(dense.sizes(), (std::vector<int64_t>{2, 32, 64 / stride, 96 / stride})) << "stride " << stride;
    EXPECT_TRUE(at::isfinite(dense).all().item<bool>());
    const at::Tensor features = model.image_features(images, stride);
    EXPECT_EQ(features.sizes(), (std::vector<int64_t>{2, 512, 64 / stride, 96 / stride})) << "stride " << stride;
  }
  EXPECT_EQ(model.output_strides(), (std::vector<int64_t>{8, 16, 32}));
  EXPECT_THROW(model.dense_embeddings(images, 4), ConfigError);
  EXPECT_THROW(model.dense_embeddings(at::randn({1, 3, 60, 60}), 8), ConfigError);
  EXPECT_THROW(model.encode_image(at::randn({1, 3, 32, 32})), ConfigError);
}

// At the model's resolution preprocessing is only scaling and normalisation: it must give
// the reference's model input from its 8-bit images.
TEST(ClipPreprocess, NativeResolutionGivesTheReferenceInput) {
  STYLESEG_REQUIRE_FIXTURE(expected_path, "clip/expected.h5");
  const h5::File expected = h5::File::open(expected_path, h5::Mode::Read);
  const at::Tensor pixels = h5::read_tensor(expected, "images_uint8");
  const at::Tensor input = h5::read_tensor(expected, "image_input");
  EXPECT_LE(test::relative_error(preprocess_pixels(pixels, pixels.size(1)), input), 1e-6);
  const auto mean = nlohmann::json::parse(expected.read_string_attribute("/", "normalize_mean")).get<std::vector<double>>();
  for (size_t c = 0; c < 3; ++c) EXPECT_NEAR(mean[c], kImageMean[c], 1e-7);
}

// A wide image: the short side becomes R, the centre R x R is kept, and a uniform colour
// stays that colour through the bicubic filter.
TEST(ClipPreprocess, ResizesTheShortSideAndCropsTheCentre) {
  at::Tensor pixels = at::full({1, 40, 100, 3}, 200, at::kByte);
  pixels.narrow(2, 0, 20).fill_(0);   // a black band on the left (10 columns once resized) that the crop removes
  const at::Tensor out = preprocess_pixels(pixels, 20);
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{1, 3, 20, 20}));
  for (int64_t c = 0; c < 3; ++c) {
    const double expected = (200.0 / 255.0 - kImageMean[static_cast<size_t>(c)]) / kImageStd[static_cast<size_t>(c)];
    EXPECT_NEAR(out[0][c].min().item<double>(), expected, 1e-5);
    EXPECT_NEAR(out[0][c].max().item<double>(), expected, 1e-5);
  }
  EXPECT_THROW(preprocess_pixels(at::zeros({1, 3, 8, 8}, at::kByte), 8), ConfigError);
}

// The released shapes' key names and sizes: infer_architecture reads back what built them,
// and the model runs on them (RN50 and ViT-B/32 at full size, text tower included).
TEST(ClipModel, ReleasedShapesRoundTripThroughTheStateDict) {
  for (const std::string name : {"RN50", "ViT-B/32"}) {
    SCOPED_TRACE(name);
    const Architecture a = released_architecture(name);
    const models::StateDict state = random_state_dict(a, 7);
    const Architecture b = infer_architecture(state);
    EXPECT_EQ(b.describe(), a.describe());
    EXPECT_EQ(b.vision_layers, a.vision_layers);
    EXPECT_EQ(b.vision_heads, a.vision_heads);
    const Model model(b, state, {});
    at::NoGradGuard no_grad;
    const at::Tensor images = at::randn({1, 3, a.image_resolution, a.image_resolution});
    EXPECT_EQ(model.encode_image(images).sizes(), (std::vector<int64_t>{1, a.embed_dim}));
    const int64_t stride = model.output_strides().front();
    EXPECT_EQ(model.dense_embeddings(images).sizes(),
              (std::vector<int64_t>{1, a.embed_dim, a.image_resolution / stride, a.image_resolution / stride}));
  }
  EXPECT_THROW(released_architecture("RN51"), ConfigError);
}

// bfloat16 (the GPU setting) runs the same code: close to float32 at bf16's precision.
TEST(ClipModel, Bfloat16IsCloseToFloat32) {
  STYLESEG_SKIP_IF_EMULATED_ISA_LACKS_BFLOAT16();
  STYLESEG_REQUIRE_FIXTURE(model_path, "clip/model.pt");
  STYLESEG_REQUIRE_FIXTURE(expected_path, "clip/expected.h5");
  const h5::File expected = h5::File::open(expected_path, h5::Mode::Read);
  const Model model = load_model(model_path, {test::test_device(), at::kBFloat16});
  const at::Tensor image = model.encode_image(h5::read_tensor(expected, "image_input"));
  const at::Tensor text = model.encode_text(h5::read_tensor(expected, "tokens"));
  EXPECT_EQ(image.scalar_type(), at::kFloat);
  EXPECT_LE(test::relative_error(image, h5::read_tensor(expected, "encode_image")), 0.05);
  EXPECT_LE(test::relative_error(text, h5::read_tensor(expected, "encode_text")), 0.05);
}

TEST(ClipModel, MissingOrWrongFilesAreInputErrorsNamingThem) {
  const std::string dir = test::scratch_dir("clip_bad_files");
  try {
    load_model(dir + "/absent.pt");
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("absent.pt"), std::string::npos) << e.what();
  }
  const std::string junk = dir + "/junk.pt";
  FILE* out = std::fopen(junk.c_str(), "wb");
  std::fputs("not a model", out);
  std::fclose(out);
  try {
    load_model(junk);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("junk.pt"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("not a CLIP model"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace styleseg::clip
