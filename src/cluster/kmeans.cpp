#include "cluster/kmeans.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <filesystem>
#include <cmath>
#include <numeric>
#include <tuple>

#include "cluster/assignment.h"
#include "cluster/chunk_spill.h"
#include "cluster/feature_source.h"
#include "core/error.h"
#include "core/fault_injection.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/seeding.h"
#include "io/output_policy.h"  // human_bytes
#include "mpi/communicator.h"

namespace styleseg::cluster {

void validate(const KMeansParameters& p) {
  STYLESEG_CHECK(p.clusters >= 1, ConfigError, "--clusters must be at least 1, got " + std::to_string(p.clusters));
  STYLESEG_CHECK(p.iterations >= 1, ConfigError, "--iterations must be at least 1");
  STYLESEG_CHECK(p.tolerance >= 0, ConfigError, "--tolerance must be >= 0");
  STYLESEG_CHECK(p.n_init >= 1, ConfigError, "--n-init must be at least 1");
  STYLESEG_CHECK(p.fixed_items >= 0, ConfigError, "--samples must be >= 0");
  STYLESEG_CHECK(p.minibatch_items >= 0, ConfigError, "--minibatch must be >= 0");
  STYLESEG_CHECK(p.init_vectors >= p.clusters, ConfigError,
                 "--init-vectors must be at least --clusters (" + std::to_string(p.clusters) + ")");
  STYLESEG_CHECK(p.init_rounds >= 1, ConfigError, "--init-rounds must be at least 1");
  STYLESEG_CHECK(p.init_trials >= 1, ConfigError, "--init-trials must be at least 1, got " + std::to_string(p.init_trials));
  STYLESEG_CHECK(p.oversampling > 0, ConfigError, "--oversampling must be positive");
  STYLESEG_CHECK(p.reassign_ratio >= 0 && p.reassign_ratio < 1, ConfigError, "--reassign-ratio must be in [0, 1)");
  STYLESEG_CHECK(p.cache_bytes >= 0, ConfigError, "--cache-mb must be >= 0");
}

namespace {

// Space before work: a spill that would fill the scratch folder is not made (the fixed set is
// then read again every pass: slower, the same result), and the log says why, with both figures.
bool scratch_has_room(const std::string& dir, int64_t bytes) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  const std::filesystem::space_info space = std::filesystem::space(dir, error);
  if (error || static_cast<double>(bytes) <= static_cast<double>(space.available)) return true;
  log::warn("the fixed set ({} on this rank) does not fit in the scratch folder {} ({} free): it is read again every "
            "pass instead", human_bytes(static_cast<double>(bytes)), dir, human_bytes(static_cast<double>(space.available)));
  return false;
}

// Chunks per mini-batch step when --minibatch is not given: independent of the number of
// ranks (so results are too); 8 ranks or more should set --minibatch to keep all busy.
constexpr int64_t kDefaultMinibatchChunks = 4;
// Weighted Lloyd steps that finish k-means|| on its candidates (as Spark MLlib's default).
constexpr int kCandidateLloydSteps = 10;
// Weighted Lloyd steps refining each of several k-means++ trials on the gathered sample.
constexpr int kTrialLloydSteps = 5;
// Mini-batch: how often starved clusters are looked for (scikit-learn checks on a similar scale).
constexpr int kReassignEvery = 10;

// A uniform number in [0, 1) for (key, id): random choices keyed by global vector index,
// so they do not depend on which rank holds the vector.
double hash_uniform(uint64_t key, uint64_t id) {
  return static_cast<double>(mix64(key ^ mix64(id + 0x9E3779B97F4A7C15ULL)) >> 11) * 0x1.0p-53;
}

uint64_t restart_seed(uint64_t seed, int restart) { return mix64(seed + 0x632BE59BD9B4E019ULL * (restart + 1)); }

// Stream keys of the random choices of one restart.
enum class Draw : uint64_t { InitSample = 1, FirstCentre = 2, Round = 16 };
uint64_t draw_key(uint64_t seed, Draw what, uint64_t round = 0) {
  return mix64(seed ^ (static_cast<uint64_t>(what) + round) * 0xD1B54A32D192ED03ULL);
}

// The vectors farthest from their centroids seen by this rank in a pass (for re-seeding
// empty clusters), kept to the `limit` largest.
class Farthest {
 public:
  explicit Farthest(int64_t limit) : limit_(limit) {}

