// The probe: where an unsupervised segmentation loses to a supervised one. Given per-pixel
// features labelled by a reference segmenter, split into a fit set and a score set, it
// measures three things on the score set:
//  * the ceiling: a linear (softmax) classifier fitted on the fit set. What any partition of
//    these features into linear cells could reach; below it, the features lack the class;
//  * k-means at K on the fit set (styleseg's own, as `cluster` runs it), each cluster mapped
//    to the class most of its fit pixels carry (many-to-one): what the method reaches;
//  * per class, the cluster that matches it best (IoU): its precision (share of the
//    cluster's pixels in the class) and recall (share of the class's pixels in the cluster),
//    which tell a class split over clusters from one merged into another.
//
//   FeatureProbe probe(fit_x, fit_y, settings);      // the same fit set on every rank
//   probe.add_scores(x, y);                           // each rank its own score pixels
//   ProbeReport report = probe.report(comm);          // collective
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "cluster/space.h"
#include "evaluate/metrics.h"

namespace styleseg::comm {
class Communicator;
}

namespace styleseg::evaluate {

struct ProbeSettings {
  int64_t classes = 0;          // reference classes C; labels outside [0, C) are not counted
  int64_t clusters = 8;         // K
  cluster::SpaceSpec space;     // where k-means runs (cluster/space.h)
  uint64_t seed = 0;            // k-means initialisation (kmeans++)
  int kmeans_iterations = 30;   // Lloyd passes
  int init_trials = 1;          // k-means++ draws refined on the fit set, the best kept (cluster/kmeans.h)
  int linear_steps = 500;       // L-BFGS iterations (at most) of the softmax classifier
  double linear_l2 = 1e-5;      // on the weights, in standardised coordinates
};

struct ClassMatch {
  int64_t cluster = -1;         // the cluster with the highest IoU with the class (-1: class absent)
  double precision = 0, recall = 0, iou = 0;
};

struct ProbeReport {
  Scores ceiling;                       // the linear classifier
  Scores kmeans;                        // clusters mapped many-to-one on the fit set
  std::vector<ClassMatch> best_cluster; // per class, on the score set
  std::vector<int64_t> cluster_class;   // per cluster: its class (-1: no fit pixels)
  double fit_accuracy = 0;              // the linear classifier on its own fit set
  int64_t fit_pixels = 0, score_pixels = 0;
};

class FeatureProbe {
 public:
  // x: float [n, D] fit-set features, y: int64 [n] their reference classes. Fits the linear
  // classifier (float64) and k-means (one process: every rank fits the same model from the
  // same rows). ConfigError when there are no labelled rows or fewer rows than clusters.
  FeatureProbe(const at::Tensor& x, const at::Tensor& y, const ProbeSettings& settings);

  // Classes the linear classifier gives rows x [n, D] (int64 [n]).
  at::Tensor linear_labels(const at::Tensor& x) const;
  // Nearest centroid of rows x (int64 [n]), and the class of each cluster (many-to-one).
  at::Tensor cluster_labels(const at::Tensor& x) const;
  const std::vector<int64_t>& cluster_class() const { return cluster_class_; }

  // Adds score-set rows x [n, D] with reference classes y [n].
  void add_scores(const at::Tensor& x, const at::Tensor& y);
  // Collective: the score confusions summed over ranks (int64: exact, whatever the ranks).
  ProbeReport report(comm::Communicator& comm) const;

 private:
  void fit_linear(const at::Tensor& x, const at::Tensor& y);
  void fit_kmeans(const at::Tensor& x, const at::Tensor& y);

  ProbeSettings settings_;
  at::Tensor mean_, inv_std_;   // float64 [D]: standardisation of the fit set
  at::Tensor weight_, bias_;    // float64 [D, C], [C]
  at::Tensor to_cluster_space(const at::Tensor& x) const;

  cluster::SpaceMap space_;     // fitted on the fit set
  at::Tensor centroids_;        // float32 [K, D'] in that space
  std::vector<int64_t> cluster_class_;
  double fit_accuracy_ = 0;
  int64_t fit_pixels_ = 0;
  Confusion linear_scores_, cluster_scores_;
};

// Per class, the cluster of `counts` [C, K] (classes x clusters) with the highest IoU.
std::vector<ClassMatch> best_clusters(const at::Tensor& counts);

}  // namespace styleseg::evaluate
