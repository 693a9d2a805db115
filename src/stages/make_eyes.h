// make-eyes: a procedural eye dataset with exact masks (domains/eyes.h), written in the
// dataset layout of synthesize (dataset/dataset_file.h) by all ranks into one file, and
// optionally as PNG folders (OUT_PNG/images/NAME.png, OUT_PNG/masks/NAME.png). Sample i is
// the same whatever the number of ranks. The file is written under a temporary name and
// renamed when complete; it is fast enough (thousands of 128x128 images a minute per core)
// that a stopped run is simply run again.
//
// `baseline_test` > 0 also scores the intensity-threshold baseline: fitted on the other
// samples, evaluated on the last `baseline_test` ones (the report says how far intensity
// alone goes; a segmenter should do far better).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace styleseg::comm {
class Communicator;
}

namespace styleseg::stages {

struct MakeEyesOptions {
  std::string out;          // dataset.h5
  int64_t count = 1000;
  int64_t size = 0;         // square side; or height and width
  int64_t height = 128, width = 128;
  uint64_t seed = 0;
  bool colour = false;      // default: near-infrared grey
  int64_t batch = 64;       // samples per rank per round
  std::string png_dir;      // also PNGs: PNG_DIR/images, PNG_DIR/masks
  std::string grid;         // PNG of the first samples beside their masks
  int64_t grid_count = 16;
  int64_t first_index = 0;  // sample indices start here (a test split: another range, same seed)
  int64_t baseline_test = 0;
  bool force = false;
  bool no_space_check = false;  // write even when the planned size exceeds the free space
};

struct MakeEyesSummary {
  double seconds = 0;
  double baseline_miou = -1;           // -1: not asked
  std::vector<double> baseline_iou;    // per class
};

// Collective.
MakeEyesSummary make_eyes(const MakeEyesOptions& options, comm::Communicator& comm, const nlohmann::json& provenance);

}  // namespace styleseg::stages