  void offer(const at::Tensor& distances, const at::Tensor& ids, const std::function<at::Tensor(const at::Tensor&)>& vectors_at) {
    const int64_t k = std::min<int64_t>(limit_, distances.size(0));
    if (k == 0) return;
    auto [top, where] = distances.topk(k);
    at::Tensor rows = vectors_at(where).to(at::kCPU, at::kFloat);
    at::Tensor top_ids = ids.index_select(0, where).cpu();
    if (distance_.defined()) {
      top = at::cat({distance_, top.to(at::kCPU, at::kDouble)});
      top_ids = at::cat({id_, top_ids});
      rows = at::cat({rows_, rows});
    }
    keep(top.to(at::kCPU, at::kDouble), top_ids, rows);
  }

  // Collective: the global farthest vectors, farthest first (ties: lower id first), at
  // most `limit`; the same on every rank whatever the number of ranks.
  at::Tensor global(comm::Communicator& comm, int64_t dim) const {
    const at::Tensor rows = distance_.defined() ? at::cat({distance_.to(at::kFloat).unsqueeze(1), rows_}, 1)
                                                : at::empty({0, dim + 1}, at::kFloat);
    const at::Tensor ids = distance_.defined() ? id_ : at::empty({0}, at::kLong);
    auto [all, all_ids] = comm::allgather_rows(comm, rows.to(comm.device()), ids.to(comm.device()));
    all = all.cpu();
    std::vector<int64_t> order(static_cast<size_t>(all.size(0)));
    std::iota(order.begin(), order.end(), 0);
    const auto dist = all.select(1, 0).contiguous();
    const float* dp = dist.data_ptr<float>();
    // all_ids is sorted ascending, so a stable sort by distance breaks ties by id.
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return dp[a] > dp[b]; });
    order.resize(static_cast<size_t>(std::min<int64_t>(limit_, all.size(0))));
    at::Tensor index = at::tensor(order, at::kLong);
    return all.index_select(0, index).narrow(1, 1, dim).contiguous();
  }

 private:
  void keep(const at::Tensor& distance, const at::Tensor& ids, const at::Tensor& rows) {
    const int64_t k = std::min<int64_t>(limit_, distance.size(0));
    auto [top, where] = distance.topk(k);
    distance_ = top;
    id_ = ids.index_select(0, where);
    rows_ = rows.index_select(0, where);
  }
  int64_t limit_;
  at::Tensor distance_, id_, rows_;  // CPU: float64 [m], int64 [m], float32 [m, D]
};

// One rank's per-cluster sums of a pass or step, then (after reduce()) everyone's.
struct PassStats {
  at::Tensor sums;    // float64 [K, D]
  at::Tensor counts;  // float64 [K]
  double inertia = 0;
  int64_t vectors = 0;

  PassStats(int64_t k, int64_t d) : sums(at::zeros({k, d}, at::kDouble)), counts(at::zeros({k}, at::kDouble)) {}

  // Collective: one allreduce for everything.
  void reduce(comm::Communicator& comm) {
    const int64_t k = sums.size(0), d = sums.size(1);
    at::Tensor packed = at::cat({sums.reshape({-1}), counts, at::tensor({inertia, static_cast<double>(vectors)}, at::kDouble)})
                            .to(comm.device());
    comm.allreduce(packed);
    packed = packed.cpu();
    sums = packed.narrow(0, 0, k * d).reshape({k, d}).clone();
    counts = packed.narrow(0, k * d, k).clone();
    inertia = packed[k * d + k].item<double>();
    vectors = static_cast<int64_t>(packed[k * d + k + 1].item<double>());
  }
};

