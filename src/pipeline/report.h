// DIR/report.html: what a `styleseg run` job made, in one self-contained page (pictures
// embedded as data URIs, no scripts, no network) that a person reads in a browser:
//   - the headline: unsupervised and supervised mIoU on the real test split and their ratio
//   - samples with their cluster maps and the palette legend; the synthetic dataset
//   - the cluster-to-class table (mapping fitted on the labelled subset, its size stated)
//   - k-means inertia over iterations; segmenter loss and validation mIoU curves
//   - per-class IoU of the unsupervised model beside the supervised one; confusion matrices
//   - predictions on real test images next to the ground truth
//   - the generator's curves and samples when the job trained it; timings and commands per stage
// Sections whose inputs the job did not make are left out with a line saying so.
#pragma once

#include <string>
#include <vector>

#include "pipeline/plan.h"

namespace styleseg::pipeline {

struct ReportInputs {
  RunOptions options;
  std::vector<StageSpec> stages;
  std::string job_file;
};

// Writes the report atomically; also writes the pictures it draws (inertia curve, predictions
// beside ground truth) as PNGs in the workdir. Throws OutputError naming the file.
void write_report(const ReportInputs& inputs, const std::string& path);

// Standard base64 (RFC 4648, with padding), for data URIs.
std::string base64(const std::string& bytes);

}  // namespace styleseg::pipeline
