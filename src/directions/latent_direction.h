// A direction in a generator's W space and how it was found (stage 3, rare classes:
// "Segmentation in Style" section 2.3, after InterFaceGAN and StyleCLIP). Moving latents
// along it, w + alpha * direction after truncation, makes an attribute (glasses, a beard, a
// dilated pupil) appear in most samples, so that clustering then finds it as a region.
//
// direction.h5 (written by `styleseg direction`; read by every command that samples a
// generator through --direction FILE --alpha A):
//   direction     float32 [w_dim], unit length (or [num_ws, w_dim]: one row per layer,
//                 unit length over all of them)
//   sweep_alpha   float64 [S]   alphas tried after fitting
//   sweep_rate    float64 [S]   share of samples the scorer calls positive at each
//   sweep_score   float64 [S]   mean score at each
//   attributes: method, scorer (JSON), heldout_accuracy, train_accuracy, suggested_alpha,
//   projection_std (std of w . direction over the fitting samples), latent_std (the
//   latents' mean spread per dimension: the default sweep's unit),
//   positive_threshold (the score at or above which a sample counts as positive),
//   source (JSON: generator, SHA-256, samples, seed, truncation), options, styleseg_version.
#pragma once

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace styleseg::directions {

struct LatentDirection {
  at::Tensor direction;                 // float32 [w_dim] or [num_ws, w_dim]
  std::string method;                   // svm | logistic | optimize
  nlohmann::json scorer = nlohmann::json::object();
  double heldout_accuracy = -1;         // < 0: not measured (optimize)
  double train_accuracy = -1;
  double suggested_alpha = 0;
  double projection_std = 0;
  double latent_std = 0;
  double positive_threshold = 0;
  std::vector<double> sweep_alpha, sweep_rate, sweep_score;
  nlohmann::json source = nlohmann::json::object();
  nlohmann::json options = nlohmann::json::object();

  // [num_ws, w_dim]: the direction for every layer (a [w_dim] one repeated).
  at::Tensor per_layer(int64_t num_ws) const;
};

// Atomic (temporary name, then rename). Throws OutputError.
void write_direction(const std::string& path, const LatentDirection& direction);
// Throws InputError naming the file when missing, not a direction file, or malformed.
LatentDirection read_direction(const std::string& path);

}  // namespace styleseg::directions
