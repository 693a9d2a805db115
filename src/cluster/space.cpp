#include "cluster/space.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <utility>

#include "core/error.h"
#include "core/progress.h"
#include "mpi/communicator.h"

namespace styleseg::cluster {
namespace {

class ProjectedSource final : public FeatureSource {
 public:
  ProjectedSource(std::unique_ptr<FeatureSource> source, SpaceMap map) : source_(std::move(source)), map_(std::move(map)) {}
  int64_t dim() const override { return map_.out_dim(); }
  std::optional<int64_t> items() const override { return source_->items(); }
  int64_t vectors_per_item() const override { return source_->vectors_per_item(); }
  int64_t chunk_items() const override { return source_->chunk_items(); }
  FeatureChunk read(int64_t first, int64_t count) override {
    FeatureChunk chunk = source_->read(first, count);
    if (chunk.is_maps()) chunk.maps = map_.project_maps(chunk.maps).contiguous();
    else chunk.vectors = map_.project_vectors(chunk.vectors).contiguous();
    chunk.squared_norms = at::Tensor();
    return chunk;
  }
  std::vector<int64_t> item_shape() const override { return source_->item_shape(); }
  nlohmann::json describe() const override { return source_->describe(); }

 private:
  std::unique_ptr<FeatureSource> source_;
  SpaceMap map_;
};

}  // namespace

SpaceSpec parse_space(const std::string& text, const std::string& option) {
  const auto colon = text.find(':');
  const std::string name = text.substr(0, colon);
  SpaceSpec spec;
  if (name == "raw") spec.kind = SpaceSpec::Kind::Raw;
  else if (name == "standardize") spec.kind = SpaceSpec::Kind::Standardize;
  else if (name == "pca") spec.kind = SpaceSpec::Kind::Pca;
  else if (name == "whiten") spec.kind = SpaceSpec::Kind::Whiten;
  else throw ConfigError(option + " '" + text + "': expected raw, standardize, pca[:D] or whiten[:D]");
  if (colon != std::string::npos) {
    const std::string dims = text.substr(colon + 1);
    STYLESEG_CHECK((spec.kind == SpaceSpec::Kind::Pca || spec.kind == SpaceSpec::Kind::Whiten) && !dims.empty() &&
                       dims.size() < 7 && dims.find_first_not_of("0123456789") == std::string::npos && std::stoll(dims) > 0,
                   ConfigError, option + " '" + text + "': D must be a positive whole number, after pca or whiten");
    spec.dims = std::stoll(dims);
  }
  return spec;
}

std::string to_string(const SpaceSpec& spec) {
  static const char* const names[] = {"raw", "standardize", "pca", "whiten"};
  const std::string text = names[static_cast<int>(spec.kind)];
  return spec.dims > 0 ? text + ":" + std::to_string(spec.dims) : text;
}

SpaceStatistics::SpaceStatistics(int64_t dim) : dim_(dim), packed_(at::zeros({1 + dim + dim * dim}, at::kDouble)) {}

void SpaceStatistics::add(const at::Tensor& rows) {
  if (rows.size(0) == 0) return;
  const at::Tensor x = rows.to(at::kFloat).contiguous();
  packed_[0] += static_cast<double>(x.size(0));
  packed_.narrow(0, 1, dim_).add_(x.sum(0).to(at::kCPU, at::kDouble));
  packed_.narrow(0, 1 + dim_, dim_ * dim_).add_(x.t().mm(x).reshape({-1}).to(at::kCPU, at::kDouble));
}

void SpaceStatistics::add_maps(const at::Tensor& maps) { add(maps.permute({0, 2, 3, 1}).reshape({-1, maps.size(1)})); }

int64_t SpaceStatistics::rows() const { return static_cast<int64_t>(packed_[0].item<double>()); }

at::Tensor SpaceMap::project_vectors(const at::Tensor& rows) const {
  if (is_identity()) return rows;
  const at::Tensor map32 = map.to(rows.device(), at::kFloat), mean32 = mean.to(rows.device(), at::kFloat);
  return (rows.to(at::kFloat) - mean32).mm(map32);
}

at::Tensor SpaceMap::project_maps(const at::Tensor& maps) const {
  if (is_identity()) return maps;
  // A 1x1 convolution: weight [D', D, 1, 1], bias -mean . map.
  const at::Tensor map32 = map.to(maps.device(), at::kFloat);
  const at::Tensor bias = -(mean.unsqueeze(0).mm(map)).reshape({-1}).to(maps.device(), at::kFloat);
  return at::conv2d(maps.to(at::kFloat), map32.t().reshape({map.size(1), map.size(0), 1, 1}).contiguous(), bias);
}

SpaceMap fit_space(const SpaceSpec& spec, const SpaceStatistics& statistics) {
  if (spec.is_raw()) return {};
  const int64_t d = statistics.dim();
  const double n = statistics.packed()[0].item<double>();
  STYLESEG_CHECK(n >= 2, ConfigError, "--space " + to_string(spec) + ": needs at least 2 feature vectors to fit");
  STYLESEG_CHECK(spec.dims <= d, ConfigError,
                 "--space " + to_string(spec) + ": the features have only " + std::to_string(d) + " dimensions");
  const at::Tensor mean = statistics.packed().narrow(0, 1, d) / n;
  at::Tensor covariance = statistics.packed().narrow(0, 1 + d, d * d).reshape({d, d}) / n - mean.unsqueeze(1).mm(mean.unsqueeze(0));
  covariance = (covariance + covariance.t()) / 2;
  if (spec.kind == SpaceSpec::Kind::Standardize)
    return {mean, at::diag(1.0 / (covariance.diagonal().clamp_min(0).sqrt() + 1e-8))};
  auto [values, vectors] = at::linalg_eigh(covariance);  // ascending
  const int64_t keep = spec.dims > 0 ? spec.dims : d;
  at::Tensor axes = vectors.narrow(1, d - keep, keep).flip({1}).contiguous();
  // Each axis signed so that its largest component is positive.
  const at::Tensor largest = axes.gather(0, axes.abs().argmax(0, /*keepdim=*/true));
  axes = axes * at::where(largest < 0, -1.0, 1.0);
  if (spec.kind == SpaceSpec::Kind::Pca) return {mean, axes};
  const at::Tensor variance = values.narrow(0, d - keep, keep).flip({0}).clamp_min(std::max(values.max().item<double>(), 1e-30) * 1e-6);
  return {mean, (axes / variance.sqrt()).contiguous()};
}

SpaceMap fit_space_on(const SpaceSpec& spec, FeatureSource& source, int64_t items, comm::Communicator& comm) {
  if (spec.is_raw()) return {};
  SpaceStatistics statistics(source.dim());
  const int64_t per_chunk = source.chunk_items();
  Progress progress("cluster space " + to_string(spec), items, comm.rank() == 0);
  for (int64_t c = 0, first = 0; first < items; ++c, first += per_chunk) {
    const int64_t count = std::min(per_chunk, items - first);
    if (c % comm.size() == comm.rank()) {
      const FeatureChunk chunk = source.read(first, count);
      if (chunk.is_maps()) statistics.add_maps(chunk.maps);
      else statistics.add(chunk.vectors);
    }
    progress.advance(count);
  }
  progress.finish();
  at::Tensor sums = statistics.packed().to(comm.device());
  comm.allreduce(sums);
  statistics.packed().copy_(sums.cpu());
  return fit_space(spec, statistics);
}

std::unique_ptr<FeatureSource> project_source(std::unique_ptr<FeatureSource> source, SpaceMap map) {
  if (map.is_identity()) return source;
  return std::make_unique<ProjectedSource>(std::move(source), std::move(map));
}

}  // namespace styleseg::cluster
