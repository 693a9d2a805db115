// Stage 3, rare classes: `styleseg direction` finds a direction in W space along which an
// attribute appears ("Segmentation in Style" section 2.3, after InterFaceGAN and
// StyleCLIP), so that samples moved along it (w + alpha * direction, --direction/--alpha of
// every sampling command) show it often enough for clustering to make it a region.
//
// Two methods:
//  * svm | logistic (InterFaceGAN): ranks split M samples (sample i the same on any
//    number of ranks) and score them (directions/scorers.h); the (w, score) pairs are
//    summed into one table on every rank; rank 0 fits a linear classifier on the top and
//    bottom tails (directions/linear_fit.h, a fifth held out) and broadcasts the unit
//    normal of its hyperplane.
//  * optimize (the official notebook's StyleCLIP-style global direction): one vector G,
//    found by gradient descent through the generator and a differentiable scorer (CLIP) to
//    raise the score of F(w + G) over random w, with a penalty on |G|^2; ranks split each
//    batch and average their gradients. The direction is G / |G|, and |G| the suggested alpha.
// Then a sweep: the share of samples the scorer calls positive (at or above the top
// tail's cut among unshifted samples) and the mean score for a range of alphas; the
// suggested alpha is the smallest reaching --target-rate (else the best one). --preview
// draws samples at 0, alpha/2 and alpha and the rate-versus-alpha curve.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "directions/latent_direction.h"
#include "directions/linear_fit.h"
#include "directions/scorers.h"
#include "sampling/sampler.h"

namespace styleseg::comm {
class Communicator;
}

namespace styleseg::stages {

struct DirectionOptions {
  sampling::SamplerOptions sampling;  // the generator and how it is sampled (truncation before the shift)
  directions::ScorerOptions scorer;
  directions::DirectionMethod method = directions::DirectionMethod::Svm;
  int64_t samples = 2000;           // scored samples (svm, logistic)
  int batch = 16;
  double tail = 0.25;               // share labelled positive, and negative
  int iterations = 500;             // classifier optimiser steps
  double l2 = 1e-3;
  // optimize
  int steps = 200;
  double lr = 0.02;
  double length_penalty = 0.1;      // weight of |G|^2
  // sweep
  std::vector<double> alphas;       // empty: 0, 0.5, 1, 1.5, 2, 3, 4 times the latents' spread (optimize: |G|)
  int64_t sweep_samples = 64;
  double target_rate = 0.8;
  std::string out;                  // direction.h5
  std::string preview;              // PNG
  int preview_count = 6;
  bool force = false;               // replace existing outputs (io/output_policy.h)
};

// Collective. `scorer` judges the samples (make_scorer(options.scorer, ...) by the CLI;
// tests pass their own). Returns the direction written to options.out.
directions::LatentDirection find_direction(const DirectionOptions& options, directions::Scorer& scorer,
                                           comm::Communicator& comm, const nlohmann::json& provenance);

// The CLI's entry: builds the scorer from options.scorer on the rank's device, then
// find_direction.
directions::LatentDirection find_direction(const DirectionOptions& options, comm::Communicator& comm,
                                           const nlohmann::json& provenance);

}  // namespace styleseg::stages