// Assigns one chunk and adds it to `stats` (and its farthest vectors to `farthest`).
void accumulate(FeatureChunk& chunk, int64_t vectors_per_item, const at::Tensor& centroids, PassStats& stats,
                Farthest* farthest) {
  const int64_t k = centroids.size(0);
  const Assignment a = chunk.assign(centroids);
  const at::Tensor labels = a.labels.reshape({-1});
  const at::Tensor distances = a.distances.reshape({-1});
  stats.sums += chunk.label_sums(a.labels, k).cpu();
  stats.counts += at::bincount(labels, {}, k).to(at::kCPU, at::kDouble);
  stats.inertia += distances.sum(at::kDouble).item<double>();
  stats.vectors += labels.size(0);
  if (!farthest) return;
  const at::Tensor ids = at::arange(labels.size(0), labels.options()) + chunk.first_item * vectors_per_item;
  farthest->offer(distances, ids, [&](const at::Tensor& where) { return chunk.rows(where); });
}

// The vectors of a chunk whose ids pass `keep` (a per-id predicate on hash_uniform), with their ids.
std::pair<at::Tensor, at::Tensor> sample_chunk(const FeatureChunk& chunk, int64_t vectors_per_item, uint64_t key,
                                               double probability) {
  const int64_t n = chunk.num_vectors();
  const int64_t first_id = chunk.first_item * vectors_per_item;
  std::vector<int64_t> picked;
  for (int64_t i = 0; i < n; ++i)
    if (hash_uniform(key, static_cast<uint64_t>(first_id + i)) < probability) picked.push_back(i);
  const at::Tensor where = at::tensor(picked, at::kLong);
  return {chunk.rows(where).to(at::kCPU, at::kFloat), where + first_id};
}

// Squared distances [n, m] of `points` [n, D] (squared norms `norms` [n]) to `centres`
// [m, D], by one matrix product. Distances within rounding of zero (relative to the
// norms) are set to exactly zero, so that k-means++ sees duplicates as such.
at::Tensor squared_distances(const at::Tensor& points, const at::Tensor& norms, const at::Tensor& centres) {
  const at::Tensor centre_norms = centres.pow(2).sum(1).unsqueeze(0);
  const at::Tensor scale = norms.unsqueeze(1) + centre_norms;
  at::Tensor d2 = at::addmm(scale, points, centres.t(), /*beta=*/1, /*alpha=*/-2);
  return at::where(d2 <= scale * 1e-6, at::zeros_like(d2), d2).to(at::kDouble);
}

// Greedy k-means++ (Arthur & Vassilvitskii 2007; 2 + log K tries per step, as
// scikit-learn) on weighted points. Deterministic for a given rng.
at::Tensor kmeans_plus_plus(const at::Tensor& points, const at::Tensor& weights, int64_t k, SampleRng& rng,
                            const std::string& what) {
  const int64_t n = points.size(0);
  const int tries = 2 + static_cast<int>(std::log(static_cast<double>(k)));
  const at::Tensor norms = points.pow(2).sum(1);
  auto draw = [&](const at::Tensor& mass) {  // an index with probability proportional to mass
    const at::Tensor cumulative = mass.cumsum(0);
    const double total = cumulative[n - 1].item<double>();
    const double target = rng.next_uniform() * total;
    const int64_t index = at::searchsorted(cumulative, at::tensor({target}, at::kDouble), false, /*right=*/true)[0].item<int64_t>();
    return std::min(index, n - 1);
  };
  at::Tensor centres = at::empty({k, points.size(1)}, at::kFloat);
  const int64_t first = draw(weights);
  centres[0].copy_(points[first]);
  at::Tensor closest = squared_distances(points, norms, points.narrow(0, first, 1)).select(1, 0);
  for (int64_t c = 1; c < k; ++c) {
    const at::Tensor mass = closest * weights;
    if (!(mass.sum().item<double>() > 0))
      throw InputError(what + " holds only " + std::to_string(c) + " distinct vector(s): fewer than the " +
                       std::to_string(k) + " clusters asked for (lower --clusters, or use more data)");
    std::vector<int64_t> candidates;
    for (int t = 0; t < tries; ++t) candidates.push_back(draw(mass));
    const at::Tensor index = at::tensor(candidates, at::kLong);
    // All tries in one product: [n, tries] distances, the potential each would leave.
    const at::Tensor trial = at::minimum(closest.unsqueeze(1), squared_distances(points, norms, points.index_select(0, index)));
    const int64_t best = (trial * weights.unsqueeze(1)).sum(0).argmin().item<int64_t>();
    centres[c].copy_(points[candidates[static_cast<size_t>(best)]]);
    closest = trial.select(1, best).contiguous();
  }
  return centres;
}

