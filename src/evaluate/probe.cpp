#include "evaluate/probe.h"

#include <ATen/ATen.h>

#include <cmath>
#include <memory>

#include "cluster/assignment.h"
#include "cluster/feature_source.h"
#include "cluster/kmeans.h"
#include "core/error.h"
#include "mpi/communicator.h"
#include "mpi/local_communicator.h"

namespace styleseg::evaluate {
namespace {

// Rows held in memory as k-means input (items are plain vectors).
class RowSource final : public cluster::FeatureSource {
 public:
  explicit RowSource(at::Tensor rows) : rows_(std::move(rows)) {}
  int64_t dim() const override { return rows_.size(1); }
  std::optional<int64_t> items() const override { return rows_.size(0); }
  int64_t vectors_per_item() const override { return 1; }
  int64_t chunk_items() const override { return 16384; }
  cluster::FeatureChunk read(int64_t first, int64_t count) override {
    cluster::FeatureChunk chunk;
    chunk.first_item = first;
    chunk.items = count;
    chunk.vectors = rows_.narrow(0, first, count);
    return chunk;
  }
  std::vector<int64_t> item_shape() const override { return {}; }
  nlohmann::json describe() const override { return {{"kind", "probe rows"}, {"rows", rows_.size(0)}}; }

 private:
  at::Tensor rows_;
};

// Rows whose label is a class.
at::Tensor labelled(const at::Tensor& y, int64_t classes) { return at::nonzero((y >= 0) & (y < classes)).reshape({-1}); }

}  // namespace

FeatureProbe::FeatureProbe(const at::Tensor& x, const at::Tensor& y, const ProbeSettings& settings)
    : settings_(settings),
      linear_scores_(settings.classes, settings.classes, -1),
      cluster_scores_(settings.classes, settings.clusters, -1) {
  STYLESEG_CHECK(settings.classes >= 1 && settings.clusters >= 1, ConfigError, "probe: classes and clusters must be positive");
  const at::Tensor keep = labelled(y, settings.classes);
  STYLESEG_CHECK(keep.numel() >= settings.clusters, ConfigError,
                 "probe: " + std::to_string(keep.numel()) + " labelled fit pixels, fewer than the " +
                     std::to_string(settings.clusters) + " clusters (more --samples or --fit-pixels)");
  const at::Tensor fit_x = x.index_select(0, keep).to(at::kFloat).contiguous();
  const at::Tensor fit_y = y.index_select(0, keep).to(at::kLong).contiguous();
  fit_pixels_ = fit_x.size(0);
  fit_linear(fit_x, fit_y);
  fit_kmeans(fit_x, fit_y);
}

// Multinomial logistic regression, L2-regularised, fitted to convergence by L-BFGS in
// float64 on standardised features: deterministic, the same on every rank given the same
// rows. A ceiling must not be an optimiser's shortfall: fine boundaries (a small class next
// to a large one) need large weights, which plain gradient steps reach slowly.
//   f(W, b) = mean_i CE(softmax(x_i W + b), y_i) + l2 |W|^2,   grad_W = X^T (P - Y) / n + 2 l2 W.
void FeatureProbe::fit_linear(const at::Tensor& x, const at::Tensor& y) {
  const at::Tensor xd = x.to(at::kDouble);
  mean_ = xd.mean(0);
  inv_std_ = 1.0 / (xd.std(0, /*unbiased=*/false) + 1e-8);
  const at::Tensor xs = (xd - mean_) * inv_std_;
  const int64_t n = xs.size(0), d = xs.size(1), c = settings_.classes;
  const at::Tensor onehot = at::one_hot(y, c).to(at::kDouble);
  // theta = [W (d x c) row-major, b (c)]
  auto loss_and_gradient = [&](const at::Tensor& theta, at::Tensor& gradient) {
    const at::Tensor w = theta.narrow(0, 0, d * c).view({d, c}), b = theta.narrow(0, d * c, c);
    const at::Tensor logits = at::addmm(b, xs, w);
    const at::Tensor log_p = at::log_softmax(logits, 1);
    const double loss = -(log_p * onehot).sum().item<double>() / static_cast<double>(n) +
                        settings_.linear_l2 * w.pow(2).sum().item<double>();
    const at::Tensor error = (log_p.exp() - onehot) / static_cast<double>(n);
    gradient = at::cat({(xs.t().mm(error) + 2 * settings_.linear_l2 * w).reshape({-1}), error.sum(0)});
    return loss;
  };
  at::Tensor theta = at::zeros({d * c + c}, at::kDouble), gradient;
  double loss = loss_and_gradient(theta, gradient);
  std::vector<at::Tensor> steps, changes;  // the last kMemory s_k = theta_{k+1} - theta_k, y_k = g_{k+1} - g_k
  constexpr size_t kMemory = 10;
  for (int iteration = 0; iteration < settings_.linear_steps; ++iteration) {
    if (gradient.abs().max().item<double>() < 1e-7) break;
    // Two-loop recursion: direction = -H gradient.
    at::Tensor q = gradient.clone();
    std::vector<double> alphas(steps.size());
    for (size_t k = steps.size(); k-- > 0;) {
      alphas[k] = steps[k].dot(q).item<double>() / changes[k].dot(steps[k]).item<double>();
      q.sub_(changes[k], alphas[k]);
    }
    if (!steps.empty()) q.mul_(steps.back().dot(changes.back()).item<double>() / changes.back().dot(changes.back()).item<double>());
    for (size_t k = 0; k < steps.size(); ++k) {
      const double beta = changes[k].dot(q).item<double>() / changes[k].dot(steps[k]).item<double>();
      q.add_(steps[k], alphas[k] - beta);
    }
    at::Tensor direction = -q;
    double slope = gradient.dot(direction).item<double>();
    if (slope >= 0) {  // not a descent direction: restart from the gradient
      steps.clear();
      changes.clear();
      direction = -gradient;
      slope = gradient.dot(direction).item<double>();
    }
    // Backtracking (Armijo) from the full step.
    double step = steps.empty() ? 1.0 / std::max(1.0, gradient.norm().item<double>()) : 1.0;
    at::Tensor next, next_gradient;
    double next_loss = 0;
    for (int tries = 0; tries < 40; ++tries, step *= 0.5) {
      next = theta + step * direction;
      next_loss = loss_and_gradient(next, next_gradient);
      if (next_loss <= loss + 1e-4 * step * slope) break;
    }
    if (!(next_loss < loss)) break;  // no further progress in float64
    const at::Tensor s = next - theta, yk = next_gradient - gradient;
    if (s.dot(yk).item<double>() > 1e-12) {
      steps.push_back(s);
      changes.push_back(yk);
      if (steps.size() > kMemory) {
        steps.erase(steps.begin());
        changes.erase(changes.begin());
      }
    }
    theta = next;
    gradient = next_gradient;
    loss = next_loss;
  }
  weight_ = theta.narrow(0, 0, d * c).view({d, c}).clone();
  bias_ = theta.narrow(0, d * c, c).clone();
  fit_accuracy_ = (linear_labels(x) == y).to(at::kDouble).mean().item<double>();
}

at::Tensor FeatureProbe::to_cluster_space(const at::Tensor& x) const {
  return space_.project_vectors(x.to(at::kFloat)).contiguous();
}

void FeatureProbe::fit_kmeans(const at::Tensor& x_features, const at::Tensor& y) {
  cluster::SpaceStatistics statistics(x_features.size(1));
  if (!settings_.space.is_raw()) statistics.add(x_features);
  space_ = cluster::fit_space(settings_.space, statistics);
  const at::Tensor x = to_cluster_space(x_features);
  cluster::KMeansParameters parameters;
  parameters.clusters = settings_.clusters;
  parameters.iterations = settings_.kmeans_iterations;
  parameters.seed = settings_.seed;
  parameters.init_trials = settings_.init_trials;
  parameters.init_vectors = std::max<int64_t>(parameters.init_vectors, x.size(0));
  RowSource rows(x);
  comm::LocalCommunicator one_process;
  centroids_ = cluster::train_kmeans(rows, parameters, one_process).centroids.to(at::kFloat);
  Confusion fit(settings_.classes, settings_.clusters, -1);
  fit.add(cluster::assign_vectors(x, centroids_).labels, y);
  cluster_class_ = majority_mapping(fit.counts());
}

at::Tensor FeatureProbe::linear_labels(const at::Tensor& x) const {
  const at::Tensor xs = (x.to(at::kDouble) - mean_) * inv_std_;
  return at::addmm(bias_, xs, weight_).argmax(1);
}

at::Tensor FeatureProbe::cluster_labels(const at::Tensor& x) const {
  return cluster::assign_vectors(to_cluster_space(x), centroids_).labels;
}

void FeatureProbe::add_scores(const at::Tensor& x, const at::Tensor& y) {
  const at::Tensor keep = labelled(y, settings_.classes);
  if (keep.numel() == 0) return;
  const at::Tensor rows = x.index_select(0, keep), classes = y.index_select(0, keep).to(at::kLong);
  linear_scores_.add(linear_labels(rows), classes);
  cluster_scores_.add(cluster_labels(rows), classes);
}

ProbeReport FeatureProbe::report(comm::Communicator& comm) const {
  // One allreduce of both confusions (int64 sums: exact in any order).
  at::Tensor both = at::cat({linear_scores_.counts().reshape({-1}), cluster_scores_.counts().reshape({-1})}).to(comm.device());
  comm.allreduce(both);
  both = both.cpu();
  const int64_t c = settings_.classes, k = settings_.clusters;
  const at::Tensor linear = both.narrow(0, 0, c * c).reshape({c, c});
  const at::Tensor clusters = both.narrow(0, c * c, c * k).reshape({c, k});
  ProbeReport report;
  report.ceiling = score(linear, identity_mapping(c, c));
  report.kmeans = score(clusters, cluster_class_);
  report.best_cluster = best_clusters(clusters);
  report.cluster_class = cluster_class_;
  report.fit_accuracy = fit_accuracy_;
  report.fit_pixels = fit_pixels_;
  report.score_pixels = linear.sum().item<int64_t>();
  return report;
}

std::vector<ClassMatch> best_clusters(const at::Tensor& counts) {
  const at::Tensor n = counts.to(at::kDouble);
  const at::Tensor in_class = n.sum(1), in_cluster = n.sum(0);
  std::vector<ClassMatch> matches(static_cast<size_t>(n.size(0)));
  for (int64_t c = 0; c < n.size(0); ++c) {
    const double class_pixels = in_class[c].item<double>();
    if (class_pixels == 0) continue;
    ClassMatch& best = matches[static_cast<size_t>(c)];
    for (int64_t k = 0; k < n.size(1); ++k) {
      const double both = n[c][k].item<double>(), cluster_pixels = in_cluster[k].item<double>();
      const double iou = both / (class_pixels + cluster_pixels - both);
      if (both > 0 && iou > best.iou) best = {k, both / cluster_pixels, both / class_pixels, iou};
    }
  }
  return matches;
}

}  // namespace styleseg::evaluate
