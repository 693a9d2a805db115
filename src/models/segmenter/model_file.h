// The exported segmenter: one file that `styleseg segment` (and Python's torch.load) reads,
// holding everything needed to apply the model to an image:
//
//   {"format": "styleseg-segmenter", "format_version": 1, "architecture": "resnet18-os8",
//    "state_dict": {torchvision names + classifier.*: tensors},
//    "classes": [names], "palette": [[r, g, b], ...], "input_height": H, "input_width": W,
//    "mean": [3 floats], "std": [3 floats], "ignore_label": 255,
//    "provenance": JSON text (dataset, options, step, validation scores)}
//
// Images are resized to input_height x input_width (the training resolution), normalised
// with mean/std after scaling to [0, 1], and the logits resized back.
#pragma once

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "models/segmenter/segmenter.h"

namespace styleseg::io {
class PyValue;
}

namespace styleseg::segmenter {

struct ModelInfo {
  std::vector<std::string> classes;
  std::vector<std::array<uint8_t, 3>> palette;  // one colour per class
  int64_t input_height = 0;
  int64_t input_width = 0;
  std::array<float, 3> mean{kImageMean[0], kImageMean[1], kImageMean[2]};
  std::array<float, 3> std{kImageStd[0], kImageStd[1], kImageStd[2]};
  int64_t ignore_label = 255;
  nlohmann::json provenance = nlohmann::json::object();
};

struct LoadedModel {
  Segmenter net;
  ModelInfo info;
};

// Atomic (temporary name, then rename). Throws OutputError naming the file.
void save_model(const std::string& path, const Segmenter& net, const ModelInfo& info);

// Throws InputError naming the file and what is wrong (not a model file, a missing entry,
// weights that do not fit the class count).
LoadedModel load_model(const std::string& path);

// True when `root` (a loaded torch file) is an exported segmenter.
bool is_model_file(const io::PyValue& root);

// What `styleseg inspect` prints: classes and colours, input size, normalisation, provenance.
std::string describe_model(const std::string& path, const ModelInfo& info);

}  // namespace styleseg::segmenter
