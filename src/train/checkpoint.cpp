#include "train/checkpoint.h"

#include <ATen/ATen.h>
#include <ATen/core/ivalue.h>

#include "core/error.h"
#include "io/torch_file.h"
#include "io/torch_save.h"

namespace styleseg::train {
namespace {

constexpr const char* kFormat = "styleseg-train-checkpoint";

c10::impl::GenericDict tensor_dict(const NamedTensors& tensors) {
  c10::impl::GenericDict dict(c10::StringType::get(), c10::TensorType::get());
  for (const auto& [name, tensor] : tensors) dict.insert(name, tensor.detach().to(at::kCPU).contiguous());
  return dict;
}

}  // namespace

void save_checkpoint(const std::string& path, const TrainingState& state) {
  c10::impl::GenericDict root(c10::StringType::get(), c10::AnyType::get());
  root.insert("format", std::string(kFormat));
  root.insert("format_version", int64_t{1});
  root.insert("step", state.step);
  root.insert("identity", state.identity);
  root.insert("model", tensor_dict(state.model));
  root.insert("optimizer", tensor_dict(state.optimizer));
  root.insert("seed", static_cast<int64_t>(state.seed));
  io::save_torch_file(path, root);
}

TrainingState load_checkpoint(const std::string& path) {
  const io::PyValue root = io::load_torch_file(path);
  STYLESEG_CHECK(root.is_dict() && root.contains("format") && root.at("format").is_string() &&
                     root.at("format").as_string() == kFormat,
                 InputError, path + " is not a styleseg training checkpoint");
  TrainingState state;
  try {
    state.step = root.at("step").as_int();
    state.identity = root.at("identity").as_string();
    state.model = io::tensor_items(root.at("model"));
    state.optimizer = io::tensor_items(root.at("optimizer"));
    state.seed = static_cast<uint64_t>(root.at("seed").as_int());
  } catch (const InputError& e) {
    throw InputError(path + ": " + e.what());
  }
  return state;
}

}  // namespace styleseg::train
