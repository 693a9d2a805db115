// The real images a GAN trains on (train-gan): an HDF5 file of the dataset layout (read on
// demand) or a folder of PNG/JPEG files (read once, kept in memory at the training
// resolution). Images are centre-cropped to a square and resized to R x R (antialiased
// when shrinking), and handed out as float [B, 3, R, R] in [-1, 1].
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace styleseg::dataset {
class DatasetReader;
}

namespace styleseg::train {

class TrainingImages {
 public:
  // Throws InputError naming `path` when it is neither, holds no image, or an image in a
  // folder cannot be read.
  TrainingImages(const std::string& path, int64_t resolution);
  ~TrainingImages();

  int64_t size() const { return count_; }
  int64_t resolution() const { return resolution_; }
  // Samples `indices`, mirrored left-right where `flip[j]`.
  at::Tensor batch(const std::vector<int64_t>& indices, const std::vector<bool>& flip) const;

 private:
  at::Tensor prepare(const at::Tensor& images) const;  // uint8 [B, H, W, 3] -> uint8 [B, R, R, 3]
  int64_t resolution_;
  int64_t count_ = 0;
  std::unique_ptr<dataset::DatasetReader> reader_;   // HDF5
  std::vector<int64_t> available_;                   // HDF5: the samples that are done
  at::Tensor memory_;                                // folder: uint8 [N, R, R, 3]
};

}  // namespace styleseg::train
