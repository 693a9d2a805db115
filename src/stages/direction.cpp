#include "stages/direction.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer includes it in LibTorch 2.x

#include <chrono>
#include <cmath>

#include "core/device.h"
#include "core/error.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/sha256.h"
#include "directions/linear_fit.h"
#include "io/output_policy.h"
#include "io/image.h"
#include "io/visualize.h"
#include "mpi/communicator.h"

namespace styleseg::stages {
namespace {

void validate(const DirectionOptions& o) {
  validate(o.sampling, "direction");
  STYLESEG_CHECK(o.sampling.direction.empty(), ConfigError,
                 "direction: --direction is what this command finds; it does not sample along one");
  STYLESEG_CHECK(!o.out.empty(), ConfigError, "direction: --out is required");
  STYLESEG_CHECK(o.samples > 0 && o.batch > 0 && o.sweep_samples > 0, ConfigError,
                 "direction: --samples, --batch and --sweep-samples must be positive");
  STYLESEG_CHECK(o.tail > 0 && o.tail <= 0.5, ConfigError, "direction: --tail must be in (0, 0.5]");
  STYLESEG_CHECK(o.target_rate > 0 && o.target_rate <= 1, ConfigError, "direction: --target-rate must be in (0, 1]");
  STYLESEG_CHECK(o.steps > 0 && o.lr > 0 && o.length_penalty >= 0, ConfigError,
                 "direction: --steps and --lr must be positive, --length-penalty >= 0");
  STYLESEG_CHECK(o.preview_count > 0, ConfigError, "direction: --preview-count must be positive");
}

// Samples [first, first + count) split into batches, batch j on rank j mod size, a round
// at a time; `body(start, n)` runs for this rank's batches (n = 0 when it has none in a
// round, so collectives inside stay matched).
template <typename Body>
void for_my_batches(int64_t first, int64_t count, int64_t batch, comm::Communicator& comm, Body body) {
  const int64_t batches = (count + batch - 1) / batch;
  const int64_t rounds = (batches + comm.size() - 1) / comm.size();
  for (int64_t round = 0; round < rounds; ++round) {
    const int64_t j = round * comm.size() + comm.rank();
    const int64_t n = j < batches ? std::min(batch, count - j * batch) : 0;
    body(first + j * batch, n);
  }
}

directions::ScoredBatch scored(const sampling::SampleBatch& b) { return {b.raw, b.images, b.ws}; }

// Scores of samples [first, first + count) with the sampler's current shift: [count] float64,
// the same on every rank (each rank fills its batches' rows, then a sum).
at::Tensor score_samples(const sampling::Sampler& sampler, directions::Scorer& scorer, int64_t first, int64_t count, int64_t batch,
                         comm::Communicator& comm, at::Tensor* w_rows, Progress* progress) {
  const int64_t w_dim = sampler.generator().architecture().w_dim;
  at::Tensor table = at::zeros({count, w_dim + 1}, at::kDouble);
  for_my_batches(first, count, batch, comm, [&](int64_t start, int64_t n) {
    if (n > 0) {
      const sampling::SampleBatch b = sampler.make(start, n, /*resize_features=*/false);
      const at::Tensor s = scorer.score(scored(b)).detach().to(at::kCPU, at::kDouble);
      STYLESEG_CHECK(s.dim() == 1 && s.size(0) == n && at::isfinite(s).all().item<bool>(), Error,
                     "direction: the scorer gave " + std::to_string(s.numel()) + " scores (non-finite ones?) for " +
                         std::to_string(n) + " samples");
      table.narrow(0, start - first, n).narrow(1, 0, w_dim).copy_(b.ws.select(1, 0).to(at::kDouble));
      table.narrow(0, start - first, n).select(1, w_dim).copy_(s);
    }
    if (progress) progress->advance(allreduce_sum(comm, n));
  });
  at::Tensor reduced = table.to(comm.device());
  comm.allreduce(reduced);
  reduced = reduced.cpu();
  if (w_rows) *w_rows = reduced.narrow(1, 0, w_dim).contiguous();
  return reduced.select(1, w_dim).contiguous();
}

// The InterFaceGAN route: score, fit on rank 0, broadcast.
directions::LatentDirection fit_linear(const DirectionOptions& o, const sampling::Sampler& sampler, directions::Scorer& scorer,
                                       comm::Communicator& comm) {
  Progress progress("direction: scoring", o.samples, comm.rank() == 0);
  at::Tensor latents;
  const at::Tensor scores = score_samples(sampler, scorer, 0, o.samples, o.batch, comm, &latents, &progress);
  progress.finish();
  const int64_t w_dim = latents.size(1);
  // Packed for the broadcast: direction, then the fit's numbers.
  at::Tensor packed = at::zeros({w_dim + 7}, at::kDouble);
  if (comm.rank() == 0) {
    const directions::LinearFit fit = directions::fit_linear_direction(latents, scores, {o.method, o.tail, o.l2, o.iterations});
    packed.narrow(0, 0, w_dim).copy_(fit.direction);
    const double numbers[7] = {fit.positive_threshold, fit.negative_threshold, fit.train_accuracy, fit.heldout_accuracy,
                               fit.projection_std, static_cast<double>(fit.heldout), fit.latent_std};
    for (int i = 0; i < 7; ++i) packed[w_dim + i] = numbers[i];
  }
  // (A fit that fails throws on rank 0; the CLI's guard then ends every rank: no hang.)
  packed = packed.to(comm.device());
  comm.broadcast(packed, 0);
  packed = packed.cpu();
  directions::LatentDirection d;
  d.direction = packed.narrow(0, 0, w_dim).to(at::kFloat);
  d.positive_threshold = packed[w_dim].item<double>();
  d.train_accuracy = packed[w_dim + 2].item<double>();
  d.heldout_accuracy = packed[w_dim + 3].item<double>();
  d.projection_std = packed[w_dim + 4].item<double>();
  d.latent_std = packed[w_dim + 6].item<double>();
  log::info("fitted a {} on the top and bottom {:.0f}% of {} samples: accuracy {:.3f} on the training tails, {:.3f} on "
            "{:.0f} held-out samples; scores above {:.4g} count as positive",
            name_of(o.method), 100 * o.tail, o.samples, d.train_accuracy, d.heldout_accuracy, packed[w_dim + 5].item<double>(),
            d.positive_threshold);
  return d;
}

// The global direction: G raised through the generator and a differentiable scorer.
directions::LatentDirection optimize(const DirectionOptions& o, const sampling::Sampler& sampler, directions::Scorer& scorer,
                                     comm::Communicator& comm) {
  STYLESEG_CHECK(scorer.differentiable(), ConfigError,
                 "direction: --method optimize needs a differentiable scorer (clip); use svm or logistic with this one");
  const stylegan2::Generator& g = sampler.generator();
  const int64_t w_dim = g.architecture().w_dim;
  at::Tensor shift = at::zeros({w_dim}, at::TensorOptions(sampler.device()).dtype(at::kFloat)).requires_grad_(true);
  at::Tensor m = at::zeros({w_dim}, at::kFloat), v = at::zeros({w_dim}, at::kFloat);
  Progress progress("direction: optimising", o.steps, comm.rank() == 0, "steps");
  double last_score = 0;
  for (int step = 1; step <= o.steps; ++step) {
    // This step's samples, split over the ranks: a share of the batch each.
    const int64_t first = static_cast<int64_t>(step - 1) * o.batch;
    const int64_t begin = first + o.batch * comm.rank() / comm.size(), end = first + o.batch * (comm.rank() + 1) / comm.size();
    at::Tensor grad = at::zeros({w_dim + 1}, at::kDouble);
    if (end > begin) {
      const at::Tensor ws = sampler.latents(begin, end - begin).detach();
      shift.mutable_grad() = at::Tensor();
      const at::Tensor images = g.synthesize(ws + shift.to(ws.scalar_type()), sampler.noise(sampler.options().noise, begin, end - begin)).image;
      const at::Tensor s = scorer.score({images, {}, ws}).to(at::kFloat);
      // Sum over this rank's share; the mean over the whole batch comes after the allreduce.
      (-s.sum() / static_cast<double>(o.batch)).backward();
      grad.narrow(0, 0, w_dim).copy_(shift.grad().to(at::kCPU, at::kDouble));
      grad[w_dim] = s.detach().sum().item<double>();
    }
    grad = grad.to(comm.device());
    comm.allreduce(grad);
    grad = grad.cpu();
    last_score = grad[w_dim].item<double>() / static_cast<double>(o.batch);
    at::NoGradGuard no_grad;
    const at::Tensor total = grad.narrow(0, 0, w_dim).to(at::kFloat) + 2 * o.length_penalty * shift.detach().cpu();
    // Adam, identical on every rank (same gradient, same state).
    m.mul_(0.9).add_(total, 0.1);
    v.mul_(0.999).addcmul_(total, total, 0.001);
    const at::Tensor update = o.lr * (m / (1 - std::pow(0.9, step))) / ((v / (1 - std::pow(0.999, step))).sqrt() + 1e-8);
    shift.sub_(update.to(shift.device()));
    progress.advance(1);
  }
  progress.finish();
  const at::Tensor found = shift.detach().cpu();
  const double length = found.norm().item<double>();
  STYLESEG_CHECK(length > 0, Error, "direction: the optimisation left the direction at zero");
  log::info("optimised a global direction over {} steps of {} samples: |G| = {:.4g}, mean score {:.4g} at the last step",
            o.steps, o.batch, length, last_score);
  directions::LatentDirection d;
  d.direction = found / length;
  d.suggested_alpha = length;
  return d;
}

}  // namespace

directions::LatentDirection find_direction(const DirectionOptions& o, directions::Scorer& scorer, comm::Communicator& comm,
                                           const nlohmann::json& provenance) {
  validate(o);
  const auto start_time = std::chrono::steady_clock::now();
  OutputPlan("direction")
      .input("--checkpoint", o.sampling.checkpoint)
      .input("--clip", o.scorer.clip)
      .input("--vocab", o.scorer.vocab)
      .input("--model", o.scorer.model)
      .output("--out", o.out)
      .output("--preview", o.preview)
      .decide({false, o.force}, comm);
  sampling::SamplerOptions sampling = o.sampling;
  sampling.feature_layer.clear();  // images only
  sampling::Sampler sampler(sampling, comm.local_rank());

  const bool through_generator = o.method == directions::DirectionMethod::Optimize;
  directions::LatentDirection d = through_generator ? optimize(o, sampler, scorer, comm) : fit_linear(o, sampler, scorer, comm);
  d.method = name_of(o.method);
  d.scorer = scorer.describe();

  // The sweep on samples the fit never saw: those after the fitting ones.
  const int64_t fitting_samples = through_generator ? static_cast<int64_t>(o.steps) * o.batch : o.samples;
  at::Tensor unshifted_w;
  const at::Tensor unshifted = score_samples(sampler, scorer, fitting_samples, o.sweep_samples, o.batch, comm, &unshifted_w, nullptr);
  if (through_generator) {
    // No fit to set the positive cut: the top tail of the unshifted sweep samples.
    const at::Tensor sorted = std::get<0>(unshifted.sort());
    const auto cut = std::min<int64_t>(o.sweep_samples - 1, static_cast<int64_t>(std::floor((1 - o.tail) * o.sweep_samples)));
    d.positive_threshold = sorted[cut].item<double>();
    d.projection_std = at::matmul(unshifted_w, d.direction.to(at::kDouble)).std().item<double>();
    d.latent_std = unshifted_w.std(0).pow(2).mean().sqrt().item<double>();
  }
  const at::Tensor per_layer = d.per_layer(sampler.generator().architecture().num_ws());
  std::vector<double> alphas = o.alphas;
  if (alphas.empty()) {
    const double unit = through_generator ? d.suggested_alpha : d.latent_std;
    for (double k : {0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0}) alphas.push_back(k * unit);
  }
  Progress progress("direction: sweep", static_cast<int64_t>(alphas.size()), comm.rank() == 0, "alphas");
  double best_rate = -1, best_alpha = 0, reached = NAN;
  for (double alpha : alphas) {
    sampler.set_shift(per_layer, alpha);
    const at::Tensor s = alpha == 0 ? unshifted : score_samples(sampler, scorer, fitting_samples, o.sweep_samples, o.batch, comm, nullptr, nullptr);
    const double rate = (s >= d.positive_threshold).to(at::kDouble).mean().item<double>();
    d.sweep_alpha.push_back(alpha);
    d.sweep_rate.push_back(rate);
    d.sweep_score.push_back(s.mean().item<double>());
    if (rate > best_rate) best_rate = rate, best_alpha = alpha;
    if (std::isnan(reached) && rate >= o.target_rate) reached = alpha;
    progress.advance(1);
  }
  progress.finish();
  d.suggested_alpha = std::isnan(reached) ? best_alpha : reached;
  if (std::isnan(reached) && comm.rank() == 0)
    log::warn("no alpha reached the target rate {:.2f} (best {:.2f} at alpha {:.4g}); suggesting that one", o.target_rate,
              best_rate, best_alpha);
  std::string table;
  for (size_t i = 0; i < d.sweep_alpha.size(); ++i)
    table += fmt::format("  alpha {:8.4g}: {:5.1f}% positive, mean score {:.4g}\n", d.sweep_alpha[i], 100 * d.sweep_rate[i],
                         d.sweep_score[i]);
  log::info("attribute rate along the direction ({} samples each):\n{}suggested alpha: {:.4g}", o.sweep_samples, table,
            d.suggested_alpha);

  d.source = {{"checkpoint", o.sampling.checkpoint},
              {"checkpoint_sha256", comm::decide_on_root(comm, [&] { return sha256_file(o.sampling.checkpoint); })},
              {"generator", sampler.describe()}, {"seed", o.sampling.seed}, {"truncation", o.sampling.truncation},
              {"noise", name_of(o.sampling.noise)}, {"samples", fitting_samples},
              {"sweep_samples", o.sweep_samples}, {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count()}};
  d.options = provenance;
  if (comm.rank() == 0) {
    directions::write_direction(o.out, d);
    log::info("wrote the direction to {}", o.out);
    if (!o.preview.empty()) {
      // Rows: the same samples at alpha 0, alpha / 2 and alpha; then the sweep's curves.
      std::vector<at::Tensor> parts;
      for (double alpha : {0.0, d.suggested_alpha / 2, d.suggested_alpha}) {
        sampler.set_shift(per_layer, alpha);
        at::Tensor images = sampler.make(fitting_samples, o.preview_count, false).images;
        const int64_t enlarge = (128 + images.size(1) - 1) / images.size(1);  // small samples shown at >= 128 px
        if (enlarge > 1) images = images.repeat_interleave(enlarge, 1).repeat_interleave(enlarge, 2);
        at::Tensor row = make_grid(images, o.preview_count, 2, 255);
        draw_text(row, fmt::format("alpha {:.3g}", alpha), 4, 4, 1, {255, 255, 0});
        parts.push_back(row);
      }
      Curve rate{"% of samples the scorer calls positive, by alpha", d.sweep_alpha, d.sweep_rate};
      for (double& r : rate.y) r *= 100;
      Curve score{"mean score, by alpha", d.sweep_alpha, d.sweep_score, {214, 39, 40}};
      parts.push_back(plot_curves({rate, score}, std::max<int64_t>(parts.front().size(1), 640)));
      write_png(o.preview, stack_vertically(parts));
      log::info("preview: {}", o.preview);
    }
  }
  comm.barrier();
  return d;
}

directions::LatentDirection find_direction(const DirectionOptions& o, comm::Communicator& comm, const nlohmann::json& provenance) {
  const std::unique_ptr<directions::Scorer> scorer =
      directions::make_scorer(o.scorer, resolve_device(o.sampling.device, comm.local_rank()));
  return find_direction(o, *scorer, comm, provenance);
}

}  // namespace styleseg::stages