// Weighted Lloyd steps on a small set of points (k-means|| candidates, the initialisation
// sample), in place.
void weighted_lloyd(const at::Tensor& points, const at::Tensor& weights, at::Tensor& centres, int steps) {
  if (steps == 0) return;
  const at::Tensor weighted = points.to(at::kFloat) * weights.to(at::kFloat).unsqueeze(1);
  const at::Tensor w = weights.to(at::kDouble);
  for (int s = 0; s < steps; ++s) {
    const at::Tensor labels = assign_vectors(points, centres).labels;
    const at::Tensor sums = label_sums_vectors(weighted, labels, centres.size(0));
    const at::Tensor mass = at::bincount(labels, w, centres.size(0));
    const at::Tensor filled = mass > 0;
    centres = at::where(filled.unsqueeze(1), (sums / mass.clamp_min(1e-300).unsqueeze(1)).to(at::kFloat), centres);
  }
}

// Weighted inertia of `points` under `centres`.
double weighted_inertia(const at::Tensor& points, const at::Tensor& weights, const at::Tensor& centres) {
  return (assign_vectors(points, centres, /*with_distances=*/true).distances.to(at::kDouble) * weights.to(at::kDouble))
      .sum()
      .item<double>();
}

// k-means++ on weighted points, drawn `trials` times (trial t from rng stream t), each refined
// by `steps` weighted Lloyd steps; the lowest weighted inertia wins (ties: the earlier trial).
// One trial with no steps is plain k-means++.
at::Tensor best_of_trials(const at::Tensor& points, const at::Tensor& weights, int64_t k, uint64_t seed, int trials,
                          int steps, const std::string& what) {
  at::Tensor best;
  double best_inertia = std::numeric_limits<double>::infinity();
  for (int t = 0; t < trials; ++t) {
    SampleRng rng(seed, static_cast<uint64_t>(t), Stream::Generic);
    at::Tensor centres = kmeans_plus_plus(points, weights, k, rng, what);
    weighted_lloyd(points, weights, centres, steps);
    if (trials == 1) return centres;
    const double inertia = weighted_inertia(points, weights, centres);
    if (inertia < best_inertia) best_inertia = inertia, best = centres;
  }
  log::debug("k-means++: the best of {} trials has inertia {:.6g} on the initialisation set", trials, best_inertia);
  return best;
}

class Trainer {
 public:
  Trainer(FeatureSource& source, const KMeansParameters& p, comm::Communicator& comm)
      : source_(source), p_(p), comm_(comm), k_(p.clusters), d_(source.dim()), chunk_(source.chunk_items()),
        vpi_(source.vectors_per_item()) {
    const std::optional<int64_t> available = source.items();
    STYLESEG_CHECK(available || p.fixed_items > 0, ConfigError,
                   "--samples must be given for a generator: the fixed set that initialisation, Lloyd passes and the "
                   "final evaluation use");
    fixed_items_ = p.fixed_items > 0 ? p.fixed_items : *available;
    if (available && fixed_items_ > *available)
      throw ConfigError("--samples " + std::to_string(fixed_items_) + " exceeds the " + std::to_string(*available) +
                        " items of the data");
    fixed_chunks_ = (fixed_items_ + chunk_ - 1) / chunk_;
    fixed_vectors_ = fixed_items_ * vpi_;
    STYLESEG_CHECK(fixed_vectors_ >= k_, InputError,
                   "the data holds " + std::to_string(fixed_vectors_) + " vectors, fewer than the " + std::to_string(k_) +
                       " clusters asked for");
    minibatch_chunks_ = p.minibatch_items > 0 ? (p.minibatch_items + chunk_ - 1) / chunk_ : kDefaultMinibatchChunks;
  }

