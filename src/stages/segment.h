// segment: applies an exported segmenter (models/segmenter/model_file.h) to PNG/JPEG
// images of any size. For each input image NAME.ext it writes
//   OUT/NAME.png           the index mask (grey PNG, pixel = class index; `evaluate --pred OUT` reads it)
//   OUT/overlay/NAME.png   the image with the class colours blended over it
// and OUT/overlay/_legend.png (the classes and their colours): OUT holds masks only, so
// `evaluate --pred OUT` reads it as it is. Ranks take every size-th image.
// An image that cannot be read is reported by name and skipped; the others are still done.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace styleseg::comm {
class Communicator;
}

namespace styleseg::stages {

struct SegmentOptions {
  std::string model;                  // seg.pt of `styleseg train`
  std::vector<std::string> inputs;    // image files and folders (their PNG/JPEG files, not recursive)
  std::string out;                    // output folder
  int64_t batch = 8;
  std::string device = "auto";
  std::string precision = "float32";  // or bfloat16 (autocast)
  double alpha = 0.5;                 // overlay opacity of the class colours
  bool overlays = true;
  bool force = false;                 // write into an --out folder that holds files (io/output_policy.h)
};

struct SegmentSummary {
  int64_t images = 0;   // segmented, over all ranks
  int64_t failed = 0;   // unreadable or unwritable, over all ranks
  double seconds = 0;
};

// The image files `inputs` name, sorted; throws ConfigError naming an input that does not
// exist, or two inputs whose names would give the same output file.
std::vector<std::string> list_input_images(const std::vector<std::string>& inputs);

// Collective.
SegmentSummary segment(const SegmentOptions& options, comm::Communicator& comm);

}  // namespace styleseg::stages
