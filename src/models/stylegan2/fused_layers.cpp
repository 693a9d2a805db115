#include "models/stylegan2/fused_layers.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "models/stylegan2/ops.h"

namespace styleseg::stylegan2::fused {
namespace {

const int64_t kZeros[2] = {0, 0};
const int64_t kOnes[2] = {1, 1};
const int64_t kRowsOnly[2] = {1, 0};
const int64_t kColumnsOnly[2] = {0, 1};

// The phase convolutions of one call write four outputs of about this size each. Kept below
// glibc's largest mmap threshold (32 MiB), so freed buffers are reused from the heap instead of
// being mapped and zeroed afresh every call: at batch 8 that alone made the up-sampling layers
// 2x slower per image than at batch 1. Small enough that a chunk's outputs stay in the
// last-level cache at the lower resolutions, large enough that the small layers run as one batch.
constexpr int64_t kPhaseOutputBytes = 8 << 20;

// Enough elements per parallel task to amortise scheduling on small planes.
constexpr int64_t kElementsPerTask = 1 << 15;

// The layer's end as raw pointers, for one element type.
template <typename T>
struct EndView {
  const T* demod;           // [B, C]
  const T* noise;           // [B or 1, H, W], or null
  int64_t noise_image_stride;  // 0 when one noise map serves every image
  T noise_strength;
  const T* bias;            // [C]
  bool clamped;
  T clamp;
};

template <typename T>
EndView<T> view_of(const LayerEnd& end, const at::Tensor& noise) {
  EndView<T> v{};
  v.demod = end.demod.data_ptr<T>();
  v.bias = end.bias.data_ptr<T>();
  if (noise.defined()) {
    v.noise = noise.data_ptr<T>();
    v.noise_image_stride = noise.size(0) == 1 ? 0 : noise.stride(0);
    v.noise_strength = static_cast<T>(end.noise_strength.item<double>());
  }
  v.clamped = end.clamp.has_value();
  v.clamp = static_cast<T>(end.clamp.value_or(0));
  return v;
}

// One row of the layer's end, in place: the operations and their order are the ATen path's
// (multiply by demod; add noise x strength, rounded first; add bias; leaky ReLU; gain; clamp).
// Branch-free loops, so each vectorises.
template <typename T>
void finish_row(T* __restrict row, int64_t width, T demod, const T* __restrict noise_row, T strength, T bias,
                const EndView<T>& end) {
  const T slope = static_cast<T>(kLeakyReluSlope), gain = static_cast<T>(kLeakyReluGain);
  if (noise_row) {
    for (int64_t q = 0; q < width; ++q) row[q] = row[q] * demod + noise_row[q] * strength;
  } else {
    for (int64_t q = 0; q < width; ++q) row[q] = row[q] * demod;
  }
  for (int64_t q = 0; q < width; ++q) {  // leaky ReLU as max(v, slope v): slope < 1, and it vectorises
    const T v = row[q] + bias;
    row[q] = std::max(v, v * slope) * gain;
  }
  if (end.clamped) {
    const T limit = end.clamp;
    for (int64_t q = 0; q < width; ++q) row[q] = std::min(std::max(row[q], -limit), limit);
  }
}

// The noise map as [B or 1, H, W] contiguous in `like`'s type, or undefined.
at::Tensor noise_maps(const LayerEnd& end, const at::Tensor& like, int64_t batch, int64_t height, int64_t width) {
  if (!end.noise.defined()) return {};
  at::Tensor n = end.noise.to(like.scalar_type()).contiguous();
  STYLESEG_ASSERT(n.dim() == 4 && (n.size(0) == 1 || n.size(0) == batch) && n.size(1) == 1 && n.size(2) == height &&
                      n.size(3) == width,
                  "fused layer: noise of the wrong shape");
  return n.view({n.size(0), height, width});
}

int64_t planes_per_task(int64_t plane_elements) { return std::max<int64_t>(1, kElementsPerTask / plane_elements); }

// The layer's end on `y` [B, C, H, W] in place; `first_image` is y's first image in the batch
// that `end` describes.
void finish_in_place(at::Tensor& y, const LayerEnd& end, int64_t first_image) {
  const int64_t images = y.size(0), channels = y.size(1), height = y.size(2), width = y.size(3);
  const at::Tensor noise = noise_maps(end, y, end.demod.size(0), height, width);
  AT_DISPATCH_FLOATING_TYPES(y.scalar_type(), "fused_finish", [&] {
    const EndView<scalar_t> e = view_of<scalar_t>(end, noise);
    scalar_t* data = y.data_ptr<scalar_t>();
    at::parallel_for(0, images * channels, planes_per_task(height * width), [&](int64_t begin, int64_t stop) {
      for (int64_t plane = begin; plane < stop; ++plane) {
        const int64_t b = first_image + plane / channels, c = plane % channels;
        for (int64_t p = 0; p < height; ++p) {
          const scalar_t* noise_row = e.noise ? e.noise + b * e.noise_image_stride + p * width : nullptr;
          finish_row(data + (plane * height + p) * width, width, e.demod[b * channels + c], noise_row, e.noise_strength,
                     e.bias[c], e);
        }
      }
    });
  });
}

// ---- the up-sampling convolution, phase by phase ----------------------------------------

// The transposed convolution's output U ([2H+1, 2W+1] a channel) by the parity of its row
// and column: U[2m, 2n] = even_even[m, n], U[2m, 2n+1] = even_odd[m, n], and so on. Each is a
// plain convolution of the input with the taps of the 3x3 kernel that reach that phase
// (flipped: the transposed convolution scatters where a convolution gathers).
struct Phases {
  at::Tensor even_even, even_odd, odd_even, odd_odd;  // [B, out, H+1, W+1], [.., H+1, W], [.., H, W+1], [.., H, W]
};

Phases convolve_phases(const at::Tensor& x, const PhaseKernels& k) {
  return {at::conv2d(x, k.even_even, {}, kOnes, kOnes), at::conv2d(x, k.even_odd, {}, kOnes, kRowsOnly),
          at::conv2d(x, k.odd_even, {}, kOnes, kColumnsOnly), at::conv2d(x, k.odd_odd, {}, kOnes, kZeros)};
}

// One channel's four phases woven into U, inside a zero border of 1 (the blur's padding):
// `padded` is [2H+3, 2W+3] and its border is left as it is (zero).
template <typename T>
void weave(const T* ee, const T* eo, const T* oe, const T* oo, int64_t h, int64_t w, T* padded) {
  const int64_t stride = 2 * w + 3;
  for (int64_t m = 0; m <= h; ++m) {
    T* even_row = padded + (2 * m + 1) * stride + 1;
    for (int64_t n = 0; n < w; ++n) even_row[2 * n] = ee[m * (w + 1) + n], even_row[2 * n + 1] = eo[m * w + n];
    even_row[2 * w] = ee[m * (w + 1) + w];
    if (m == h) break;
    T* odd_row = even_row + stride;
    for (int64_t n = 0; n < w; ++n) odd_row[2 * n] = oe[m * (w + 1) + n], odd_row[2 * n + 1] = oo[m * w + n];
    odd_row[2 * w] = oe[m * (w + 1) + w];
  }
}

// The blur of one padded plane into `out` ([2H, 2W]), then the layer's end row by row.
// out[p, q] = sum_ij padded[p + i, q + j] * fir[3 - i, 3 - j]: upfirdn2d's true convolution.
// Each output is summed in a register across its 16 taps (the loop over q vectorises): as a
// 16-pass accumulation into the row it was memory-bound and took longer than the convolutions.
template <typename T>
void blur_and_finish(const T* padded, int64_t h, int64_t w, const T (&flipped)[4][4], T* out, T demod,
                     const T* noise_plane, const T* bias, const EndView<T>& end) {
  const int64_t width = 2 * w, stride = 2 * w + 3;
  T k[4][4];  // a local copy: the stores to `out` cannot alias it, so the taps stay in registers
  std::copy(&flipped[0][0], &flipped[0][0] + 16, &k[0][0]);
  for (int64_t p = 0; p < 2 * h; ++p) {
    const T* __restrict r0 = padded + p * stride;
    const T* __restrict r1 = r0 + stride;
    const T* __restrict r2 = r1 + stride;
    const T* __restrict r3 = r2 + stride;
    T* __restrict row = out + p * width;
    for (int64_t q = 0; q < width; ++q) {
      T sum = T(0);
      for (int j = 0; j < 4; ++j) sum += k[0][j] * r0[q + j];
      for (int j = 0; j < 4; ++j) sum += k[1][j] * r1[q + j];
      for (int j = 0; j < 4; ++j) sum += k[2][j] * r2[q + j];
      for (int j = 0; j < 4; ++j) sum += k[3][j] * r3[q + j];
      row[q] = sum;
    }
    finish_row(row, width, demod, noise_plane ? noise_plane + p * width : nullptr, end.noise_strength, *bias, end);
  }
}

// Weave, blur and finish the phases of images [first_image, first_image + n) into `out`.
void weave_blur_finish(const Phases& phases, const at::Tensor& fir, const LayerEnd& end, const at::Tensor& noise,
                       int64_t first_image, at::Tensor& out) {
  const int64_t images = phases.odd_odd.size(0), channels = phases.odd_odd.size(1);
  const int64_t h = phases.odd_odd.size(2), w = phases.odd_odd.size(3);
  AT_DISPATCH_FLOATING_TYPES(out.scalar_type(), "fused_weave_blur_finish", [&] {
    using T = scalar_t;
    const EndView<T> e = view_of<T>(end, noise);
    const at::Tensor taps = fir.to(at::kCPU, out.scalar_type()).contiguous();
    T flipped[4][4];
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 4; ++j) flipped[i][j] = taps.data_ptr<T>()[(3 - i) * 4 + (3 - j)];
    const T *ee = phases.even_even.data_ptr<T>(), *eo = phases.even_odd.data_ptr<T>();
    const T *oe = phases.odd_even.data_ptr<T>(), *oo = phases.odd_odd.data_ptr<T>();
    T* result = out.data_ptr<T>();
    const int64_t out_plane = 4 * h * w;
    at::parallel_for(0, images * channels, planes_per_task(out_plane), [&](int64_t begin, int64_t stop) {
      std::vector<T> padded(static_cast<size_t>((2 * h + 3) * (2 * w + 3)), T(0));
      for (int64_t plane = begin; plane < stop; ++plane) {
        const int64_t b = first_image + plane / channels, c = plane % channels;
        weave(ee + plane * (h + 1) * (w + 1), eo + plane * (h + 1) * w, oe + plane * h * (w + 1), oo + plane * h * w, h,
              w, padded.data());
        const T* noise_plane = e.noise ? e.noise + b * e.noise_image_stride : nullptr;
        blur_and_finish(padded.data(), h, w, flipped, result + (b * channels + c) * out_plane,
                        e.demod[b * channels + c], noise_plane, e.bias + c, e);
      }
    });
  });
}

void check_end(const LayerEnd& end, const at::Tensor& x, int64_t channels) {
  STYLESEG_ASSERT(end.demod.dim() == 2 && end.demod.size(0) == x.size(0) && end.demod.size(1) == channels &&
                      end.demod.is_contiguous() && end.demod.scalar_type() == x.scalar_type(),
                  "fused layer: demodulation must be [B, out] contiguous in the input's type");
  STYLESEG_ASSERT(end.bias.numel() == channels && end.bias.is_contiguous() && end.bias.scalar_type() == x.scalar_type(),
                  "fused layer: bias must be [out] in the input's type");
}

}  // namespace