  KMeansResult run(const KMeansState* resume, const IterationHook& hook) {
    KMeansState state;
    if (resume) {
      state = *resume;
      log::info("resuming k-means: restart {} of {}, {} iterations done", state.restart + 1, p_.n_init, state.iteration);
    }
    Progress progress("k-means", static_cast<int64_t>(p_.n_init) * p_.iterations, comm_.rank() == 0, "iterations");
    progress.advance(static_cast<int64_t>(state.restart) * p_.iterations + state.iteration);
    for (; state.restart < p_.n_init; ++state.restart) {
      const uint64_t seed = restart_seed(p_.seed, state.restart);
      if (state.iteration == 0) {
        state.centroids = initialise(seed);
        state.seen = at::zeros({k_}, at::kDouble);
        state.inertia.clear();
        state.converged = false;
      }
      while (state.iteration < p_.iterations && !state.converged) {
        fault_injection_point("cluster-iteration", comm_.rank(), state.iteration);
        const double shift = p_.algorithm == KMeansAlgorithm::Lloyd ? lloyd_pass(state) : minibatch_step(state);
        ++state.iteration;
        state.converged = p_.tolerance > 0 && shift < p_.tolerance;
        log::debug("restart {} iteration {}: inertia {:.6g}, shift {:.3g}", state.restart, state.iteration,
                   state.inertia.back(), shift);
        progress.advance(1);
        if (hook && hook(state)) return stopped();
      }
      progress.advance(p_.iterations - state.iteration);
      finish_restart(state);
      state.iteration = 0;
      if (hook && state.restart + 1 < p_.n_init) {
        KMeansState next = state;
        ++next.restart;
        if (hook(next)) return stopped();
      }
    }
    progress.finish();
    KMeansResult result;
    static_cast<KMeansRestart&>(result) = state.best;
    result.restart_inertia = state.restart_inertia;
    result.vectors_processed = state.vectors_processed;
    result.fixed_vectors = fixed_vectors_;
    return result;
  }

 private:
  static KMeansResult stopped() {
    KMeansResult result;
    result.stopped = true;
    return result;
  }

  // ---- passes ------------------------------------------------------------------------
  // Items [first, first + count) of chunk c of the fixed set.
  std::pair<int64_t, int64_t> fixed_chunk(int64_t c) const {
    const int64_t first = c * chunk_;
    return {first, std::min(chunk_, fixed_items_ - first)};
  }

  // Runs `visit` on this rank's chunks of the fixed set (chunk c on rank c mod size): from
  // the cache when they fit in it (decided from the first chunk's size), else from the
  // scratch file when there is a scratch folder, else from the source again.
  void for_fixed_chunks(const std::function<void(FeatureChunk&)>& visit) {
    if (cache_complete_) {
      for (FeatureChunk& chunk : cache_) visit(chunk);
      return;
    }
    if (spill_ && spill_->complete()) {
      spill_->for_each(visit);
      return;
    }
    cache_.clear();
    spill_.reset();
    bool caching = p_.cache_bytes > 0, decided = false;
    for (int64_t c = comm_.rank(); c < fixed_chunks_; c += comm_.size()) {
      const auto [first, count] = fixed_chunk(c);
      FeatureChunk chunk = source_.read(first, count);
      if (!decided) {
        decided = true;
        const at::Tensor& data = chunk.data();
        const int64_t my_chunks = (fixed_chunks_ - comm_.rank() + comm_.size() - 1) / comm_.size();
        const int64_t my_bytes = static_cast<int64_t>(data.numel() * data.element_size()) * my_chunks;
        caching = caching && my_bytes <= p_.cache_bytes;
        if (caching) log::debug("the fixed set fits in the cache: {} chunks on this rank", my_chunks);
        if (!caching && !p_.scratch_dir.empty() && scratch_has_room(p_.scratch_dir, my_bytes)) {
          spill_ = std::make_unique<ChunkSpill>(p_.scratch_dir, comm_.rank());
          log::info("the fixed set ({:.1f} MB on this rank) goes to scratch: {}", my_bytes / 1e6, spill_->path());
        }
      }
      visit(chunk);
      if (caching) {
        chunk.images = at::Tensor();  // pictures are only for previews
        cache_.push_back(std::move(chunk));
      } else if (spill_) {
        spill_->append(chunk);
      }
    }
    cache_complete_ = caching;
    if (spill_) spill_->finish();
  }

