#include "domains/eyes.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/seeding.h"
#include "io/image_filters.h"

namespace styleseg::eyes {
namespace {

constexpr double kPi = 3.14159265358979323846;

double uniform(SampleRng& rng, double lo, double hi) { return lo + (hi - lo) * rng.next_uniform(); }

// Pixel centres in the eye's own frame: u along the eye (corners at +-1), v across it
// (down positive), both in half-widths.
struct EyeFrame {
  at::Tensor u, v;
};

EyeFrame eye_frame(const EyeGeometry& g, int64_t height, int64_t width) {
  const at::Tensor ys = (at::arange(height, at::kFloat) + 0.5 - g.cy).view({-1, 1});
  const at::Tensor xs = (at::arange(width, at::kFloat) + 0.5 - g.cx).view({1, -1});
  const double c = std::cos(g.roll), s = std::sin(g.roll);
  return {(xs * c + ys * s) / g.half_width, (ys * c - xs * s) / g.half_width};
}

// The lid lines: v of the upper and lower lid at u (they meet at the corners).
at::Tensor upper_lid(const EyeGeometry& g, const at::Tensor& u) {
  return -g.upper_open * (1 - u * u).clamp_min(0).pow(g.upper_power) - g.tilt * u;
}
at::Tensor lower_lid(const EyeGeometry& g, const at::Tensor& u) {
  return g.lower_open * (1 - u * u).clamp_min(0).pow(g.lower_power) - g.tilt * u;
}

// Signed distances in half-widths (negative inside) and the iris's own coordinates.
struct Regions {
  at::Tensor aperture, iris, pupil, lash_coverage;  // lash_coverage in [0, 1]
  at::Tensor upper, lower;                           // lid lines at each pixel's u
  at::Tensor iris_x, iris_y, iris_rho;               // iris frame: normalised ellipse coordinates
};

Regions regions_of(const EyeGeometry& g, const EyeFrame& f) {
  Regions r;
  r.upper = upper_lid(g, f.u);
  r.lower = lower_lid(g, f.u);
  r.aperture = at::maximum(at::maximum(r.upper - f.v, f.v - r.lower), f.u.abs() - 1);
  // Iris and pupil: ellipses foreshortened along the gaze direction.
  const double a = std::cos(g.gaze_angle), b = std::sin(g.gaze_angle);
  const at::Tensor du = f.u - g.gaze_x, dv = f.v - g.gaze_y;
  const at::Tensor p = du * a + dv * b, q = dv * a - du * b;
  r.iris_x = p / (g.iris_radius * g.foreshortening);
  r.iris_y = q / g.iris_radius;
  r.iris_rho = (r.iris_x * r.iris_x + r.iris_y * r.iris_y).sqrt();
  r.iris = (r.iris_rho - 1) * (g.iris_radius * g.foreshortening);
  r.pupil = (r.iris_rho - g.pupil_ratio) * (g.iris_radius * g.foreshortening);
  // Lashes: N stripes along the upper lid, each with its own offset, slant, thickness and
  // reach above (outside) and below (into the eye) the lid line.
  r.lash_coverage = at::zeros_like(f.u);
  if (g.lashes > 0) {
    SampleRng rng(g.lash_seed, 0, Stream::Generic);
    const int64_t n = g.lashes;
    std::vector<float> offset(n), slant(n), thickness(n), reach_in(n), reach_out(n);
    for (int64_t k = 0; k < n; ++k) {
      offset[k] = static_cast<float>(uniform(rng, -0.25, 0.25));
      slant[k] = static_cast<float>(uniform(rng, -0.8, 0.8));
      thickness[k] = static_cast<float>(uniform(rng, 0.12, 0.3));
      reach_in[k] = static_cast<float>(rng.next_uniform() < 0.5 ? uniform(rng, 0, g.lash_length_in) : 0.02);
      reach_out[k] = static_cast<float>(uniform(rng, 0.12, 0.3));
    }
    auto table = [](const std::vector<float>& v) { return at::tensor(v); };
    const at::Tensor s = (f.u + 1) * (0.5 * static_cast<double>(n));
    const at::Tensor k = s.floor().clamp(0, static_cast<double>(n - 1)).to(at::kLong);
    const at::Tensor frac = s - k.to(at::kFloat) - 0.5;
    auto pick = [&](const std::vector<float>& v) { return table(v).index_select(0, k.flatten()).view_as(f.u); };
    const at::Tensor t = r.upper - f.v;  // above the lid line: positive
    const double spacing_px = 2.0 / static_cast<double>(n) * g.half_width;
    const at::Tensor centre = pick(offset) + pick(slant) * t * (0.5 * static_cast<double>(n));
    const at::Tensor in = pick(reach_in), out = pick(reach_out);
    const at::Tensor along = at::where(t >= 0, t / out, -t / in.clamp_min(1e-3));   // 0 at the lid, 1 at the tip
    const at::Tensor width_px = pick(thickness) * spacing_px * (1 - along).clamp_min(0) + 0.35;
    const at::Tensor distance_px = (frac - centre).abs() * spacing_px;
    const at::Tensor on_lid = (f.u.abs() < 0.92).logical_and(along < 1);
    r.lash_coverage = at::where(on_lid, (0.5 - (distance_px - width_px * 0.5)).clamp(0, 1), at::zeros_like(f.u));
  }
  return r;
}

// Anti-aliased coverage of a region from its signed distance in half-widths.
at::Tensor coverage(const at::Tensor& distance, double half_width) { return (0.5 - distance * half_width).clamp(0, 1); }

at::Tensor mask_of(const Regions& r) {
  at::Tensor mask = at::zeros(r.aperture.sizes(), at::kByte);
  const at::Tensor open = r.aperture < 0;
  mask.masked_fill_(open, 1);
  mask.masked_fill_(open.logical_and(r.iris < 0), 2);
  mask.masked_fill_(open.logical_and(r.pupil < 0), 3);
  mask.masked_fill_(open.logical_and(r.lash_coverage >= 0.5), 0);
  return mask;
}

// Smooth random field [H, W]: normal noise on a cells_h x cells_w lattice, bicubic up-sampled.
at::Tensor smooth_noise(SampleRng& rng, int64_t height, int64_t width, int64_t cells, double amplitude) {
  const int64_t ch = std::max<int64_t>(2, cells * height / std::max(height, width));
  const int64_t cw = std::max<int64_t>(2, cells * width / std::max(height, width));
  at::Tensor lattice = at::empty({1, 1, ch, cw}, at::kFloat);
  rng.fill_normal(lattice.data_ptr<float>(), static_cast<size_t>(lattice.numel()));
  return at::upsample_bicubic2d(lattice, {height, width}, /*align_corners=*/false)[0][0] * amplitude;
}

at::Tensor rgb(double r, double g, double b) { return at::tensor({static_cast<float>(r), static_cast<float>(g), static_cast<float>(b)}).view({3, 1, 1}); }

}  // namespace

const std::vector<std::string>& class_names() {
  static const std::vector<std::string> names{"background", "sclera", "iris", "pupil"};
  return names;
}

EyeGeometry random_geometry(const EyeOptions& o, SampleRng& rng) {
  EyeGeometry g;
  const double h = static_cast<double>(o.height), w = static_cast<double>(o.width);
  g.half_width = std::min(uniform(rng, 0.26, 0.42) * w, uniform(rng, 0.45, 0.6) * h);
  g.cx = w / 2 + uniform(rng, -0.12, 0.12) * w;
  g.cy = h / 2 + uniform(rng, -0.12, 0.12) * h;
  g.roll = uniform(rng, -0.26, 0.26);
  // Opening: mostly open, sometimes blinking down to nearly closed.
  const double opening = rng.next_uniform() < 0.15 ? uniform(rng, 0.04, 0.3) : uniform(rng, 0.45, 1.0);
  g.upper_open = opening * uniform(rng, 0.45, 0.72);
  g.lower_open = (0.4 + 0.6 * opening) * uniform(rng, 0.22, 0.42);
  g.upper_power = uniform(rng, 0.7, 1.6);
  g.lower_power = uniform(rng, 0.7, 1.6);
  g.tilt = uniform(rng, -0.12, 0.12);
  g.gaze_x = uniform(rng, -0.35, 0.35);
  g.gaze_y = uniform(rng, -0.2, 0.2);
  g.iris_radius = uniform(rng, 0.36, 0.5);
  g.pupil_ratio = uniform(rng, 0.22, 0.6);
  g.foreshortening = std::cos(std::min(1.0, 1.3 * std::hypot(g.gaze_x, g.gaze_y)));
  g.gaze_angle = std::atan2(g.gaze_y, g.gaze_x);
  g.lashes = rng.next_uniform() < 0.85 ? static_cast<int>(uniform(rng, 22, 42)) : 0;
  g.lash_length_in = uniform(rng, 0.05, 0.35);
  g.lash_seed = rng.next_u64();
  return g;
}

at::Tensor render_mask(const EyeGeometry& g, int64_t height, int64_t width) {
  return mask_of(regions_of(g, eye_frame(g, height, width)));
}

EyeSample render_eye(const EyeOptions& o, uint64_t seed, int64_t index) {
  STYLESEG_CHECK(o.height >= 16 && o.width >= 16, ConfigError, "make-eyes: images must be at least 16x16 pixels");
  SampleRng rng(seed, static_cast<uint64_t>(index), Stream::Generic);
  const EyeGeometry g = random_geometry(o, rng);
  const int64_t h = o.height, w = o.width;
  const EyeFrame f = eye_frame(g, h, w);
  const Regions r = regions_of(g, f);
  const double hw = g.half_width, scale = std::max(h, w) / 128.0;  // texture sizes follow the image
  const at::Tensor above_lid = r.upper - f.v;                      // positive above the upper lid

  // ---- skin: base, low and mid frequency shading, crease, make-up, brow ----
  at::Tensor skin = uniform(rng, 0.45, 0.75) + smooth_noise(rng, h, w, 4, 0.06) + smooth_noise(rng, h, w, 24, 0.025);
  const double crease = uniform(rng, 0.18, 0.35);
  skin = skin * (1 - uniform(rng, 0.05, 0.25) * at::exp(-((above_lid - crease) / 0.07).pow(2)));
  if (rng.next_uniform() < 0.4) {  // make-up: a darker lid band
    const double band = uniform(rng, 0.1, 0.35);
    skin = skin * (1 - uniform(rng, 0.15, 0.45) * at::sigmoid((band - above_lid) / 0.03) * at::sigmoid(above_lid / 0.01));
  }
  skin = skin * (1 - 0.12 * at::exp(-((f.v - r.lower - 0.12) / 0.1).pow(2)));  // under the lower lid
  if (rng.next_uniform() < 0.6) {  // a partial brow above
    const double brow_v = -uniform(rng, 0.85, 1.3), curve = uniform(rng, 0.1, 0.35), thick = uniform(rng, 0.1, 0.22);
    const double from = uniform(rng, -1.4, -0.6), to = uniform(rng, 0.4, 1.4), freq = uniform(rng, 60, 120);
    const at::Tensor line = brow_v + curve * f.u * f.u;
    const at::Tensor across = (thick / 2 - (f.v - line).abs()) * hw;
    const at::Tensor along = ((f.u - from) * hw).clamp(0, 1) * ((to - f.u) * hw).clamp(0, 1);
    const at::Tensor hairs = 0.75 + 0.25 * at::cos(f.u * freq + f.v * freq * 0.4);
    skin = at::lerp(skin, uniform(rng, 0.08, 0.25) * hairs, across.clamp(0, 1) * along * uniform(rng, 0.5, 0.95));
  }

  // ---- sclera: bright, darker to the corners and under the lid, vessels ----
  at::Tensor sclera = uniform(rng, 0.6, 0.92) * (1 - 0.3 * f.u * f.u) *
                      (1 - uniform(rng, 0.15, 0.4) * at::exp(-(f.v - r.upper).clamp_min(0) / uniform(rng, 0.08, 0.25)));
  const int vessels = static_cast<int>(uniform(rng, 0, 7));
  for (int i = 0; i < vessels; ++i) {
    const double v0 = uniform(rng, -0.3, 0.3), amp = uniform(rng, 0.02, 0.12), k = uniform(rng, 3, 12), phase = uniform(rng, 0, 2 * kPi);
    const double width_px = uniform(rng, 0.4, 1.0) * scale, side = rng.next_uniform() < 0.5 ? -1 : 1;
    const at::Tensor path = ((f.v - v0 - amp * at::sin(f.u * k + phase)) * hw / width_px).pow(2);
    const at::Tensor toward_corner = ((f.u * side - 0.3) / 0.2).clamp(0, 1);
    sclera = sclera * (1 - uniform(rng, 0.1, 0.3) * at::exp(-path) * toward_corner);
  }

  // ---- iris: fibres, crypts, limbus ring, collarette; pupil ----
  const at::Tensor theta = at::atan2(r.iris_y, r.iris_x);
  at::Tensor iris = at::full_like(f.u, uniform(rng, 0.2, 0.55));
  for (int j = 0; j < 6; ++j)
    iris = iris + uniform(rng, 0.015, 0.05) * at::cos(theta * std::round(uniform(rng, 12, 70)) + uniform(rng, 0, 2 * kPi) +
                                                      r.iris_rho * uniform(rng, -3, 3));
  for (int j = 0; j < 6; ++j) {
    const double angle = uniform(rng, 0, 2 * kPi), radius = uniform(rng, g.pupil_ratio + 0.1, 0.9), size = uniform(rng, 0.05, 0.12);
    iris = iris - uniform(rng, 0.05, 0.15) *
                      at::exp(-((r.iris_x - radius * std::cos(angle)).pow(2) + (r.iris_y - radius * std::sin(angle)).pow(2)) / (size * size));
  }
  iris = iris * (1 - uniform(rng, 0.2, 0.5) * ((r.iris_rho - 0.78) / 0.22).clamp(0, 1));  // darker limbus
  iris = iris + 0.06 * at::exp(-((r.iris_rho - std::min(0.95, g.pupil_ratio * 1.6)) / 0.06).pow(2));  // collarette
  const double pupil = uniform(rng, 0.01, 0.1);

  // ---- colours (grey: all ones) ----
  at::Tensor skin_rgb = rgb(1, 1, 1), sclera_rgb = rgb(1, 1, 1), iris_rgb = rgb(1, 1, 1), dark_rgb = rgb(1, 1, 1);
  if (o.colour) {
    const double tone = rng.next_uniform();
    skin_rgb = rgb(1.0, 0.78 - 0.1 * tone, 0.66 - 0.16 * tone);
    const double iris_kind = rng.next_uniform();
    iris_rgb = iris_kind < 0.45 ? rgb(0.75, 0.5, 0.3) : iris_kind < 0.7 ? rgb(0.45, 0.62, 0.85) : iris_kind < 0.85 ? rgb(0.5, 0.7, 0.45) : rgb(0.7, 0.6, 0.35);
    sclera_rgb = rgb(1.0, 0.95, 0.93);
    dark_rgb = rgb(0.45, 0.32, 0.25);
  }

  // ---- composite: eye regions by coverage, then the eye into the skin ----
  at::Tensor eye = sclera.unsqueeze(0) * sclera_rgb;
  eye = at::lerp(eye, iris.unsqueeze(0) * iris_rgb, coverage(r.iris, hw).unsqueeze(0));
  eye = at::lerp(eye, at::full_like(eye, pupil), coverage(r.pupil, hw).unsqueeze(0));
  const int glints = static_cast<int>(uniform(rng, 0, 3));
  for (int i = 0; i < glints; ++i) {  // specular reflections on the cornea: the class beneath
    const double gu = g.gaze_x + uniform(rng, -0.6, 0.6) * g.iris_radius, gv = g.gaze_y + uniform(rng, -0.6, 0.6) * g.iris_radius;
    const double radius = uniform(rng, 0.015, 0.05);
    const at::Tensor d = ((f.u - gu).pow(2) + (f.v - gv).pow(2)).sqrt() - radius;
    eye = at::lerp(eye, at::full_like(eye, uniform(rng, 0.9, 1.0)), coverage(d, hw).unsqueeze(0));
  }
  at::Tensor image = at::lerp(skin.unsqueeze(0) * skin_rgb, eye, coverage(r.aperture, hw).unsqueeze(0));
  // The lid margins and the lashes, dark.
  image = image * (1 - uniform(rng, 0.2, 0.5) * at::exp(-(r.aperture * hw / (1.2 * scale)).pow(2))).unsqueeze(0);
  image = at::lerp(image, at::full_like(image, uniform(rng, 0.03, 0.15)) * dark_rgb, r.lash_coverage.unsqueeze(0));

  // ---- camera: illumination gradient, exposure, blur, noise ----
  const at::Tensor ys = (at::arange(h, at::kFloat) / static_cast<double>(h) - 0.5).view({-1, 1});
  const at::Tensor xs = (at::arange(w, at::kFloat) / static_cast<double>(w) - 0.5).view({1, -1});
  image = image * (1 + uniform(rng, -0.5, 0.5) * xs + uniform(rng, -0.5, 0.5) * ys - uniform(rng, 0, 0.6) * (xs * xs + ys * ys)).unsqueeze(0);
  image = (image * uniform(rng, 0.7, 1.3)).clamp(0, 1).pow(uniform(rng, 0.8, 1.25));
  if (rng.next_uniform() < 0.6) image = gaussian_blur(image, uniform(rng, 0.3, 1.3) * scale);
  at::Tensor noise = at::empty({1, h, w}, at::kFloat);
  rng.fill_normal(noise.data_ptr<float>(), static_cast<size_t>(noise.numel()));
  image = image + noise * (uniform(rng, 0.005, 0.035) + uniform(rng, 0, 0.03) * image.mean(0, true).sqrt());
  EyeSample sample;
  sample.image = (image.clamp(0, 1) * 255).round().to(at::kByte).permute({1, 2, 0}).contiguous();
  sample.mask = mask_of(r);
  return sample;
}

at::Tensor fit_intensity_baseline(const at::Tensor& images, const at::Tensor& masks) {
  const at::Tensor grey = images.to(at::kFloat).mean(-1).round().to(at::kLong).flatten();
  const at::Tensor labels = masks.to(at::kLong).flatten();
  const at::Tensor counts = at::zeros({256 * kClasses}, at::kLong).index_add_(0, grey * kClasses + labels, at::ones_like(grey));
  return counts.view({256, kClasses}).argmax(1);
}

at::Tensor apply_intensity_baseline(const at::Tensor& lookup, const at::Tensor& images) {
  const at::Tensor grey = images.to(at::kFloat).mean(-1).round().to(at::kLong);
  return lookup.index_select(0, grey.flatten()).view_as(grey);
}

}  // namespace styleseg::eyes
