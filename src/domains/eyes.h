// A procedural eye domain with exact masks (stage 7: the paper's eye experiment, OpenEDS-like):
// near-infrared grey (or colour) close-ups of one eye, with 0 background (skin, lashes,
// brow), 1 sclera, 2 iris, 3 pupil.
//
// Each sample is drawn from a geometry (EyeGeometry: position, scale, roll, lids, gaze,
// iris and pupil, lashes) and an appearance (textures, shading, glints, make-up, brow,
// illumination, exposure, blur, noise), all from one random stream keyed by (seed, index),
// so sample i is the same whatever the batch or the number of ranks. Image and mask come
// from the same geometry: the mask is the class at each pixel centre, the image blends
// the regions by their coverage of the pixel (anti-aliased edges). Eyelashes over the eye
// are background in the mask; glints are the class beneath.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

namespace styleseg {
class SampleRng;
}

namespace styleseg::eyes {

constexpr int64_t kClasses = 4;
const std::vector<std::string>& class_names();  // background, sclera, iris, pupil

// Lengths in half-widths of the eye (centre to corner) unless said otherwise.
struct EyeGeometry {
  double cx = 0, cy = 0;          // eye centre, pixels
  double half_width = 40;         // pixels
  double roll = 0;                // radians
  double upper_open = 0.5;        // upper lid height above the centre line
  double lower_open = 0.4;        // lower lid depth below it
  double upper_power = 1.0;       // lid curves: open * (1 - u^2)^power
  double lower_power = 1.0;
  double tilt = 0;                // lid line rises by tilt * u towards the outer corner
  double gaze_x = 0, gaze_y = 0;  // iris centre
  double iris_radius = 0.45;
  double pupil_ratio = 0.4;       // pupil radius / iris radius
  double foreshortening = 1.0;    // minor / major axis of iris and pupil (1: looking at the camera)
  double gaze_angle = 0;          // direction of the minor axis, radians
  int lashes = 0;                 // lashes along the upper lid (0: none)
  double lash_length_in = 0;      // longest reach of a lash into the eye
  uint64_t lash_seed = 0;         // per-lash lengths, offsets and thickness
};

struct EyeOptions {
  int64_t height = 128, width = 128;
  bool colour = false;            // false: near-infrared grey (the three channels equal)
};

struct EyeSample {
  at::Tensor image;  // uint8 [H, W, 3]
  at::Tensor mask;   // uint8 [H, W]
};

// A random geometry for an image of the options' size.
EyeGeometry random_geometry(const EyeOptions& options, SampleRng& rng);

// The mask of a geometry: uint8 [H, W], the class at each pixel centre.
at::Tensor render_mask(const EyeGeometry& geometry, int64_t height, int64_t width);

// Sample `index` of the dataset with `seed`: a random geometry and appearance.
EyeSample render_eye(const EyeOptions& options, uint64_t seed, int64_t index);

// The intensity-threshold baseline (how far intensity alone goes): for each grey level of
// the training images, the class most often found at it (the best classifier of a pixel
// from its own grey level). fit: images uint8 [N, H, W, 3], masks [N, H, W]. Returns int64 [256].
at::Tensor fit_intensity_baseline(const at::Tensor& images, const at::Tensor& masks);
// Masks [N, H, W] (int64) predicted by the baseline.
at::Tensor apply_intensity_baseline(const at::Tensor& lookup, const at::Tensor& images);

}  // namespace styleseg::eyes
