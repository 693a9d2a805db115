// Nearest-centroid assignment: the one piece of code that turns feature vectors into
// cluster labels. cluster (k-means), assign, synthesize and name all call it.
//
// The score of vector x for centroid c_k is  s_k(x) = x . c_k - |c_k|^2 / 2,  so that
// argmax_k s_k(x) = argmin_k |x - c_k|^2 and |x - c_nearest|^2 = |x|^2 - 2 max_k s_k(x).
// Scores are one matrix product per batch of vectors.
//
// Feature maps and the score-map route. Per-pixel features often come from a low
// resolution layer (64x64) and are wanted at the image size (256x256), up-sampled
// bilinearly (align_corners=True, as the official code). A bilinear up-sampling U is
// linear with weights that sum to 1 at every output pixel, and s_k is affine in x, so
//     s_k(U f)  =  U s_k(f):
// the K score maps can be computed at the native resolution and up-sampled, instead of
// the C feature channels (C/K times less up-sampling, and the matrix product runs on h*w
// instead of R*R pixels). The same holds backwards for the k-means sums: the sum of the
// up-sampled vectors of the pixels labelled k is  F U^T m_k  (m_k the label mask), so it
// is accumulated at the native resolution through the transpose of U. |x_p|^2 of the
// up-sampled pixels (for distances) comes from up-sampling the rows first, then combining
// the squared norms and dot products of vertically neighbouring rows, never forming the
// R x R x C up-sampled map. Every function here is exact up to rounding against the
// direct route (up-sample the features, then assign them as vectors): tested.
//
// Tensors may live on any device (the centroids on the same one as the features); float
// features are used in float32, sums are float64.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

namespace styleseg::cluster {

struct Assignment {
  at::Tensor labels;     // int64: [n] for vectors, [B, R, R] for maps
  at::Tensor distances;  // float32 squared distance to the nearest centroid, same shape; undefined unless asked
};

// Vectors [n, D], centroids [K, D]. `squared_norms` [n] (optional) are the vectors' |x|^2,
// for callers that keep them between calls (distances need them).
Assignment assign_vectors(const at::Tensor& vectors, const at::Tensor& centroids, bool with_distances = false,
                          const at::Tensor& squared_norms = {});

// Feature maps [B, D, h, w]; the pixels are those of the bilinear resize to out_size x
// out_size (align_corners=True); out_size == h == w means the native pixels.
// `squared_norms` [B, out_size, out_size] (optional): resized_squared_norms(maps, out_size).
Assignment assign_maps(const at::Tensor& maps, const at::Tensor& centroids, int64_t out_size,
                       bool with_distances = false, const at::Tensor& squared_norms = {});

// Score maps s_k at the native resolution: [B, K, h, w] (float32).
at::Tensor score_maps(const at::Tensor& maps, const at::Tensor& centroids);

// |x_p|^2 of every pixel of the resized maps: [B, out_size, out_size] (float32).
at::Tensor resized_squared_norms(const at::Tensor& maps, int64_t out_size);

// The resized feature vectors of chosen pixels: `samples` [m] and `pixels` [m] (row-major
// index y * out_size + x), int64, give [m, D] (float32).
at::Tensor resized_pixels(const at::Tensor& maps, int64_t out_size, const at::Tensor& samples, const at::Tensor& pixels);

// Per-cluster sums of the resized vectors: labels [B, out_size, out_size] -> [K, D] float64
// (through the transpose of the resize; see above).
at::Tensor label_sums(const at::Tensor& maps, const at::Tensor& labels, int64_t num_clusters);

// Per-cluster sums of vectors [n, D] with labels [n]: [K, D] float64 (float32 partial sums
// over blocks of rows, added in float64).
at::Tensor label_sums_vectors(const at::Tensor& vectors, const at::Tensor& labels, int64_t num_clusters);

}  // namespace styleseg::cluster
