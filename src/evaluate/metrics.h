// Segmentation scores: a confusion matrix of ground-truth classes against predicted labels,
// the mapping of predicted labels (clusters, for unsupervised methods) to classes, and IoU,
// mIoU and pixel accuracy from it.
//
// Unsupervised segmentation predicts cluster indices with no inherent meaning, so the
// standard evaluation first maps them to ground-truth classes. `hungarian_mapping` finds
// the one-to-one mapping with the largest total overlap (Kuhn-Munkres) on the pixels of the
// confusion matrix it is given, which is why a report must say which pixels that was.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace styleseg::evaluate {

// Pixel counts [classes, labels]: row = ground-truth class, column = predicted label.
// Ground-truth pixels equal to `ignore_label` (or outside [0, classes)) are not counted;
// predicted labels outside [0, labels) are an InputError (the caller names the file).
class Confusion {
 public:
  Confusion(int64_t classes, int64_t labels, int64_t ignore_label = 255);
  // pred and gt: integer maps of the same shape.
  void add(const at::Tensor& predicted, const at::Tensor& ground_truth);
  const at::Tensor& counts() const { return counts_; }  // int64 [classes, labels]

 private:
  at::Tensor counts_;
  int64_t ignore_label_;
};

// For each predicted label, its class (-1: left unmatched, when there are more labels than
// classes), maximising the total overlap with each class used at most once.
std::vector<int64_t> hungarian_mapping(const at::Tensor& counts);

// Many-to-one: each label to the class it overlaps most (-1 for a label with no pixels).
// For clusterings finer than the classes (K > C), where one-to-one matching must leave
// K - C clusters unmatched, e.g. a brow or lid cluster that belongs to the background.
std::vector<int64_t> majority_mapping(const at::Tensor& counts);
// Labels taken as classes: label l -> class l, or -1 past the last class.
std::vector<int64_t> identity_mapping(int64_t labels, int64_t classes);

// The confusion of classes against classes [classes, classes] once labels are mapped
// (columns of unmatched labels count as wrong for their rows: they are dropped, and the
// pixels stay in the row totals).
struct Scores {
  std::vector<double> iou;       // per class: TP / (TP + FP + FN); NaN for a class absent from both
  double mean_iou = 0;           // over classes present in the ground truth or the prediction
  double pixel_accuracy = 0;     // correct / counted pixels
  at::Tensor mapped;             // int64 [classes, classes]
};
Scores score(const at::Tensor& counts, const std::vector<int64_t>& mapping);

}  // namespace styleseg::evaluate
