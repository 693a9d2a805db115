#include "cluster/assignment.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "core/error.h"

namespace styleseg::cluster {
namespace {

// Rows of float32 partial sums before they are added into the float64 total: keeps the
// float32 rounding of each partial sum at the level of a short sum.
constexpr int64_t kSumBlockRows = 4096;

void check_centroids(const at::Tensor& centroids, int64_t dim, const char* what) {
  STYLESEG_ASSERT(centroids.dim() == 2 && centroids.size(0) > 0,
                  std::string(what) + ": centroids must be [K, D] with K > 0");
  STYLESEG_CHECK(centroids.size(1) == dim, InputError,
                 std::string(what) + ": features have " + std::to_string(dim) + " dimensions, the centroids " +
                     std::to_string(centroids.size(1)));
}

void check_maps(const at::Tensor& maps, int64_t out_size, const char* what) {
  STYLESEG_ASSERT(maps.dim() == 4, std::string(what) + ": feature maps must be [B, D, h, w]");
  STYLESEG_ASSERT(out_size > 0, std::string(what) + ": the output size must be positive");
}

bool is_native(const at::Tensor& maps, int64_t out_size) { return maps.size(2) == out_size && maps.size(3) == out_size; }

// Bilinear resize, align_corners=True (the official code's convention).
at::Tensor resize(const at::Tensor& x, int64_t height, int64_t width) {
  if (x.size(2) == height && x.size(3) == width) return x;
  return at::upsample_bilinear2d(x, {height, width}, /*align_corners=*/true);
}

// Source coordinate of output index i when resizing `in` to `out` with align_corners=True,
// as the lower neighbour, the upper neighbour and the weight of the upper one.
struct Taps {
  at::Tensor lower, upper, weight;  // [out] int64, int64, float32
};
Taps taps(int64_t in, int64_t out, const c10::Device& device) {
  const double scale = out > 1 ? static_cast<double>(in - 1) / static_cast<double>(out - 1) : 0.0;
  at::Tensor src = at::arange(out, at::TensorOptions().dtype(at::kDouble)) * scale;
  at::Tensor lower = src.floor().clamp_max(in - 1);
  Taps t;
  t.weight = (src - lower).to(at::kFloat).to(device);
  t.lower = lower.to(at::kLong).to(device);
  t.upper = (t.lower + 1).clamp_max(in - 1);
  return t;
}

at::Tensor half_squared_norms(const at::Tensor& centroids) { return centroids.pow(2).sum(1) * 0.5; }

// label_sums_vectors on the CPU: each block of kSumBlockRows rows adds its rows into its own
// float32 [K, D] partial sums (blocks in parallel), then the partials go into the float64
// total in block order, so the result does not depend on the number of threads. One pass
// over the data: a one-hot matrix product packs every block for BLAS first, which at the
// few clusters of k-means costs more than the product itself.
at::Tensor label_sums_cpu(const at::Tensor& x, const at::Tensor& labels, int64_t num_clusters) {
  const int64_t n = x.size(0), d = x.size(1);
  const int64_t blocks = (n + kSumBlockRows - 1) / kSumBlockRows;
  at::Tensor partial = at::zeros({blocks, num_clusters, d}, x.options());
  const float* rows = x.data_ptr<float>();
  const int64_t* label = labels.data_ptr<int64_t>();
  float* out = partial.data_ptr<float>();
  at::parallel_for(0, blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      float* sums = out + b * num_clusters * d;
      for (int64_t i = b * kSumBlockRows; i < std::min(n, (b + 1) * kSumBlockRows); ++i) {
        STYLESEG_ASSERT(label[i] >= 0 && label[i] < num_clusters, "label_sums_vectors: a label outside 0..K-1");
        float* dst = sums + label[i] * d;
        const float* src = rows + i * d;
        for (int64_t j = 0; j < d; ++j) dst[j] += src[j];
      }
    }
  });
  at::Tensor total = at::zeros({num_clusters, d}, x.options().dtype(at::kDouble));
  for (int64_t b = 0; b < blocks; ++b) total += partial[b].to(at::kDouble);
  return total;
}

}  // namespace

