#include "train/gan_checkpoint.h"

#include <ATen/ATen.h>
#include <ATen/core/ivalue.h>

#include "core/error.h"
#include "io/torch_file.h"
#include "io/torch_save.h"
#include "models/stylegan2/checkpoint.h"

namespace styleseg::train {
namespace {

constexpr const char* kFormat = "styleseg-gan-checkpoint";

c10::impl::GenericDict tensor_dict(const std::vector<std::pair<std::string, at::Tensor>>& tensors) {
  c10::impl::GenericDict dict(c10::StringType::get(), c10::TensorType::get());
  for (const auto& [name, tensor] : tensors) dict.insert(name, tensor.detach().to(at::kCPU).contiguous());
  return dict;
}

}  // namespace

void save_gan_checkpoint(const std::string& path, const stylegan2::Generator& g, const stylegan2::Generator& g_ema,
                         const stylegan2::Discriminator& d, const GanTrainingState& state) {
  c10::impl::GenericDict meta(c10::StringType::get(), c10::AnyType::get());
  meta.insert("format", std::string(kFormat));
  meta.insert("format_version", int64_t{1});
  meta.insert("step", state.step);
  meta.insert("identity", state.identity);
  meta.insert("seed", static_cast<int64_t>(state.seed));
  meta.insert("path_length_mean", state.path_length_mean);
  meta.insert("lr_mlp", g_ema.settings().lr_mapping);
  meta.insert("resolution", d.resolution());
  c10::Dict<int64_t, int64_t> d_channels;
  for (const auto& [res, ch] : d.channels()) d_channels.insert(res, ch);
  meta.insert("d_channels", d_channels);
  meta.insert("version", std::string(STYLESEG_VERSION));

  c10::impl::GenericDict root(c10::StringType::get(), c10::AnyType::get());
  root.insert("g_ema", tensor_dict(stylegan2::rosinality_state_dict(g_ema)));
  root.insert("g", tensor_dict(stylegan2::rosinality_state_dict(g)));
  root.insert("d", tensor_dict(d.state()));
  if (g_ema.has_average_latent()) root.insert("latent_avg", g_ema.average_latent().detach().to(at::kCPU, at::kFloat).contiguous());
  root.insert("g_optim", tensor_dict(state.g_optimizer));
  root.insert("d_optim", tensor_dict(state.d_optimizer));
  root.insert("styleseg", meta);
  io::save_torch_file(path, root);
}

LoadedGan load_gan_checkpoint(const std::string& path) {
  const io::PyValue root = io::load_torch_file(path);
  STYLESEG_CHECK(root.is_dict() && root.contains("styleseg") && root.at("styleseg").is_dict() &&
                     root.at("styleseg").contains("format") && root.at("styleseg").at("format").is_string() &&
                     root.at("styleseg").at("format").as_string() == kFormat,
                 InputError, path + " is not a styleseg train-gan checkpoint");
  try {
    const io::PyValue& meta = root.at("styleseg");
    std::map<int64_t, int64_t> d_channels;
    for (const auto& [res, ch] : meta.at("d_channels").dict_items()) d_channels[res.as_int()] = ch.as_int();
    stylegan2::LoadOptions training;
    training.training_generator = true;
    LoadedGan out{stylegan2::generator_from_checkpoint(root, path, training), stylegan2::generator_from_checkpoint(root, path),
                  stylegan2::Discriminator(meta.at("resolution").as_int(), d_channels), {}};
    out.d.load_state(io::tensor_items(root.at("d")), path);
    out.state.step = meta.at("step").as_int();
    out.state.identity = meta.at("identity").as_string();
    out.state.seed = static_cast<uint64_t>(meta.at("seed").as_int());
    out.state.path_length_mean = meta.at("path_length_mean").as_float();
    out.state.g_optimizer = io::tensor_items(root.at("g_optim"));
    out.state.d_optimizer = io::tensor_items(root.at("d_optim"));
    return out;
  } catch (const InputError& e) {
    throw InputError(std::string(e.what()).rfind(path, 0) == 0 ? e.what() : path + ": " + e.what());
  }
}

}  // namespace styleseg::train
