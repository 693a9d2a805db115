#include "support/tiny_segmenter.h"

#include <ATen/ATen.h>

#include "models/segmenter/model_file.h"

namespace styleseg::test {

std::string write_random_segmenter(const std::string& path, const std::vector<std::string>& classes, int64_t input_size,
                                   uint64_t seed) {
  at::manual_seed(seed);
  segmenter::Segmenter net(static_cast<int64_t>(classes.size()));
  segmenter::ModelInfo info;
  info.classes = classes;
  for (size_t k = 0; k < classes.size(); ++k)
    info.palette.push_back({static_cast<uint8_t>(40 * k), static_cast<uint8_t>(255 - 40 * k), static_cast<uint8_t>(90)});
  info.input_height = info.input_width = input_size;
  info.provenance = {{"note", "random weights, for tests"}};
  segmenter::save_model(path, net, info);
  return path;
}

}  // namespace styleseg::test