Assignment assign_vectors(const at::Tensor& vectors, const at::Tensor& centroids, bool with_distances,
                          const at::Tensor& squared_norms) {
  STYLESEG_ASSERT(vectors.dim() == 2, "assign_vectors: vectors must be [n, D]");
  check_centroids(centroids, vectors.size(1), "assign_vectors");
  const at::Tensor x = vectors.to(at::kFloat);
  const at::Tensor c = centroids.to(x.device(), at::kFloat);
  at::Tensor scores = at::addmm(-half_squared_norms(c).unsqueeze(0), x, c.t());  // [n, K]
  auto [best, labels] = scores.max(1);
  Assignment out;
  out.labels = labels;
  if (with_distances) out.distances = ((squared_norms.defined() ? squared_norms : x.pow(2).sum(1)) - 2 * best).clamp_min(0);
  return out;
}

at::Tensor score_maps(const at::Tensor& maps, const at::Tensor& centroids) {
  check_maps(maps, 1, "score_maps");
  check_centroids(centroids, maps.size(1), "score_maps");
  const int64_t b = maps.size(0), d = maps.size(1), h = maps.size(2), w = maps.size(3);
  const at::Tensor f = maps.to(at::kFloat).reshape({b, d, h * w});
  const at::Tensor c = centroids.to(f.device(), at::kFloat);
  // [K, D] x [B, D, hw] -> [B, K, hw]
  at::Tensor s = at::matmul(c, f) - half_squared_norms(c).view({1, -1, 1});
  return s.view({b, c.size(0), h, w});
}

at::Tensor resized_squared_norms(const at::Tensor& maps, int64_t out_size) {
  check_maps(maps, out_size, "resized_squared_norms");
  const at::Tensor f = maps.to(at::kFloat);
  if (is_native(f, out_size)) return f.pow(2).sum(1);
  const int64_t b = f.size(0), h = f.size(2);
  const Taps rows = taps(h, out_size, f.device());
  at::Tensor result = at::empty({b, out_size, out_size}, f.options());
  // One sample at a time: the row-resized map [D, h, R] is R/w times the native map.
  for (int64_t i = 0; i < b; ++i) {
    const at::Tensor wide = resize(f.narrow(0, i, 1), h, out_size)[0];          // [D, h, R]
    const at::Tensor norms = wide.pow(2).sum(0);                                  // [h, R]
    // Dot products of each row with the row below (zero past the last row, where the
    // upper tap's weight is zero anyway).
    at::Tensor below = at::zeros_like(norms);
    if (h > 1) below.narrow(0, 0, h - 1).copy_((wide.narrow(1, 0, h - 1) * wide.narrow(1, 1, h - 1)).sum(0));
    // x = (1-t) a + t b  =>  |x|^2 = (1-t)^2 |a|^2 + t^2 |b|^2 + 2 t (1-t) a.b
    const at::Tensor t = rows.weight.unsqueeze(1);
    const at::Tensor a2 = norms.index_select(0, rows.lower), b2 = norms.index_select(0, rows.upper);
    const at::Tensor ab = below.index_select(0, rows.lower);
    result[i].copy_((1 - t).pow(2) * a2 + t.pow(2) * b2 + 2 * t * (1 - t) * ab);
  }
  return result.clamp_min(0);
}

