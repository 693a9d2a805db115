// Distributed k-means over a stream of feature vectors (cluster/feature_source.h).
//
// Shape of a run (FAISS's Clustering, made distributed and streaming):
//  * The fixed set: the first `fixed_items` items of the source. Initialisation samples
//    it, Lloyd passes over it, and the final evaluation (counts, inertia) is over it.
//  * Initialisation: k-means++ (greedy, as scikit-learn: 2 + log K tries a step) on a
//    sample of `init_vectors` vectors of the fixed set, gathered on every rank; or
//    k-means|| (Bahmani et al. 2012) on the same sample left distributed: `init_rounds`
//    rounds each draw about `oversampling` * K vectors in proportion to D^2, and the
//    weighted candidates are reduced to K by k-means++ and a few weighted Lloyd steps.
//    With `init_trials` T > 1, the k-means++ on the gathered sample (or the candidates) is
//    drawn T times, each refined by a few weighted Lloyd steps there, and the one with the
//    lowest inertia on that small set starts the Lloyd passes: cheap restarts, as they cost
//    passes over the sample, not over the data (on a 50:1 Gaussian mixture, T = 16 on a 16k
//    sample lowers the final inertia by about 1 % on average over seeds: tools/bench).
//  * Iterations: Lloyd passes over the fixed set, or mini-batch steps (Sculley 2010) over
//    fresh chunks (a generator: samples after the fixed set, never reused; a file: the
//    next chunks, cyclically). Each rank assigns its chunks to the nearest centroid
//    (cluster/assignment.h), accumulates per-cluster sums and counts in float64, and one
//    allreduce combines them. Mini-batch steps move centroid k by n_k / N_k of the way to
//    its batch mean (N_k its count so far), which is Sculley's per-vector rate summed over
//    the batch.
//  * Empty clusters are re-seeded at once with the vectors farthest from their centroids
//    (the global farthest, found from each rank's own farthest); in mini-batch mode, every
//    10 steps, clusters whose count is below `reassign_ratio` of the largest are re-seeded
//    the same way (scikit-learn's rule). No centroid is ever NaN.
//  * Stop after `iterations`, or when the centroids move less than `tolerance` relative
//    to their norm (||C_new - C||_F / ||C||_F).
//  * `n_init` restarts (other seeds) keep the lowest final inertia.
//  * Memory: a rank holds one chunk at a time, plus (when they fit in `cache_bytes`) its
//    chunks of the fixed set, so that Lloyd passes and restarts do not read or generate
//    them again. Neither grows with the number of vectors streamed.
//
// Reproducibility: chunk c is the same data on any number of ranks and is computed alone
// (cluster/feature_source.h), random choices are keyed by (seed, restart, global vector
// index), and gathered sets are put in global order before use; so 1, 2 and 4 ranks give
// the same centroids up to the order of float64 sums (tested <= 1e-6 relative).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "core/named_enum.h"

namespace styleseg::comm {
class Communicator;
}

namespace styleseg::cluster {

class FeatureSource;

// Lloyd passes over the fixed set, or mini-batch steps over fresh chunks.
enum class KMeansAlgorithm { Lloyd, Minibatch };
constexpr std::array<NamedValue<KMeansAlgorithm>, 2> names_of(KMeansAlgorithm) {
  return {{{KMeansAlgorithm::Lloyd, "lloyd"}, {KMeansAlgorithm::Minibatch, "minibatch"}}};
}

// k-means++ on a gathered sample, or k-means|| on the sample left distributed.
enum class KMeansInit { PlusPlus, Parallel };
constexpr std::array<NamedValue<KMeansInit>, 2> names_of(KMeansInit) {
  return {{{KMeansInit::PlusPlus, "kmeans++"}, {KMeansInit::Parallel, "kmeans||"}}};
}

struct KMeansParameters {
  int64_t clusters = 8;               // K
  KMeansAlgorithm algorithm = KMeansAlgorithm::Lloyd;
  KMeansInit init = KMeansInit::PlusPlus;
  int iterations = 30;                // Lloyd passes or mini-batch steps, per restart
  double tolerance = 1e-4;            // relative centroid shift that counts as converged (0: never)
  uint64_t seed = 0;
  int n_init = 1;                     // restarts; the lowest final inertia wins
  int64_t fixed_items = 0;            // items in the fixed set (0: every item of a finite source)
  int64_t minibatch_items = 0;        // items per mini-batch step, all ranks together (0: 4 chunks, whatever the ranks)
  int64_t init_vectors = 65536;       // vectors sampled from the fixed set for initialisation
  int init_rounds = 5;                // k-means|| rounds
  int init_trials = 1;                // k-means++ draws on the sample (or candidates); the lowest inertia there wins
  double oversampling = 2.0;          // k-means|| draws about oversampling * K vectors a round
  double reassign_ratio = 0.01;       // mini-batch: re-seed clusters below this share of the largest count
  int64_t cache_bytes = int64_t{2} << 30;  // per rank: keep its chunks of the fixed set in memory when they fit (0: never)
  std::string scratch_dir;            // when they do not fit: keep them in a file there instead (node-local disk; empty: re-read)
};

// Throws ConfigError naming the option for values out of range.
void validate(const KMeansParameters& parameters);

// The outcome of one finished restart: what a result reports, and what a state keeps of the
// best restart so far.
struct KMeansRestart {
  int restart = -1;                   // which restart (-1: none finished yet)
  at::Tensor centroids;               // float32 [K, D], CPU
  at::Tensor counts;                  // int64 [K]: vectors of the fixed set nearest to each
  double inertia = std::numeric_limits<double>::infinity();  // sum of squared distances over the fixed set
  std::vector<double> inertia_history;  // per iteration: the sum of squared distances over the vectors that
                                        // iteration assigned (Lloyd: the fixed set; mini-batch: the batch)
  int iterations = 0;
  bool converged = false;
};

// Everything a run needs to continue where it stopped (saved by the caller through the
// iteration hook, given back to train_kmeans to resume).
struct KMeansState {
  int restart = 0;                    // the restart under way
  int iteration = 0;                  // iterations done in it (0: not initialised yet)
  at::Tensor centroids;               // float32 [K, D] (defined once initialised)
  at::Tensor seen;                    // float64 [K]: mini-batch counts so far
  std::vector<double> inertia;        // per iteration of this restart
  bool converged = false;
  int64_t vectors_processed = 0;      // all restarts, all ranks
  KMeansRestart best;                 // the best finished restart so far
  std::vector<double> restart_inertia;  // final inertia of each finished restart
};

// The best restart (its fields: the result's centroids, counts, inertia, ...) and the run's
// totals.
struct KMeansResult : KMeansRestart {
  std::vector<double> restart_inertia;  // final inertia of each restart
  int64_t vectors_processed = 0;      // vectors assigned in all passes and steps, all ranks
  int64_t fixed_vectors = 0;          // vectors in the fixed set
  bool stopped = false;               // the hook stopped it: only the saved state is meaningful
};

// Called on every rank after each iteration (and at the end of each restart) with the
// state to save for resuming. Returns true to stop there (every rank must return the same:
// the caller agrees it in a collective); train_kmeans then returns with `stopped` set.
using IterationHook = std::function<bool(const KMeansState& state)>;

// Collective. `resume` (optional) continues a saved state. Feature vectors must be finite;
// K must not exceed the distinct vectors of the initialisation sample (InputError).
KMeansResult train_kmeans(FeatureSource& source, const KMeansParameters& parameters, comm::Communicator& comm,
                          const KMeansState* resume = nullptr, const IterationHook& hook = {});

}  // namespace styleseg::cluster
