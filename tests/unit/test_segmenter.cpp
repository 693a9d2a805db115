// The dilated ResNet-18 segmenter: shapes and output stride, torchvision's names and sizes,
// and initialisation from a torchvision-layout state dict written with torch.save.
#include <ATen/ATen.h>
#include <ATen/core/Dict.h>
#include <gtest/gtest.h>

#include <set>

#include "core/error.h"
#include "io/torch_save.h"
#include "models/segmenter/segmenter.h"
#include "support/fixtures.h"

namespace styleseg::segmenter {
namespace {

// torchvision.models.resnet18().state_dict() keys, fc excluded.
std::set<std::string> torchvision_backbone_keys() {
  std::set<std::string> keys{"conv1.weight"};
  auto bn = [&](const std::string& p) {
    for (const char* s : {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}) keys.insert(p + "." + s);
  };
  bn("bn1");
  for (int layer = 1; layer <= 4; ++layer)
    for (int block = 0; block < 2; ++block) {
      const std::string p = "layer" + std::to_string(layer) + "." + std::to_string(block);
      keys.insert(p + ".conv1.weight");
      keys.insert(p + ".conv2.weight");
      bn(p + ".bn1");
      bn(p + ".bn2");
      if (block == 0 && layer > 1) {
        keys.insert(p + ".downsample.0.weight");
        bn(p + ".downsample.1");
      }
    }
  return keys;
}

TEST(Segmenter, LogitsAtTheInputSizeFeaturesAtStride8) {
  at::manual_seed(0);
  Segmenter model(5);
  model.train(false);
  const at::Tensor x = at::randn({2, 3, 64, 48});
  EXPECT_EQ(model.forward(x).sizes(), at::IntArrayRef({2, 5, 64, 48}));
  EXPECT_EQ(model.features(x).sizes(), at::IntArrayRef({2, 512, 8, 6}));
  EXPECT_EQ(model.features(at::randn({1, 3, 70, 50})).sizes(), at::IntArrayRef({1, 512, 9, 7}));
}

TEST(Segmenter, NamesAndSizesAreTorchvisionsResnet18) {
  Segmenter model(3);
  std::set<std::string> backbone;
  int64_t parameters = 0;
  for (const auto& [name, tensor] : model.state())
    if (name.rfind("classifier.", 0) != 0) backbone.insert(name);
  for (const auto& p : model.parameters()) parameters += p.numel();
  EXPECT_EQ(backbone, torchvision_backbone_keys());
  // torchvision's resnet18 has 11,689,512 parameters, 513,000 of them in fc; the
  // classifier adds 512 * 3 + 3. Dilation changes no shape.
  EXPECT_EQ(parameters, 11689512 - 513000 + 512 * 3 + 3);
}

TEST(Segmenter, TorchvisionStateDictInitialisesTheBackbone) {
  at::manual_seed(1);
  Segmenter source(4);
  c10::impl::GenericDict dict(c10::StringType::get(), c10::TensorType::get());
  for (const auto& [name, tensor] : source.state())
    if (name.rfind("classifier.", 0) != 0) dict.insert(name, tensor.detach().clone());
  dict.insert("fc.weight", at::randn({1000, 512}));
  dict.insert("fc.bias", at::randn({1000}));
  const std::string path = test::scratch_dir("segmenter") + "/resnet18.pth";
  io::save_torch_file(path, dict);

  at::manual_seed(2);
  Segmenter target(4);
  source.train(false);
  target.train(false);
  const at::Tensor x = at::randn({1, 3, 32, 32});
  EXPECT_FALSE(at::allclose(target.features(x), source.features(x)));
  target.load_torchvision(path);
  EXPECT_TRUE(at::equal(target.features(x), source.features(x)));

  // A state dict of another network is refused, naming the file and the entry.
  c10::impl::GenericDict other(c10::StringType::get(), c10::TensorType::get());
  other.insert("conv1.weight", at::randn({32, 3, 3, 3}));
  io::save_torch_file(path, other);
  try {
    target.load_torchvision(path);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(path + ": 'conv1.weight' has shape [32, 3, 3, 3]"), std::string::npos) << e.what();
  }
}

TEST(Segmenter, ImagesAreNormalisedAsTorchvisionExpects) {
  const at::Tensor white = at::full({1, 2, 2, 3}, 255, at::kByte);
  const at::Tensor x = normalise_images(white);
  EXPECT_EQ(x.sizes(), at::IntArrayRef({1, 3, 2, 2}));
  EXPECT_NEAR(x[0][0][0][0].item<float>(), (1 - 0.485f) / 0.229f, 1e-5);
  EXPECT_NEAR(x[0][2][1][1].item<float>(), (1 - 0.406f) / 0.225f, 1e-5);
}

}  // namespace
}  // namespace styleseg::segmenter