  PassStats evaluate(const at::Tensor& centroids, Farthest* farthest) {
    PassStats stats(k_, d_);
    for_fixed_chunks([&](FeatureChunk& chunk) { accumulate(chunk, vpi_, centroids, stats, farthest); });
    stats.reduce(comm_);
    return stats;
  }

  // Replaces the centroids of clusters in `which` (bool [K]) by the farthest vectors.
  // Returns how many were re-seeded.
  int64_t reseed(at::Tensor& centroids, const at::Tensor& which, const Farthest& farthest, const char* why) {
    const at::Tensor candidates = farthest.global(comm_, d_);  // the same on every rank
    const at::Tensor targets = at::nonzero(which).reshape({-1});
    const int64_t n = std::min<int64_t>(targets.size(0), candidates.size(0));
    for (int64_t i = 0; i < n; ++i) centroids[targets[i].item<int64_t>()].copy_(candidates[i]);
    if (n > 0) log::debug("re-seeded {} {} cluster(s) with the farthest vectors", n, why);
    return n;
  }

  static double relative_shift(const at::Tensor& before, const at::Tensor& after) {
    const double norm = before.norm().item<double>();
    return (after - before).norm().item<double>() / (norm > 0 ? norm : 1.0);
  }

  double lloyd_pass(KMeansState& state) {
    Farthest farthest(k_);
    PassStats stats = evaluate(state.centroids, &farthest);
    state.vectors_processed += stats.vectors;
    state.inertia.push_back(stats.inertia);
    const at::Tensor filled = stats.counts > 0;
    at::Tensor updated = at::where(filled.unsqueeze(1), (stats.sums / stats.counts.clamp_min(1).unsqueeze(1)).to(at::kFloat),
                                   state.centroids);
    reseed(updated, ~filled, farthest, "empty");
    const double shift = relative_shift(state.centroids, updated);
    state.centroids = updated;
    return shift;
  }

  double minibatch_step(KMeansState& state) {
    // Step t takes chunks base + t*M + j (j < M), chunk j on rank j mod size. A generator's
    // are fresh samples after the fixed set; a file's wrap around.
    const std::optional<int64_t> available = source_.items();
    const int64_t base = available ? 0 : fixed_chunks_;
    const int64_t total_chunks = available ? (*available + chunk_ - 1) / chunk_ : 0;
    Farthest farthest(k_);
    PassStats stats(k_, d_);
    for (int64_t j = comm_.rank(); j < minibatch_chunks_; j += comm_.size()) {
      int64_t c = base + static_cast<int64_t>(state.iteration) * minibatch_chunks_ + j;
      if (available) c %= total_chunks;
      const int64_t first = c * chunk_;
      const int64_t count = available ? std::min(chunk_, *available - first) : chunk_;
      FeatureChunk chunk = source_.read(first, count);
      accumulate(chunk, vpi_, state.centroids, stats, &farthest);
    }
    stats.reduce(comm_);
    state.vectors_processed += stats.vectors;
    state.inertia.push_back(stats.inertia);
    // Sculley's update, summed over the batch: c += (sum_k - n_k c) / N_k.
    // Out of place: states handed to the hook must not change afterwards.
    state.seen = state.seen + stats.counts;
    const at::Tensor step = (stats.sums - stats.counts.unsqueeze(1) * state.centroids.to(at::kDouble)) /
                            state.seen.clamp_min(1).unsqueeze(1);
    at::Tensor updated = (state.centroids.to(at::kDouble) + step).to(at::kFloat);
    at::Tensor starved = state.seen == 0;
    if (p_.reassign_ratio > 0 && (state.iteration + 1) % kReassignEvery == 0)
      starved = starved | (state.seen < p_.reassign_ratio * state.seen.max());
    if (starved.any().item<bool>()) {
      reseed(updated, starved, farthest, "starved");
      // As scikit-learn: a re-seeded centre starts with the smallest count of the others,
      // so it is not re-seeded again at once and still moves freely.
      const at::Tensor others = state.seen.masked_select(~starved);
      state.seen = state.seen.masked_fill(starved, others.numel() > 0 ? others.min().item<double>() : 0.0);
    }
    const double shift = relative_shift(state.centroids, updated);
    state.centroids = updated;
    return shift;
  }

