#include "evaluate/metrics.h"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>

#include "core/error.h"

namespace styleseg::evaluate {

Confusion::Confusion(int64_t classes, int64_t labels, int64_t ignore_label)
    : counts_(at::zeros({classes, labels}, at::kLong)), ignore_label_(ignore_label) {
  STYLESEG_CHECK(classes > 0 && labels > 0, ConfigError, "evaluate: there must be at least one class and one label");
}

void Confusion::add(const at::Tensor& predicted, const at::Tensor& ground_truth) {
  STYLESEG_CHECK(predicted.sizes() == ground_truth.sizes(), InputError,
                 "prediction and ground truth differ in size");
  const int64_t classes = counts_.size(0), labels = counts_.size(1);
  const at::Tensor gt = ground_truth.reshape({-1}).to(at::kLong), pred = predicted.reshape({-1}).to(at::kLong);
  const at::Tensor counted = (gt != ignore_label_) & (gt >= 0) & (gt < classes);
  const at::Tensor p = pred.masked_select(counted), g = gt.masked_select(counted);
  if (p.numel() == 0) return;
  const auto [lo, hi] = at::aminmax(p);
  STYLESEG_CHECK(lo.item<int64_t>() >= 0 && hi.item<int64_t>() < labels, InputError,
                 "predicted label " + std::to_string(hi.item<int64_t>()) + " is outside [0, " + std::to_string(labels) + ")");
  counts_ += at::bincount(g * labels + p, {}, classes * labels).reshape({classes, labels});
}

std::vector<int64_t> identity_mapping(int64_t labels, int64_t classes) {
  std::vector<int64_t> mapping;
  for (int64_t label = 0; label < labels; ++label) mapping.push_back(label < classes ? label : -1);
  return mapping;
}

std::vector<int64_t> majority_mapping(const at::Tensor& counts) {
  const at::Tensor per_label = counts.to(at::kLong).t().contiguous();  // [labels, classes]
  const at::Tensor best = std::get<1>(per_label.max(1)), total = per_label.sum(1);
  std::vector<int64_t> mapping;
  for (int64_t label = 0; label < per_label.size(0); ++label)
    mapping.push_back(total[label].item<int64_t>() > 0 ? best[label].item<int64_t>() : -1);
  return mapping;
}

std::vector<int64_t> hungarian_mapping(const at::Tensor& counts) {
  // Kuhn-Munkres (the O(n^3) potentials form) minimising -overlap on the square matrix
  // padded with zeros: n = max(classes, labels).
  const int64_t classes = counts.size(0), labels = counts.size(1), n = std::max(classes, labels);
  const at::Tensor c = counts.to(at::kDouble).contiguous();
  const double* overlap = c.data_ptr<double>();
  auto cost = [&](int64_t label, int64_t cls) {  // rows: labels, columns: classes (1-based below)
    return label < labels && cls < classes ? -overlap[cls * labels + label] : 0.0;
  };
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> u(n + 1, 0), v(n + 1, 0);
  std::vector<int64_t> match(n + 1, 0), way(n + 1, 0);  // match[column] = row
  for (int64_t row = 1; row <= n; ++row) {
    match[0] = row;
    int64_t column0 = 0;
    std::vector<double> least(n + 1, inf);
    std::vector<bool> used(n + 1, false);
    do {
      used[column0] = true;
      const int64_t row0 = match[column0];
      double delta = inf;
      int64_t column1 = 0;
      for (int64_t column = 1; column <= n; ++column) {
        if (used[column]) continue;
        const double reduced = cost(row0 - 1, column - 1) - u[row0] - v[column];
        if (reduced < least[column]) least[column] = reduced, way[column] = column0;
        if (least[column] < delta) delta = least[column], column1 = column;
      }
      for (int64_t column = 0; column <= n; ++column) {
        if (used[column]) u[match[column]] += delta, v[column] -= delta;
        else least[column] -= delta;
      }
      column0 = column1;
    } while (match[column0] != 0);
    do {
      const int64_t column1 = way[column0];
      match[column0] = match[column1];
      column0 = column1;
    } while (column0);
  }
  std::vector<int64_t> mapping(static_cast<size_t>(labels), -1);
  for (int64_t column = 1; column <= n; ++column) {
    const int64_t label = match[column] - 1, cls = column - 1;
    if (label < labels && cls < classes) mapping[static_cast<size_t>(label)] = cls;
  }
  return mapping;
}

Scores score(const at::Tensor& counts, const std::vector<int64_t>& mapping) {
  const int64_t classes = counts.size(0), labels = counts.size(1);
  STYLESEG_ASSERT(static_cast<int64_t>(mapping.size()) == labels, "score: one mapping entry per label needed");
  Scores s;
  s.mapped = at::zeros({classes, classes}, at::kLong);
  for (int64_t label = 0; label < labels; ++label) {
    const int64_t cls = mapping[static_cast<size_t>(label)];
    if (cls >= 0) s.mapped.select(1, cls) += counts.select(1, label);
  }
  const at::Tensor row_totals = counts.sum(1);  // every counted pixel, mapped or not
  const double total = static_cast<double>(row_totals.sum().item<int64_t>());
  const at::Tensor tp = s.mapped.diagonal();
  s.pixel_accuracy = total > 0 ? static_cast<double>(tp.sum().item<int64_t>()) / total : 0.0;
  double sum = 0;
  int64_t present = 0;
  for (int64_t k = 0; k < classes; ++k) {
    const double t = static_cast<double>(tp[k].item<int64_t>());
    const double union_ = static_cast<double>(row_totals[k].item<int64_t>() + s.mapped.select(1, k).sum().item<int64_t>()) - t;
    const double iou = union_ > 0 ? t / union_ : std::nan("");
    s.iou.push_back(iou);
    if (union_ > 0) sum += iou, ++present;
  }
  s.mean_iou = present > 0 ? sum / static_cast<double>(present) : 0.0;
  return s;
}

}  // namespace styleseg::evaluate
