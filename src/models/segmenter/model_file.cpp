#include "models/segmenter/model_file.h"

#include <ATen/ATen.h>
#include <ATen/core/ivalue.h>

#include <cmath>
#include <cstdio>

#include "core/checked_cast.h"
#include "core/error.h"
#include "io/image.h"  // kMaxImagePixels
#include "io/torch_file.h"
#include "io/torch_save.h"

namespace styleseg::segmenter {
namespace {

constexpr const char* kFormat = "styleseg-segmenter";
constexpr int64_t kFormatVersion = 1;

}  // namespace

void save_model(const std::string& path, const Segmenter& net, const ModelInfo& info) {
  STYLESEG_CHECK(static_cast<int64_t>(info.classes.size()) == net.classes() && info.palette.size() == info.classes.size(),
                 Error, "save_model: the class names and palette must have one entry per output of the network");
  c10::impl::GenericDict weights(c10::StringType::get(), c10::TensorType::get());
  for (const auto& [name, tensor] : net.state()) weights.insert(name, tensor.detach().to(at::kCPU).contiguous());
  c10::List<std::string> classes;
  for (const auto& name : info.classes) classes.push_back(name);
  c10::impl::GenericList palette(c10::ListType::ofInts());
  for (const auto& rgb : info.palette) palette.push_back(c10::List<int64_t>({rgb[0], rgb[1], rgb[2]}));
  c10::List<double> mean({info.mean[0], info.mean[1], info.mean[2]}), std({info.std[0], info.std[1], info.std[2]});

  c10::impl::GenericDict root(c10::StringType::get(), c10::AnyType::get());
  root.insert("format", std::string(kFormat));
  root.insert("format_version", kFormatVersion);
  root.insert("architecture", std::string("resnet18-os8"));
  root.insert("state_dict", weights);
  root.insert("classes", classes);
  root.insert("palette", palette);
  root.insert("input_height", info.input_height);
  root.insert("input_width", info.input_width);
  root.insert("mean", mean);
  root.insert("std", std);
  root.insert("ignore_label", info.ignore_label);
  root.insert("provenance", info.provenance.dump());
  io::save_torch_file(path, root);
}

bool is_model_file(const io::PyValue& root) {
  return root.is_dict() && root.contains("format") && root.at("format").is_string() && root.at("format").as_string() == kFormat;
}

std::string describe_model(const std::string& path, const ModelInfo& info) {
  std::string text = "segmenter:      " + path + " (dilated ResNet-18, output stride 8)\n";
  text += "input size:     " + std::to_string(info.input_width) + "x" + std::to_string(info.input_height) + " (width x height)\n";
  char line[160];
  std::snprintf(line, sizeof(line), "normalisation:  mean %.3f %.3f %.3f, std %.3f %.3f %.3f\n", info.mean[0], info.mean[1],
                info.mean[2], info.std[0], info.std[1], info.std[2]);
  text += line;
  text += "classes:        " + std::to_string(info.classes.size()) + "\n";
  for (size_t c = 0; c < info.classes.size(); ++c) {
    std::snprintf(line, sizeof(line), "  %3zu  %-20s #%02x%02x%02x\n", c, info.classes[c].c_str(), info.palette[c][0],
                  info.palette[c][1], info.palette[c][2]);
    text += line;
  }
  for (const char* key : {"dataset", "steps", "batch", "ranks", "final_loss", "val_miou", "weights_sha256", "styleseg_version"})
    if (info.provenance.contains(key)) {
      const auto& value = info.provenance[key];
      std::snprintf(line, sizeof(line), "%-18s%s\n", (std::string(key) + ":").c_str(),
                    value.is_string() ? value.get<std::string>().c_str() : value.dump().c_str());
      text += line;
    }
  return text;
}

LoadedModel load_model(const std::string& path) {
  const io::PyValue root = io::load_torch_file(path);
  STYLESEG_CHECK(is_model_file(root),
                 InputError, path + " is not a styleseg segmenter (no format '" + kFormat + "'; export one with styleseg train)");
  const int64_t version = root.at("format_version").as_int();
  STYLESEG_CHECK(version <= kFormatVersion, InputError,
                 path + ": segmenter format version " + std::to_string(version) + " is newer than this styleseg reads (" +
                     std::to_string(kFormatVersion) + ")");
  ModelInfo info;
  try {
    for (const auto& name : root.at("classes").items()) info.classes.push_back(name.as_string());
    for (const auto& rgb : root.at("palette").items()) {
      std::array<uint8_t, 3> colour{};
      for (size_t c = 0; c < 3; ++c)
        colour[c] = static_cast<uint8_t>(whole_number(static_cast<double>(rgb.items().at(c).as_int()), 0, 255, "a palette value"));
      info.palette.push_back(colour);
    }
    info.input_height = root.at("input_height").as_int();
    info.input_width = root.at("input_width").as_int();
    for (size_t c = 0; c < 3; ++c) {
      // Normalisation constants: finite, in float's range, and a positive spread (a file can
      // hold any double; a cast out of float's range is undefined behaviour).
      const double mean = root.at("mean").items().at(c).as_float(), std = root.at("std").items().at(c).as_float();
      STYLESEG_CHECK(std::fabs(mean) <= 1e6 && std > 1e-6 && std <= 1e6, InputError,
                     "the normalisation mean " + std::to_string(mean) + " / std " + std::to_string(std) + " is not usable");
      info.mean[c] = static_cast<float>(mean);
      info.std[c] = static_cast<float>(std);
    }
    info.ignore_label = whole_number(static_cast<double>(root.at("ignore_label").as_int()), 0, 65535, "ignore_label");
    info.provenance = nlohmann::json::parse(root.at("provenance").as_string());
  } catch (const InputError& e) {
    throw InputError(path + ": " + e.what());
  } catch (const std::exception& e) {
    throw InputError(path + ": the model's metadata cannot be read (" + e.what() + ")");
  }
  STYLESEG_CHECK(!info.classes.empty() && info.palette.size() == info.classes.size() && info.input_height > 0 &&
                     info.input_width > 0, InputError,
                 path + ": the model needs classes, one palette colour per class and a positive input size");
  STYLESEG_CHECK(info.input_height <= kMaxImagePixels / info.input_width && info.classes.size() <= 65535, InputError,
                 path + ": the model's input size " + std::to_string(info.input_height) + " x " + std::to_string(info.input_width) +
                     " or its " + std::to_string(info.classes.size()) + " classes are beyond what styleseg runs");
  LoadedModel model{Segmenter(static_cast<int64_t>(info.classes.size())), std::move(info)};
  model.net.load_state(io::tensor_items(root.at("state_dict")), /*backbone_only=*/false, path);
  model.net.train(false);
  return model;
}

}  // namespace styleseg::segmenter
