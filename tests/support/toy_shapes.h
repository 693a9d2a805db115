// A toy segmentation dataset with exact masks, for training tests: textured grey
// backgrounds with a disc (class 1) and a square (class 2) of random size, place and tint,
// possibly overlapping. Deterministic from the seed.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

namespace styleseg::test {

struct ToyShapes {
  at::Tensor images;  // uint8 [N, R, R, 3]
  at::Tensor masks;   // uint8 [N, R, R]: 0 background, 1 disc, 2 square
};

ToyShapes make_toy_shapes(int64_t count, int64_t size, uint64_t seed);

// The same written as a complete dataset file (dataset/dataset_file.h); returns its path.
std::string write_toy_dataset(const std::string& path, int64_t count, int64_t size, uint64_t seed);

}  // namespace styleseg::test
