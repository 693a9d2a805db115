// `styleseg inspect dataset.h5`: what a synthetic dataset holds, for people.
#pragma once

#include <cstdint>
#include <string>

namespace styleseg::stages {

struct InspectDatasetOptions {
  std::string path;
  std::string grid;            // PNG: the first done samples beside their masks, with the classes
  int grid_count = 8;
  int64_t share_samples = 2000;  // done samples whose masks give the class pixel shares (0: all)
};

// The report (samples, completeness, classes with pixel shares, provenance) as text.
// Local. Throws InputError naming the file when it is not a dataset.
std::string inspect_dataset(const InspectDatasetOptions& options);

}  // namespace styleseg::stages
