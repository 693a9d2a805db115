// The InterFaceGAN recipe for a latent direction: label the samples whose score is in the
// top `tail` as positive and those in the bottom `tail` as negative, fit a linear
// classifier in W space (a linear SVM with the squared hinge loss, or logistic
// regression; L2-regularised, fitted on (partly) whitened latents), and take the unit normal of its
// separating hyperplane in W coordinates, oriented towards the positives. Samples i with i % 5 == 0 (a fixed fifth, whatever the
// number of ranks) are held out to measure the classifier's accuracy.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>

#include "core/named_enum.h"

namespace styleseg::directions {

// How a direction is found: a linear classifier of the latents (here: the squared-hinge SVM
// or logistic regression), or gradient steps through the generator (stages/direction.h).
enum class DirectionMethod { Svm, Logistic, Optimize };
constexpr std::array<NamedValue<DirectionMethod>, 3> names_of(DirectionMethod) {
  return {{{DirectionMethod::Svm, "svm"}, {DirectionMethod::Logistic, "logistic"}, {DirectionMethod::Optimize, "optimize"}}};
}

struct LinearFitOptions {
  DirectionMethod method = DirectionMethod::Svm;  // Svm | Logistic
  double tail = 0.25;          // share of samples labelled positive, and negative
  double l2 = 1e-3;            // weight decay on the normal (in whitened coordinates)
  int iterations = 500;        // full-batch optimiser steps
};

struct LinearFit {
  at::Tensor direction;        // float64 [d], unit length, towards higher scores
  double positive_threshold = 0, negative_threshold = 0;  // score cuts of the two tails
  double train_accuracy = 0, heldout_accuracy = 0;
  int64_t positives = 0, negatives = 0, heldout = 0;
  double projection_std = 0;   // std of latents . direction over every sample
  double latent_std = 0;       // sqrt(mean variance of the latents per dimension): alpha's unit
};

// latents [n, d] (any float type), scores [n]; row i is sample i. Throws ConfigError when
// the tails are empty or the scores do not separate them (all equal).
LinearFit fit_linear_direction(const at::Tensor& latents, const at::Tensor& scores, const LinearFitOptions& options);

}  // namespace styleseg::directions
