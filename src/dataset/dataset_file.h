// dataset.h5: the synthetic dataset `styleseg synthesize` writes (all ranks into one file)
// and training reads (dataset/reader.h). h5py reads it as it is.
//
//   images   uint8   [N, H, W, 3]          the samples (synthesize: H = W = R, resized to R when R differs
//                                          from the generator's; make-eyes: any H x W)
//   masks    uint8   [N, H, W]             class per pixel (uint16 when there are more than 255
//                                          classes); the ignore label (255 / 65535) for dropped clusters
//   latents  float32 [N, num_ws, w_dim]    per-layer latents used; with the checkpoint, `noise` and
//                                          `seed` attributes they regenerate sample i (absent from
//                                          datasets not made by a generator: write_dataset)
//   done     uint8   [N]                   1 once sample i's image, mask and latents are on disk
//   attributes: classes (JSON names), palette (JSON [[r, g, b], ...]), class_map ("0,3:skin;..."),
//   ignore_label, clusters, clusters_sha256, checkpoint, checkpoint_sha256, feature_layer, size,
//   count, seed, noise, truncation, options (JSON), styleseg_version, identity (JSON, for
//   --resume), complete (1 only once every sample is done).
//
// Storage: one sample per chunk (a reader takes random samples: one sample is one read),
// allocated when the file is created and uncompressed by default, so writing a sample
// changes no metadata and a job killed at any moment leaves a file that resumes. With
// compression (--compression) chunks are allocated as they are written: smaller files,
// but a kill during a write can leave the partial file unusable (then it is started
// afresh). tools/bench/bench_synthesize.sh measures the trade.
#pragma once

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace styleseg::h5 {
class File;
}

namespace styleseg::dataset {

struct DatasetLayout {
  int64_t count = 0;
  int64_t height = 0;
  int64_t width = 0;
  int64_t num_ws = 0;      // 0: no latents dataset
  int64_t w_dim = 0;
  bool mask_uint16 = false;
  int compression = 0;
};

// Collective on a parallel file: creates the four datasets. images, masks and latents start
// with no rows: grow_datasets() gives them rows (and their storage) as the run reaches them.
void create_datasets(h5::File& file, const DatasetLayout& layout);
// Collective: images, masks and latents hold at least `needed` rows; when they must grow,
// they grow a block of rounds ahead and the file is flushed (h5::File::grow_ahead).
void grow_datasets(h5::File& file, int64_t needed, int64_t rows_per_round);
// The bytes those datasets take on disk (0 when compressed: not known before they are written).
double planned_bytes(const DatasetLayout& layout);

struct DatasetHeader {
  int64_t count = 0;
  int64_t height = 0;
  int64_t width = 0;
  int64_t size = 0;            // height when the samples are square, else 0
  bool complete = false;
  bool mask_uint16 = false;
  int64_t ignore_label = 255;
  std::vector<std::string> classes;
  std::vector<std::array<uint8_t, 3>> palette;
  nlohmann::json attributes;   // every root attribute, JSON strings parsed
};

// The root attributes of a dataset (classes, palette, ignore label 255, size, count, and
// `extra`: strings as they are, other JSON values as JSON text), and complete = 0. Collective
// on a parallel file.
void write_dataset_attributes(h5::File& file, const std::vector<std::string>& classes,
                              const std::vector<std::array<uint8_t, 3>>& palette, int64_t count, int64_t height,
                              int64_t width, const nlohmann::json& extra);

// Writes a whole dataset held in memory (procedural data, labelled images), serially and
// atomically, complete: images uint8 [N, H, W, 3], masks integer [N, H, W] (values < 256,
// or the ignore label 255), one name and colour per class. `attributes` are added as root
// attributes (strings as they are, other JSON values as JSON text). Throws OutputError
// naming the file, or Error for inconsistent arguments.
void write_dataset(const std::string& path, const at::Tensor& images, const at::Tensor& masks,
                   const std::vector<std::string>& classes, const std::vector<std::array<uint8_t, 3>>& palette,
                   const nlohmann::json& attributes = nlohmann::json::object());

// Reads and checks the layout. Throws InputError naming the file and what is missing or
// inconsistent.
DatasetHeader read_header(const h5::File& file);

}  // namespace styleseg::dataset
