#include "cluster/feature_source.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>

#include "core/error.h"
#include "core/seeding.h"
#include "io/h5.h"
#include "io/h5_tensor.h"

namespace styleseg::cluster {

int64_t FeatureChunk::num_vectors() const {
  if (is_maps()) return maps.size(0) * out_size * out_size;
  return vectors.defined() ? vectors.size(0) : 0;
}

Assignment FeatureChunk::assign(const at::Tensor& centroids) {
  // |x|^2 once per chunk: k-means keeps chunks of the fixed set and assigns them every pass.
  if (!squared_norms.defined())
    squared_norms = is_maps() ? resized_squared_norms(maps, out_size) : vectors.to(at::kFloat).pow(2).sum(1);
  const at::Tensor c = centroids.to(device());
  if (is_maps()) return assign_maps(maps, c, out_size, /*with_distances=*/true, squared_norms);
  return assign_vectors(vectors, c, /*with_distances=*/true, squared_norms);
}

at::Tensor FeatureChunk::label_sums(const at::Tensor& labels, int64_t num_clusters) const {
  return is_maps() ? cluster::label_sums(maps, labels, num_clusters) : label_sums_vectors(vectors, labels, num_clusters);
}

at::Tensor FeatureChunk::rows(const at::Tensor& where) const {
  const at::Tensor w = where.to(device());
  if (!is_maps()) return vectors.index_select(0, w);
  const int64_t pixels = out_size * out_size;
  return resized_pixels(maps, out_size, at::div(w, pixels, "floor"), at::remainder(w, pixels));
}

void check_finite(const at::Tensor& values, int64_t first_item, int64_t vectors_per_item, const std::string& where) {
  if (at::isfinite(values).all().item<bool>()) return;
  const at::Tensor rows = values.dim() == 4 ? values.flatten(1) : values.reshape({values.size(0), -1});
  const int64_t bad_row = at::nonzero(~at::isfinite(rows).all(1))[0][0].item<int64_t>();
  const int64_t item = first_item + (values.dim() == 4 ? bad_row : bad_row / vectors_per_item);
  throw InputError(where + ": item " + std::to_string(item) + " holds NaN or infinite values");
}

namespace {

class H5FeatureSource final : public FeatureSource {
 public:
  H5FeatureSource(const std::string& path, const std::string& dataset, int64_t chunk_items)
      : file_(h5::File::open(path, h5::Mode::Read)), dataset_(dataset) {
    STYLESEG_CHECK(file_.exists(dataset), InputError, path + ": no dataset '" + dataset + "'");
    const h5::DatasetInfo info = file_.info(dataset);
    shape_ = info.shape;
    STYLESEG_CHECK(shape_.size() == 2 || shape_.size() == 4, InputError,
                   path + ": dataset '" + dataset + "' must be vectors [N, D] or feature maps [N, C, h, w]");
    STYLESEG_CHECK(info.dtype == h5::DType::F32 || info.dtype == h5::DType::F64, InputError,
                   path + ": dataset '" + dataset + "' must hold floats, it holds " + info.stored);
    STYLESEG_CHECK(shape_[0] > 0 && info.row_elements() > 0, InputError, path + ": dataset '" + dataset + "' is empty");
    chunk_items_ = chunk_items > 0 ? chunk_items : (shape_.size() == 2 ? 16384 : 8);
  }
  int64_t dim() const override { return shape_[1]; }
  std::optional<int64_t> items() const override { return shape_[0]; }
  int64_t vectors_per_item() const override { return shape_.size() == 4 ? shape_[2] * shape_[3] : 1; }
  int64_t chunk_items() const override { return chunk_items_; }
  std::vector<int64_t> item_shape() const override {
    return shape_.size() == 4 ? std::vector<int64_t>{shape_[2], shape_[3]} : std::vector<int64_t>{};
  }
  nlohmann::json describe() const override {
    return {{"kind", "file"}, {"path", file_.path()}, {"dataset", dataset_}, {"shape", shape_}};
  }
  FeatureChunk read(int64_t first, int64_t count) override {
    STYLESEG_CHECK(first >= 0 && first + count <= shape_[0], Error,
                   file_.path() + ": items [" + std::to_string(first) + ", " + std::to_string(first + count) +
                       ") asked for, the dataset holds " + std::to_string(shape_[0]));
    at::Tensor values = h5::read_tensor(file_, dataset_, first, count).to(at::kFloat);
    check_finite(values, first, vectors_per_item(), file_.path() + " dataset '" + dataset_ + "'");
    FeatureChunk chunk;
    chunk.first_item = first;
    chunk.items = count;
    // Maps become vectors, item-major and row-major over pixels (the labels' layout).
    chunk.vectors = values.dim() == 4 ? values.permute({0, 2, 3, 1}).reshape({-1, shape_[1]}).contiguous() : values;
    return chunk;
  }

