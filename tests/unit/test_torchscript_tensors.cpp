// TorchScript archives read as data (io::load_torchscript_tensors) against LibTorch's own
// loader: every parameter and buffer torch::jit::load gives, under the same name, bit for
// bit. The library itself never calls torch::jit::load (an archive's code would run).
#include <gtest/gtest.h>
#include <torch/script.h>

#include <map>
#include <string>

#include "core/error.h"
#include "io/torch_file.h"
#include "support/fixtures.h"

namespace styleseg::io {
namespace {

void expect_same_as_jit(const std::string& path) {
  const std::map<std::string, at::Tensor> ours = load_torchscript_tensors(path);
  const torch::jit::Module module = torch::jit::load(path, torch::kCPU);
  size_t compared = 0;
  auto compare = [&](const std::string& name, const at::Tensor& expected) {
    SCOPED_TRACE(name);
    const auto it = ours.find(name);
    ASSERT_NE(it, ours.end());
    EXPECT_EQ(it->second.scalar_type(), expected.scalar_type());
    EXPECT_EQ(it->second.sizes(), expected.sizes());
    EXPECT_TRUE(it->second.equal(expected));
    ++compared;
  };
  for (const auto& p : module.named_parameters(/*recurse=*/true)) compare(p.name, p.value);
  for (const auto& b : module.named_buffers(/*recurse=*/true)) compare(b.name, b.value);
  EXPECT_GT(compared, 50u);  // the fixtures: 65 (ViT) and more (ResNet)
}

TEST(TorchScriptTensors, ResNetClipFixtureMatchesJitLoad) {
  STYLESEG_REQUIRE_FIXTURE(path, "clip/model.pt");
  expect_same_as_jit(path);
}

TEST(TorchScriptTensors, VitClipFixtureMatchesJitLoad) {
  STYLESEG_REQUIRE_FIXTURE(path, "clip_vit/model.pt");
  expect_same_as_jit(path);
}

// An archive laid out as torch.jit.save does (nested module objects) but written by
// tests/fuzz/make_torchscript_seed.py from a state dict: the same tensors under the same names.
TEST(TorchScriptTensors, NestedModulesGiveTheStateDictNames) {
  const std::string corpus = test::test_data_dir() + "/../fuzz/corpus/clip_state_dict/";
  const std::map<std::string, at::Tensor> ours = load_torchscript_tensors(corpus + "vit_tiny_torchscript.pt");
  const auto expected = tensor_items(load_torch_file(corpus + "vit_tiny_fp16.pt"));
  ASSERT_EQ(ours.size(), expected.size());
  for (const auto& [name, tensor] : expected) {
    SCOPED_TRACE(name);
    ASSERT_EQ(ours.count(name), 1u);
    EXPECT_TRUE(ours.at(name).equal(tensor));
  }
}

TEST(TorchScriptTensors, TorchSaveFileIsNotATorchScriptArchive) {
  try {
    load_torchscript_tensors(test::test_data_dir() + "/torch_files/train_ckpt.pt");
    ADD_FAILURE() << "a torch.save file was read as TorchScript";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("not a TorchScript archive"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace styleseg::io
