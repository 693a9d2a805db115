// `styleseg probe`: where the unsupervised result loses, measured on a generator's own
// samples against a reference segmenter (for the eyes, the default job's supervised model;
// for a user, one trained on a small labelled subset). For each feature variant - the
// options `cluster` takes (layers, size, normalisation, noise, truncation) - it labels
// `samples` generated images with the reference, fits on the first half and scores the
// second (evaluate/probe.h): the linear ceiling, k-means at K with the many-to-one mapping,
// and per class the best cluster's precision and recall. Output: a table on stdout, JSON,
// and a picture (samples, reference labels, k-means classes, linear-probe classes).
//
// Ranks split the samples (batch b on rank b mod size); the fit rows (a fixed pixel sample
// of each fit image, keyed by (seed, sample)) are gathered so that every rank fits the same
// models, and the score counts are summed exactly: the report does not depend on the number
// of ranks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "evaluate/probe.h"
#include "sampling/sampler.h"

namespace styleseg::comm {
class Communicator;
}

namespace styleseg::stages {

struct ProbeOptions {
  sampling::SamplerOptions sampling;    // generator and base feature spec (--feature-layer, ...)
  // Variants, each "key=value,..." over the base options with keys layer, size, normalize,
  // noise (the features' noise), truncation, clusters, space, trials (k-means++ draws, the
  // best kept: --init-trials). Empty: the base options alone.
  std::vector<std::string> variants;
  std::string reference;                // segmenter model file (`styleseg train`)
  int64_t samples = 64;                 // first half fit, second half scored
  int64_t fit_pixels = 1024;            // pixels drawn from each fit sample
  int64_t clusters = 0;                 // K; 0: the reference's class count
  std::string cluster_space = "raw";    // where k-means runs (cluster::parse_space)
  int batch = 8;
  std::string out;                      // JSON (optional)
  std::string picture;                  // PNG (optional)
  int picture_samples = 4;              // score samples shown, per variant
  bool force = false;                   // replace existing outputs (io/output_policy.h)
};

// One variant resolved: the base options with its overrides.
struct VariantOptions {
  sampling::SamplerOptions sampling;
  int64_t clusters = 0;                 // 0: the reference's class count
  cluster::SpaceSpec space;
  int init_trials = 1;
};

struct ProbeVariant {
  std::string spec;                     // as given ("" for the base spec)
  std::string layer;                    // the resolved feature layer(s)
  int64_t dim = 0, feature_size = 0, clusters = 0;
  std::string space;
  int init_trials = 1;
  evaluate::ProbeReport report;
};

struct ProbeSummary {
  std::vector<std::string> classes;
  std::vector<ProbeVariant> variants;
};

// Collective. ConfigError for a bad variant or option, InputError for unreadable files.
ProbeSummary run_probe(const ProbeOptions& options, comm::Communicator& comm);

// The base options with one variant's overrides. ConfigError naming the key.
VariantOptions apply_variant(const ProbeOptions& base, const std::string& spec);

// The table printed on stdout: per variant the ceiling, k-means and per-class IoUs, then
// per class the best cluster's precision and recall.
std::string probe_table(const ProbeSummary& summary);

}  // namespace styleseg::stages
