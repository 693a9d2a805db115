#include "train/training_images.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "core/log.h"
#include "dataset/reader.h"
#include "io/image.h"
#include "io/image_filters.h"

namespace fs = std::filesystem;

namespace styleseg::train {

TrainingImages::TrainingImages(const std::string& path, int64_t resolution) : resolution_(resolution) {
  STYLESEG_CHECK(resolution >= 4, ConfigError, "training images: the resolution must be at least 4");
  if (fs::is_directory(path)) {
    const std::vector<std::string> files = image_files_in(path);
    STYLESEG_CHECK(!files.empty(), InputError, path + ": no PNG or JPEG image in this folder");
    memory_ = at::empty({static_cast<int64_t>(files.size()), resolution, resolution, 3}, at::kByte);
    for (size_t i = 0; i < files.size(); ++i) memory_[static_cast<int64_t>(i)].copy_(prepare(read_image(files[i]).unsqueeze(0))[0]);
    count_ = memory_.size(0);
    log::info("{} images from {} in memory at {}x{} ({:.1f} MB)", count_, path, resolution, resolution,
              static_cast<double>(memory_.numel()) / 1e6);
  } else if (fs::is_regular_file(path)) {
    reader_ = std::make_unique<dataset::DatasetReader>(path, /*allow_incomplete=*/true);
    available_ = reader_->available();
    count_ = static_cast<int64_t>(available_.size());
  } else {
    throw InputError(path + ": no such file or folder (give a dataset .h5 or a folder of PNG/JPEG images)");
  }
}

TrainingImages::~TrainingImages() = default;

at::Tensor TrainingImages::prepare(const at::Tensor& images) const {
  const int64_t h = images.size(1), w = images.size(2), side = std::min(h, w);
  return resize_pixels(images.narrow(1, (h - side) / 2, side).narrow(2, (w - side) / 2, side), resolution_, resolution_)
      .contiguous();
}

at::Tensor TrainingImages::batch(const std::vector<int64_t>& indices, const std::vector<bool>& flip) const {
  STYLESEG_ASSERT(flip.size() == indices.size(), "training images: one flip flag per index");
  at::Tensor images;
  if (reader_) {
    std::vector<int64_t> rows;
    for (int64_t i : indices) rows.push_back(available_.at(static_cast<size_t>(i)));
    images = prepare(reader_->read(rows).images);
  } else {
    images = memory_.index_select(0, at::tensor(indices, at::kLong));
  }
  at::Tensor x = images.permute({0, 3, 1, 2}).to(at::kFloat) / 127.5 - 1;
  for (size_t j = 0; j < flip.size(); ++j)
    if (flip[j]) x[static_cast<int64_t>(j)] = x[static_cast<int64_t>(j)].flip({2});
  return x.contiguous();
}

}  // namespace styleseg::train
