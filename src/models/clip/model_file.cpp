// Loading CLIP weights: OpenAI releases CLIP as TorchScript archives, read here as data
// (io::load_torchscript_tensors: the archive's code is never compiled or run), or a state
// dict written by torch.save.
#include <filesystem>

#include "core/error.h"
#include "io/torch_file.h"
#include "io/unpickler.h"
#include "models/clip/model.h"

namespace styleseg::clip {

models::StateDict read_state_dict(const std::string& path) {
  STYLESEG_CHECK(std::filesystem::is_regular_file(path), InputError,
                 path + ": no such file (a CLIP model: OpenAI's released TorchScript archive such as RN50.pt)");
  std::map<std::string, at::Tensor> tensors;
  try {
    tensors = io::load_torchscript_tensors(path);
  } catch (const io::RefusedGlobal&) {
    throw;  // a TorchScript archive naming a global no model needs: said as it is
  } catch (const InputError& torchscript_error) {
    // Not TorchScript: a state dict written by torch.save (e.g. clip.load(jit=False).state_dict()).
    io::PyValue root;
    try {
      root = io::load_torch_file(path);
    } catch (const InputError& e) {
      throw InputError(path + ": not a CLIP model: neither a TorchScript archive (" + torchscript_error.what() +
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