bool applies(const at::Tensor& x) {
  return x.is_cpu() && (x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble) &&
         !c10::GradMode::is_enabled();
}

at::Tensor conv3x3(const at::Tensor& modulated_input, const at::Tensor& weight, const LayerEnd& end) {
  check_end(end, modulated_input, weight.size(0));
  at::Tensor y = at::conv2d(modulated_input, weight, {}, kOnes, kOnes);
  finish_in_place(y, end, 0);
  return y;
}

// One pass over the weights: two index_select per phase (the first form) took 8x as long.
PhaseKernels phase_kernels(const at::Tensor& weight) {
  STYLESEG_ASSERT(weight.dim() == 4 && weight.size(2) == 3 && weight.size(3) == 3, "phase kernels need a 3x3 kernel");
  const at::Tensor w = weight.contiguous();
  const int64_t out = w.size(0), in = w.size(1);
  PhaseKernels k{at::empty({out, in, 2, 2}, w.options()), at::empty({out, in, 2, 1}, w.options()),
                 at::empty({out, in, 1, 2}, w.options()), at::empty({out, in, 1, 1}, w.options())};
  AT_DISPATCH_FLOATING_TYPES(w.scalar_type(), "phase_kernels", [&] {
    const scalar_t* taps = w.data_ptr<scalar_t>();  // [out * in][3 * ky + kx]
    scalar_t *ee = k.even_even.data_ptr<scalar_t>(), *eo = k.even_odd.data_ptr<scalar_t>();
    scalar_t *oe = k.odd_even.data_ptr<scalar_t>(), *oo = k.odd_odd.data_ptr<scalar_t>();
    at::parallel_for(0, out * in, 4096, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const scalar_t* t = taps + 9 * i;
        // Even phases take taps 2 then 0 (flipped), odd phases tap 1, in each direction.
        ee[4 * i] = t[8], ee[4 * i + 1] = t[6], ee[4 * i + 2] = t[2], ee[4 * i + 3] = t[0];
        eo[2 * i] = t[7], eo[2 * i + 1] = t[1];
        oe[2 * i] = t[5], oe[2 * i + 1] = t[3];
        oo[i] = t[4];
      }
    });
  });
  return k;
}