  void finish_restart(KMeansState& state) {
    PassStats final_stats = evaluate(state.centroids, nullptr);
    state.vectors_processed += final_stats.vectors;
    state.restart_inertia.push_back(final_stats.inertia);
    log::info("restart {} of {}: inertia {:.6g} after {} iterations{}", state.restart + 1, p_.n_init, final_stats.inertia,
              state.iteration, state.converged ? " (converged)" : "");
    if (final_stats.inertia < state.best.inertia)
      state.best = KMeansRestart{state.restart,   state.centroids.clone(), final_stats.counts.round().to(at::kLong),
                                 final_stats.inertia, state.inertia, state.iteration, state.converged};
  }

  // ---- initialisation ----------------------------------------------------------------
  at::Tensor initialise(uint64_t seed) {
    // This rank's part of the initialisation sample: each vector of the fixed set with
    // probability init_vectors / fixed vectors, chosen by its id.
    const double probability = std::min(1.0, static_cast<double>(p_.init_vectors) / static_cast<double>(fixed_vectors_));
    std::vector<at::Tensor> rows, ids;
    for_fixed_chunks([&](FeatureChunk& chunk) {
      auto [r, i] = sample_chunk(chunk, vpi_, draw_key(seed, Draw::InitSample), probability);
      rows.push_back(r);
      ids.push_back(i);
    });
    const at::Tensor local_rows = rows.empty() ? at::empty({0, d_}, at::kFloat) : at::cat(rows);
    const at::Tensor local_ids = ids.empty() ? at::empty({0}, at::kLong) : at::cat(ids);
    const int64_t sampled = allreduce_sum(comm_, local_rows.size(0));
    const std::string what = "the initialisation sample (" + std::to_string(sampled) + " vectors of the fixed set)";
    STYLESEG_CHECK(sampled >= k_, InputError,
                   what + " is smaller than the " + std::to_string(k_) + " clusters asked for; raise --init-vectors");
    at::Tensor centres = p_.init == KMeansInit::PlusPlus ? init_plus_plus(local_rows, local_ids, seed, what)
                                               : init_parallel(local_rows, local_ids, seed, what);
    // Every rank computed the same centres; rank 0's are made the law anyway.
    at::Tensor shared = centres.to(comm_.device()).contiguous();
    comm_.broadcast(shared, 0);
    return shared.cpu();
  }

  at::Tensor init_plus_plus(const at::Tensor& rows, const at::Tensor& ids, uint64_t seed, const std::string& what) {
    auto [all, all_ids] = comm::allgather_rows(comm_, rows.to(comm_.device()), ids.to(comm_.device()));
    // One trial is plain k-means++ (no refinement), as before trials existed.
    const int steps = p_.init_trials > 1 ? kTrialLloydSteps : 0;
    return best_of_trials(all.cpu(), at::ones({all.size(0)}, at::kDouble), k_, seed, p_.init_trials, steps, what);
  }