 private:
  h5::File file_;
  std::string dataset_;
  std::vector<int64_t> shape_;
  int64_t chunk_items_ = 0;
};

// Centres come from a stream keyed past any item index, so they never share numbers with items.
constexpr uint64_t kCentreStream = uint64_t{1} << 62;

}  // namespace

std::unique_ptr<FeatureSource> open_h5_features(const std::string& path, const std::string& dataset, int64_t chunk_items) {
  return std::make_unique<H5FeatureSource>(path, dataset, chunk_items);
}

MixtureSource::MixtureSource(const MixtureSpec& spec) : spec_(spec) {
  STYLESEG_CHECK(spec.clusters > 0 && spec.dim > 0 && spec.count >= 0 && spec.chunk_items > 0 && spec.imbalance >= 1.0,
                 ConfigError, "mixture: clusters, dim and chunk size must be positive, imbalance >= 1");
  centres_ = at::empty({spec.clusters, spec.dim}, at::kFloat);
  std::vector<double> centre(static_cast<size_t>(spec.dim));
  for (int64_t k = 0; k < spec.clusters; ++k) {
    SampleRng(spec.seed, kCentreStream + static_cast<uint64_t>(k), Stream::Generic).fill_normal(centre.data(), centre.size());
    for (int64_t d = 0; d < spec.dim; ++d) centres_[k][d] = centre[static_cast<size_t>(d)] * spec.separation;
  }
  // Weights fall geometrically from 1 to 1/imbalance.
  weights_ = at::empty({spec.clusters}, at::kDouble);
  double total = 0;
  for (int64_t k = 0; k < spec.clusters; ++k) {
    const double exponent = spec.clusters > 1 ? static_cast<double>(k) / static_cast<double>(spec.clusters - 1) : 0.0;
    const double weight = std::pow(spec.imbalance, -exponent);
    weights_[k] = weight;
    total += weight;
  }
  weights_ /= total;
  double running = 0;
  for (int64_t k = 0; k < spec.clusters; ++k) cumulative_.push_back(running += weights_[k].item<double>());
  cumulative_.back() = 1.0;
}

std::optional<int64_t> MixtureSource::items() const {
  if (spec_.count == 0) return std::nullopt;
  return spec_.count;
}

int64_t MixtureSource::component_of(double u) const {
  const auto at = std::upper_bound(cumulative_.begin(), cumulative_.end(), u) - cumulative_.begin();
  return std::min<int64_t>(at, spec_.clusters - 1);
}

int64_t MixtureSource::component(int64_t item) const {
  return component_of(SampleRng(spec_.seed, static_cast<uint64_t>(item), Stream::Generic).next_uniform());
}

FeatureChunk MixtureSource::read(int64_t first, int64_t count) {
  STYLESEG_ASSERT(!items() || first + count <= *items(), "mixture: items past the end asked for");
  at::Tensor x = at::empty({count, spec_.dim}, at::kFloat);
  const float* centres = centres_.data_ptr<float>();
  float* out = x.data_ptr<float>();
  at::parallel_for(0, count, 1024, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      // The same stream as component(): its first number picks the component.
      SampleRng rng(spec_.seed, static_cast<uint64_t>(first + i), Stream::Generic);
      const int64_t k = component_of(rng.next_uniform());
      float* row = out + i * spec_.dim;
      rng.fill_normal(row, static_cast<size_t>(spec_.dim));
      for (int64_t d = 0; d < spec_.dim; ++d)
        row[d] = centres[k * spec_.dim + d] + static_cast<float>(spec_.spread) * row[d];
    }
  });
  FeatureChunk chunk;
  chunk.first_item = first;
  chunk.items = count;
  chunk.vectors = x;
  return chunk;
}

nlohmann::json MixtureSource::describe() const {
  return {{"kind", "mixture"}, {"clusters", spec_.clusters}, {"dim", spec_.dim}, {"count", spec_.count},
          {"spread", spec_.spread}, {"separation", spec_.separation}, {"imbalance", spec_.imbalance}, {"seed", spec_.seed}};
}

}  // namespace styleseg::cluster