at::Tensor upsample_conv3x3(const at::Tensor& modulated_input, const PhaseKernels& kernels, const at::Tensor& fir,
                            const LayerEnd& end) {
  const int64_t batch = modulated_input.size(0), channels = kernels.odd_odd.size(0);
  const int64_t h = modulated_input.size(2), w = modulated_input.size(3);
  check_end(end, modulated_input, channels);
  STYLESEG_ASSERT(fir.dim() == 2 && fir.size(0) == 4 && fir.size(1) == 4, "fused layer: the blur must be 4x4");
  const at::Tensor noise = noise_maps(end, modulated_input, batch, 2 * h, 2 * w);
  at::Tensor out = at::empty({batch, channels, 2 * h, 2 * w}, modulated_input.options());
  const int64_t phase_bytes = channels * (h + 1) * (w + 1) * static_cast<int64_t>(modulated_input.element_size());
  const int64_t chunk = std::max<int64_t>(1, kPhaseOutputBytes / phase_bytes);
  for (int64_t first = 0; first < batch; first += chunk) {
    const int64_t n = std::min(chunk, batch - first);
    const Phases phases = convolve_phases(modulated_input.narrow(0, first, n), kernels);
    weave_blur_finish(phases, fir, end, noise, first, out);
  }
  return out;
}

at::Tensor to_rgb(const at::Tensor& x, const at::Tensor& styles, const at::Tensor& weight, const at::Tensor& bias,
                  std::optional<double> clamp) {
  const int64_t batch = x.size(0), channels = x.size(1), height = x.size(2), width = x.size(3);
  const at::Tensor modulated_weight = weight.reshape({1, -1, channels}) * styles.unsqueeze(1);  // [B, 3, in]
  at::Tensor y = at::bmm(modulated_weight, x.reshape({batch, channels, height * width}));
  y = y.view({batch, -1, height, width}).add_(bias.view({1, -1, 1, 1}));
  if (clamp) y.clamp_(-*clamp, *clamp);
  return y;
}

}  // namespace styleseg::stylegan2::fused