  // k-means|| (Bahmani et al. 2012) over the distributed sample.
  at::Tensor init_parallel(const at::Tensor& rows, const at::Tensor& ids, uint64_t seed, const std::string& what) {
    const int64_t n = rows.size(0);
    const at::Tensor id_values = ids.contiguous();
    const int64_t* id_of = id_values.data_ptr<int64_t>();
    // The first centre: the sample vector with the smallest key. Keys are exact 53-bit
    // integers, gathered in the id slot, so the choice does not depend on the ranks.
    int64_t first_local = -1, first_key = 0;
    for (int64_t i = 0; i < n; ++i) {
      const auto key = static_cast<int64_t>(hash_uniform(draw_key(seed, Draw::FirstCentre), static_cast<uint64_t>(id_of[i])) * 0x1.0p53);
      if (first_local < 0 || key < first_key) first_local = i, first_key = key;
    }
    auto [firsts, first_keys] = comm::allgather_rows(
        comm_, (n > 0 ? rows[first_local].unsqueeze(0) : at::empty({0, d_}, at::kFloat)).to(comm_.device()),
        (n > 0 ? at::full({1}, first_key, at::kLong) : at::empty({0}, at::kLong)).to(comm_.device()));
    at::Tensor candidates = firsts.cpu().narrow(0, 0, 1);

    at::Tensor closest = n > 0 ? assign_vectors(rows, candidates, true).distances.to(at::kDouble).contiguous()
                               : at::empty({0}, at::kDouble);
    const double ell = p_.oversampling * static_cast<double>(k_);
    for (int round = 0; round < p_.init_rounds; ++round) {
      at::Tensor phi_t = at::tensor({closest.sum().item<double>()}, at::kDouble).to(comm_.device());
      comm_.allreduce(phi_t);
      const double phi = phi_t.cpu().item<double>();
      if (!(phi > 0)) break;
      std::vector<int64_t> picked;
      const uint64_t key = draw_key(seed, Draw::Round, static_cast<uint64_t>(round));
      const double* d2 = closest.data_ptr<double>();
      for (int64_t i = 0; i < n; ++i)
        if (hash_uniform(key, static_cast<uint64_t>(id_of[i])) < ell * d2[i] / phi) picked.push_back(i);
      const at::Tensor where = at::tensor(picked, at::kLong);
      auto [chosen, chosen_ids] = comm::allgather_rows(comm_, rows.index_select(0, where).to(comm_.device()),
                                              ids.index_select(0, where).to(comm_.device()));
      chosen = chosen.cpu();
      if (chosen.size(0) == 0) continue;
      candidates = at::cat({candidates, chosen});
      if (n > 0) closest = at::minimum(closest, assign_vectors(rows, chosen, true).distances.to(at::kDouble)).contiguous();
    }
    // Weight of each candidate: the sample vectors nearest to it.
    at::Tensor weights = at::zeros({candidates.size(0)}, at::kDouble);
    if (n > 0) weights += at::bincount(assign_vectors(rows, candidates).labels, {}, candidates.size(0)).to(at::kDouble);
    weights = weights.to(comm_.device());
    comm_.allreduce(weights);
    weights = weights.cpu();
    log::debug("k-means||: {} candidates from {} rounds", candidates.size(0), p_.init_rounds);
    return best_of_trials(candidates, weights, k_, seed, p_.init_trials, kCandidateLloydSteps, what);
  }

  FeatureSource& source_;
  const KMeansParameters& p_;
  comm::Communicator& comm_;
  const int64_t k_, d_, chunk_, vpi_;
  int64_t fixed_items_ = 0, fixed_chunks_ = 0, fixed_vectors_ = 0, minibatch_chunks_ = 0;
  std::vector<FeatureChunk> cache_;  // this rank's chunks of the fixed set, when they fit
  bool cache_complete_ = false;
  std::unique_ptr<ChunkSpill> spill_;  // this rank's chunks of the fixed set on scratch, when they do not fit in memory
};

}  // namespace

KMeansResult train_kmeans(FeatureSource& source, const KMeansParameters& parameters, comm::Communicator& comm,
                          const KMeansState* resume, const IterationHook& hook) {
  validate(parameters);
  Trainer trainer(source, parameters, comm);
  return trainer.run(resume, hook);
}

}  // namespace styleseg::cluster