at::Tensor resized_pixels(const at::Tensor& maps, int64_t out_size, const at::Tensor& samples, const at::Tensor& pixels) {
  check_maps(maps, out_size, "resized_pixels");
  const at::Tensor f = maps.to(at::kFloat);
  const int64_t d = f.size(1), h = f.size(2), w = f.size(3);
  const at::Tensor flat = f.permute({0, 2, 3, 1}).reshape({-1, d});  // [B*h*w, D]
  const at::Tensor s = samples.to(f.device(), at::kLong), p = pixels.to(f.device(), at::kLong);
  const at::Tensor y = at::div(p, out_size, "floor"), x = p - y * out_size;
  const Taps ty = taps(h, out_size, f.device()), tx = taps(w, out_size, f.device());
  const at::Tensor y0 = ty.lower.index_select(0, y), y1 = ty.upper.index_select(0, y);
  const at::Tensor x0 = tx.lower.index_select(0, x), x1 = tx.upper.index_select(0, x);
  const at::Tensor wy = ty.weight.index_select(0, y).unsqueeze(1), wx = tx.weight.index_select(0, x).unsqueeze(1);
  auto at_ = [&](const at::Tensor& yy, const at::Tensor& xx) { return flat.index_select(0, (s * h + yy) * w + xx); };
  return (1 - wy) * ((1 - wx) * at_(y0, x0) + wx * at_(y0, x1)) + wy * ((1 - wx) * at_(y1, x0) + wx * at_(y1, x1));
}

Assignment assign_maps(const at::Tensor& maps, const at::Tensor& centroids, int64_t out_size, bool with_distances,
                       const at::Tensor& squared_norms) {
  check_maps(maps, out_size, "assign_maps");
  // The score-map route: K maps resized instead of D (see the header).
  const at::Tensor scores = resize(score_maps(maps, centroids), out_size, out_size);  // [B, K, R, R]
  auto [best, labels] = scores.max(1);
  Assignment out;
  out.labels = labels;
  if (with_distances)
    out.distances = ((squared_norms.defined() ? squared_norms : resized_squared_norms(maps, out_size)) - 2 * best).clamp_min(0);
  return out;
}

at::Tensor label_sums(const at::Tensor& maps, const at::Tensor& labels, int64_t num_clusters) {
  const int64_t out_size = labels.size(-1);
  check_maps(maps, out_size, "label_sums");
  const at::Tensor f = maps.to(at::kFloat);
  const int64_t b = f.size(0), d = f.size(1), h = f.size(2), w = f.size(3);
  at::Tensor sums = at::zeros({num_clusters, d}, f.options().dtype(at::kDouble));
  for (int64_t i = 0; i < b; ++i) {
    // One-hot label masks [1, K, R, R] carried back to the native pixels by the transpose
    // of the resize: weight [K, h*w] of each native pixel in each cluster's sum.
    at::Tensor onehot = at::zeros({1, num_clusters, out_size * out_size}, f.options());
    onehot.scatter_(1, labels[i].reshape({1, 1, -1}).to(f.device()), 1.0);
    onehot = onehot.view({1, num_clusters, out_size, out_size});
    const at::Tensor weight = is_native(f, out_size)
        ? onehot
        : at::upsample_bilinear2d_backward(onehot, {out_size, out_size}, {1, num_clusters, h, w}, /*align_corners=*/true);
    sums += at::matmul(weight.reshape({num_clusters, h * w}), f[i].reshape({d, h * w}).t()).to(at::kDouble);
  }
  return sums;
}

at::Tensor label_sums_vectors(const at::Tensor& vectors, const at::Tensor& labels, int64_t num_clusters) {
  const at::Tensor x = vectors.to(at::kFloat).contiguous();
  const at::Tensor l = labels.to(x.device()).reshape({-1});
  if (x.is_cpu()) return label_sums_cpu(x, l.to(at::kLong).contiguous(), num_clusters);
  at::Tensor sums = at::zeros({num_clusters, x.size(1)}, x.options().dtype(at::kDouble));
  for (int64_t row = 0; row < x.size(0); row += kSumBlockRows) {
    const int64_t n = std::min(kSumBlockRows, x.size(0) - row);
    // One-hot [K, n] times the block [n, D]: one call (index_add_ is slower on both devices).
    at::Tensor onehot = at::zeros({num_clusters, n}, x.options());
    onehot.scatter_(0, l.narrow(0, row, n).unsqueeze(0), 1.0);
    sums += at::mm(onehot, x.narrow(0, row, n)).to(at::kDouble);
  }
  return sums;
}

}  // namespace styleseg::cluster
