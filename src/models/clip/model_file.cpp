// Loading CLIP weights. The only file that includes torch/script.h (8 s of compile time,
// PLATFORM.md): OpenAI releases CLIP as TorchScript archives.
#include <torch/script.h>

#include <filesystem>

#include "core/error.h"
#include "io/torch_file.h"
#include "models/clip/model.h"

namespace styleseg::clip {
namespace {

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

// The named parameters and buffers of a TorchScript archive, or nothing when the file is
// not one (then `why` says what TorchScript reported).
bool read_torchscript(const std::string& path, std::map<std::string, at::Tensor>& tensors, std::string& why) {
  try {
    const torch::jit::Module module = torch::jit::load(path, torch::kCPU);
    for (const auto& p : module.named_parameters(/*recurse=*/true)) tensors[p.name] = p.value.detach();
    for (const auto& b : module.named_buffers(/*recurse=*/true)) tensors[b.name] = b.value.detach();
    return true;
  } catch (const c10::Error& e) {
    why = first_line(e.what());
    return false;
  }
}

}  // namespace

models::StateDict read_state_dict(const std::string& path) {
  STYLESEG_CHECK(std::filesystem::is_regular_file(path), InputError,
                 path + ": no such file (a CLIP model: OpenAI's released TorchScript archive such as RN50.pt)");
  std::map<std::string, at::Tensor> tensors;
  std::string torchscript_error;
  if (!read_torchscript(path, tensors, torchscript_error)) {
    // Not TorchScript: a state dict written by torch.save (e.g. clip.load(jit=False).state_dict()).
    io::PyValue root;
    try {
      root = io::load_torch_file(path);
    } catch (const InputError& e) {
      throw InputError(path + ": not a CLIP model: neither a TorchScript archive (" + torchscript_error +
                       ") nor a torch.save file (" + e.what() + ")");
    }
    const io::PyValue& dict = root.is_dict() && root.contains("state_dict") ? root.at("state_dict") : root;
    for (auto& [key, tensor] : io::tensor_items(dict)) tensors[key] = tensor;
  }
  for (const char* key : {"text_projection", "positional_embedding", "token_embedding.weight", "ln_final.weight", "logit_scale"})
    STYLESEG_CHECK(tensors.count(key), InputError, path + ": not a CLIP model (no tensor '" + std::string(key) + "')");
  return models::StateDict(std::move(tensors), path, "CLIP model");
}

Model load_model(const std::string& path, ModelSettings settings) {
  const models::StateDict state = read_state_dict(path);
  return Model(infer_architecture(state), state, settings);
}

}  // namespace styleseg::clip
