// evaluate: scores predicted index masks against ground-truth masks (per-class IoU, mIoU,
// pixel accuracy, confusion matrix), after mapping predicted labels to classes.
//
// Files are paired by name: every ground-truth PNG needs a prediction PNG of the same stem.
// --mapping hungarian (one-to-one, maximal total overlap, fitted on all evaluated pixels:
// the usual protocol for unsupervised segmentation), identity (labels are classes), or a
// file of "LABEL CLASS" lines.
#pragma once

#include <cstdint>
#include <string>

namespace styleseg::stages {

struct EvaluateOptions {
  std::string pred;              // folder of predicted index masks (PNG)
  std::string gt;                // folder of ground-truth index masks (PNG)
  std::string mapping = "hungarian";
  int64_t classes = 0;           // ground-truth classes (0: the largest label seen + 1)
  int64_t labels = 0;            // predicted labels (0: the largest label seen + 1)
  int64_t ignore_label = 255;
  std::string out;               // JSON report
  std::string confusion;         // PNG of the row-normalised confusion matrix
};

struct EvaluateSummary {
  double mean_iou = 0;
  double pixel_accuracy = 0;
  int64_t images = 0;
};

// Local (run it on one rank). The report is printed and written to `out`.
EvaluateSummary run_evaluate(const EvaluateOptions& options);

}  // namespace styleseg::stages
