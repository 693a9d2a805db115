#include "stages/train.h"

#include <ATen/ATen.h>

#include <chrono>
#include <filesystem>
#include <optional>

#include "core/device.h"
#include "core/error.h"
#include "core/fault_injection.h"
#include "core/json_diff.h"
#include "core/log.h"
#include "core/stop_request.h"
#include "core/progress.h"
#include "core/seeding.h"
#include "core/sha256.h"
#include "dataset/reader.h"
#include "evaluate/metrics.h"
#include "io/image.h"
#include "io/output_policy.h"
#include "io/visualize.h"
#include "models/segmenter/model_file.h"
#include "models/segmenter/predict.h"
#include "mpi/communicator.h"
#include "train/augment.h"
#include "train/checkpoint.h"
#include "train/gradient_sync.h"
#include "train/metrics_log.h"
#include "train/optimizer.h"
#include "train/sync_batchnorm.h"

namespace fs = std::filesystem;

namespace styleseg::stages {

train::AugmentOptions training_augmentation() {
  train::AugmentOptions a;
  a.scale_min = 0.75;
  a.scale_max = 1.25;
  a.flip_probability = 0.5;
  a.brightness = a.contrast = a.saturation = 0.2;
  a.blur_probability = 0.2;
  a.blur_sigma = 1.5;
  a.noise = 0.02;
  return a;
}

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

void validate(const TrainOptions& o) {
  STYLESEG_CHECK(!o.data.empty(), ConfigError, "train: --data is required");
  STYLESEG_CHECK(!o.out.empty(), ConfigError, "train: --out is required");
  STYLESEG_CHECK(o.steps > 0, ConfigError, "train: --steps must be positive");
  STYLESEG_CHECK(o.batch > 0, ConfigError, "train: --batch must be positive");
  STYLESEG_CHECK(o.lr > 0, ConfigError, "train: --lr must be positive");
  STYLESEG_CHECK(o.lr_power >= 0, ConfigError, "train: --lr-power must be >= 0");
  const train::AugmentOptions& a = o.augment;
  STYLESEG_CHECK(a.crop >= 0, ConfigError, "train: --crop must be >= 0");
  STYLESEG_CHECK(a.scale_min > 0 && a.scale_min <= a.scale_max, ConfigError,
                 "train: --scale-min and --scale-max must satisfy 0 < min <= max");
  STYLESEG_CHECK(a.flip_probability >= 0 && a.flip_probability <= 1 && a.blur_probability >= 0 && a.blur_probability <= 1,
                 ConfigError, "train: --flip and --blur are probabilities in [0, 1]");
  STYLESEG_CHECK(a.brightness >= 0 && a.brightness < 1 && a.contrast >= 0 && a.contrast < 1 && a.saturation >= 0 &&
                     a.saturation < 1,
                 ConfigError, "train: --brightness, --contrast and --saturation must be in [0, 1)");
  STYLESEG_CHECK(a.blur_sigma > 0 && a.noise >= 0, ConfigError, "train: --blur-sigma must be positive and --noise >= 0");
  STYLESEG_CHECK(o.val_count >= 0 && o.val_every > 0 && o.checkpoint_every > 0, ConfigError,
                 "train: --val-count must be >= 0, --val-every and --checkpoint-every positive");
  STYLESEG_CHECK(o.time_limit >= 0, ConfigError, "train: --time-limit must be >= 0 seconds");
}

// OUT.SUFFIX beside OUT (its extension replaced), unless `given`.
std::string beside(const std::string& out, const std::string& given, const char* suffix) {
  if (!given.empty()) return given;
  fs::path path(out);
  path.replace_extension("");
  return path.string() + suffix;
}

// The options' augmentation with the flip pairs parsed and the dataset's ignore label.
train::AugmentOptions augment_options(const TrainOptions& o, int64_t ignore_label, int64_t classes) {
  train::AugmentOptions a = o.augment;
  a.flip_pairs = train::parse_flip_pairs(o.flip_pairs);
  for (const auto& [left, right] : a.flip_pairs)
    STYLESEG_CHECK(left < classes && right < classes, ConfigError,
                   "--flip-pairs '" + o.flip_pairs + "': class " + std::to_string(std::max(left, right)) +
                       " is not one of the dataset's " + std::to_string(classes) + " classes (0-" + std::to_string(classes - 1) + ")");
  a.ignore_label = ignore_label;
  return a;
}

// Runs in the loader's thread: checks the labels, then augments each sample with its own
// random stream keyed by (seed, step, sample index), whatever rank or batch position it has.
void augment_batch(dataset::Batch& batch, const train::AugmentOptions& a, uint64_t seed, int64_t step, int64_t classes,
                   const std::string& data) {
  const at::Tensor labels = batch.masks;
  const at::Tensor bad = (labels >= classes).logical_and(labels != a.ignore_label).logical_or(labels < 0);
  if (bad.any().item<bool>()) {
    const int64_t j = bad.flatten(1).any(1).nonzero()[0][0].item<int64_t>();
    throw InputError(data + ": sample " + std::to_string(batch.indices[j].item<int64_t>()) +
                     " has mask labels outside the " + std::to_string(classes) + " classes (and not the ignore label " +
                     std::to_string(a.ignore_label) + ")");
  }
  std::vector<at::Tensor> images, masks;
  for (int64_t j = 0; j < batch.images.size(0); ++j) {
    SampleRng rng(mix64(seed + mix64(static_cast<uint64_t>(step))), static_cast<uint64_t>(batch.indices[j].item<int64_t>()),
                  Stream::Augment);
    train::Augmented out = train::augment(batch.images[j], batch.masks[j], a, rng);
    images.push_back(out.image);
    masks.push_back(out.mask);
  }
  batch.images = at::stack(images);  // float [B, 3, S, S] in [0, 1]
  batch.masks = at::stack(masks);
}

// Cross-entropy summed over the pixels that are not ignored.
at::Tensor cross_entropy_sum(const at::Tensor& logits, const at::Tensor& labels, int64_t ignore_label) {
  // At least float32 (autocast's bfloat16 logits are widened; float64 reference runs stay).
  const at::Tensor wide = logits.scalar_type() == at::kDouble ? logits : logits.to(at::kFloat);
  return at::cross_entropy_loss(wide, labels, {}, at::Reduction::Sum, ignore_label);
}

std::vector<at::Tensor> buffers_and_parameters(const segmenter::Segmenter& net) {
  std::vector<at::Tensor> tensors;
  for (const auto& [name, tensor] : net.state()) tensors.push_back(tensor);
  return tensors;
}

// BatchNorm's running statistics follow each rank's own batches; like PyTorch DDP, rank 0's
// are the model's. Given to every rank before validation and at checkpoints, so that what
// is evaluated, saved and resumed is the same whatever happened on the other ranks.
void share_running_statistics(comm::Communicator& comm, const segmenter::Segmenter& net) {
  std::vector<at::Tensor> buffers;
  for (const auto& [name, tensor] : net.state())
    if (!tensor.requires_grad()) buffers.push_back(tensor);
  train::GradientSync::broadcast(comm, buffers);
}

struct Validation {
  double miou = 0, pixel_accuracy = 0;
  std::vector<double> iou;
};

// Collective: the model (in evaluation mode) on the held-out samples, rank r taking every
// size-th one; the confusion counts are summed over ranks.
Validation run_validation(segmenter::Segmenter& net, const segmenter::ModelInfo& info, const dataset::DatasetReader& reader,
                          const std::vector<int64_t>& held_out, comm::Communicator& comm, c10::Device device,
                          c10::ScalarType precision) {
  const int64_t classes = static_cast<int64_t>(info.classes.size());
  evaluate::Confusion confusion(classes, classes, info.ignore_label);
  std::vector<int64_t> mine;
  for (size_t i = static_cast<size_t>(comm.rank()); i < held_out.size(); i += static_cast<size_t>(comm.size()))
    mine.push_back(held_out[i]);
  net.train(false);
  constexpr size_t kBatch = 16;
  for (size_t start = 0; start < mine.size(); start += kBatch) {
    const dataset::Batch batch =
        reader.read(std::vector<int64_t>(mine.begin() + static_cast<long>(start), mine.begin() + static_cast<long>(std::min(mine.size(), start + kBatch))));
    const std::vector<at::Tensor> labels = segmenter::predict_labels(net, info, batch.images.unbind(0), device, precision);
    for (size_t j = 0; j < labels.size(); ++j) confusion.add(labels[j], batch.masks[static_cast<int64_t>(j)]);
  }
  net.train(true);
  at::Tensor counts = confusion.counts().to(comm.device()).contiguous();
  comm.allreduce(counts);
  const evaluate::Scores scores = evaluate::score(counts.to(at::kCPU), evaluate::identity_mapping(classes, classes));
  return {scores.mean_iou, scores.pixel_accuracy, scores.iou};
}

// SHA-256 over every tensor's name and bytes, in state order: equal weights, equal digest.
std::string weights_digest(const segmenter::Segmenter& net) {
  Sha256 hash;
  for (const auto& [name, tensor] : net.state()) {
    const at::Tensor t = tensor.detach().to(at::kCPU).contiguous();
    hash.update(name.data(), name.size());
    hash.update(t.data_ptr(), static_cast<size_t>(t.numel() * t.element_size()));
  }
  return Sha256::to_hex(hash.finish());
}

void write_curves(const std::string& metrics_path, const std::string& png) {
  Curve loss{"training loss", {}, {}, {31, 119, 180}}, miou{"validation mIoU", {}, {}, {214, 39, 40}};
  for (const auto& record : train::MetricsLog::read(metrics_path)) {
    if (record.contains("loss")) loss.x.push_back(record["step"].get<double>()), loss.y.push_back(record["loss"].get<double>());
    if (record.contains("val_miou") && record["val_miou"].is_number())
      miou.x.push_back(record["step"].get<double>()), miou.y.push_back(record["val_miou"].get<double>());
  }
  write_png(png, plot_curves({running_mean(loss, "training loss (running mean)"), miou}));
}

// What train reads and writes, for the output policy. The checkpoint is what --resume
// continues; it stays after the last step, so --resume of a finished run re-exports the same model.
OutputPlan output_plan(const TrainOptions& o, const std::string& checkpoint, const std::string& metrics, const std::string& curves) {
  return OutputPlan("train")
      .input("--data", o.data)
      .input("--init", o.init)
      .output("--out", o.out)
      .output("--metrics", metrics)
      .output("--curves", curves)
      .partial(checkpoint);
}

// A fresh run that fails before its first checkpoint leaves no metrics file: it would hold
// nothing usable and only block the next run (an existing output).
class DiscardOnFailure {
 public:
  explicit DiscardOnFailure(std::string path) : path_(std::move(path)) {}
  ~DiscardOnFailure() {
    std::error_code ignored;
    if (!kept_ && !path_.empty()) fs::remove(path_, ignored);
  }
  void keep() { kept_ = true; }

 private:
  std::string path_;
  bool kept_ = false;
};


// ---- the steps of train -----------------------------------------------------------------------

// The dataset's samples: the held-out slice at the end, the training pool, and how a global
// batch splits over the ranks.
struct DataSplit {
  std::vector<int64_t> pool, held_out;
  int64_t per_rank = 0, steps_per_epoch = 0;
};

DataSplit split_data(const TrainOptions& o, const dataset::DatasetReader& reader, int ranks) {
  DataSplit split;
  split.pool = reader.available();
  const int64_t held = std::min<int64_t>(o.val_count, static_cast<int64_t>(split.pool.size()) / 2);
  if (held < o.val_count)
    log::warn("--val-count {}: only {} of the {} samples are held out (half at most)", o.val_count, held, split.pool.size());
  split.held_out.assign(split.pool.end() - held, split.pool.end());
  split.pool.resize(split.pool.size() - static_cast<size_t>(held));
  STYLESEG_CHECK(o.batch % ranks == 0, ConfigError,
                 "train: --batch " + std::to_string(o.batch) + " must be divisible by the number of ranks (" +
                     std::to_string(ranks) + "): the global batch is split evenly");
  STYLESEG_CHECK(static_cast<int64_t>(split.pool.size()) >= o.batch, ConfigError,
                 "train: --batch " + std::to_string(o.batch) + " is larger than the " + std::to_string(split.pool.size()) +
                     " training samples of " + o.data);
  split.per_rank = o.batch / ranks;
  split.steps_per_epoch = static_cast<int64_t>(split.pool.size()) / o.batch;
  return split;
}

segmenter::ModelInfo model_info_of(const dataset::DatasetHeader& header) {
  segmenter::ModelInfo info;
  info.classes = header.classes;
  info.palette = header.palette;
  info.input_height = header.height;
  info.input_width = header.width;
  info.ignore_label = header.ignore_label;
  return info;
}

// What a checkpoint must have been made with to be continued.
std::string identity_of(const TrainOptions& o, const nlohmann::json& provenance, const dataset::DatasetHeader& header) {
  nlohmann::json identity{{"options", provenance}, {"batch", o.batch}, {"classes", header.classes},
                          {"samples", header.count}, {"height", header.height}, {"width", header.width}};
  if (header.attributes.contains("identity")) identity["dataset_identity"] = header.attributes["identity"];
  return identity.dump();
}

// The batches of this rank's share of `epoch`, from step `position` of it on, augmented; the
// incomplete last batch is dropped, so every rank's every batch has per_rank samples.
std::unique_ptr<dataset::BatchLoader> epoch_loader(const TrainOptions& o, const dataset::DatasetReader& reader,
                                                   const DataSplit& split, const train::AugmentOptions& augmentation,
                                                   int64_t classes, int64_t epoch, int64_t step, comm::Communicator& comm) {
  const int64_t position = step % split.steps_per_epoch;
  std::vector<int64_t> order = dataset::shard_epoch(split.pool, epoch, o.seed, comm.rank(), comm.size());
  order = std::vector<int64_t>(order.begin() + position * split.per_rank, order.begin() + split.steps_per_epoch * split.per_rank);
  return std::make_unique<dataset::BatchLoader>(
      reader, std::move(order), split.per_rank, 2, [&o, &augmentation, classes, first = step](dataset::Batch& batch, int64_t number) {
        augment_batch(batch, augmentation, o.seed, first + number, classes, o.data);
      });
}

// One optimisation step on this rank's batch; returns its share of the loss (the mean over
// every labelled pixel of the global batch).
at::Tensor optimise_step(segmenter::Segmenter& net, train::Optimizer& optimizer, train::GradientSync& sync,
                         const dataset::Batch& batch, const segmenter::ModelInfo& info, const TrainingPrecision& precision,
                         c10::Device device, double lr, comm::Communicator& comm) {
  const at::Tensor images = segmenter::normalise(batch.images.to(device, precision.weights), info.mean, info.std);
  const at::Tensor labels = batch.masks.to(device);
  // Crops padded with the ignore label leave ranks with different counts: rank r's share is
  // its sum over the global count, times the ranks, since gradients are averaged.
  const int64_t labelled =
      std::max<int64_t>(1, comm::allreduce_sum(comm, (batch.masks != info.ignore_label).sum().item<int64_t>()));
  optimizer.zero_grad();
  at::Tensor loss;
  {
    AutocastScope autocast(device, precision.autocast);
    loss = cross_entropy_sum(net.forward(images), labels, info.ignore_label) / static_cast<double>(labelled);
  }
  (loss * static_cast<double>(comm.size())).backward();
  sync.average(comm);
  optimizer.step(lr);
  return loss;
}

// Rank 0: the model file (rank 0's weights are every rank's) with its provenance, and the curves.
void export_model(const TrainOptions& o, const nlohmann::json& provenance, const dataset::DatasetHeader& header,
                  segmenter::Segmenter& net, segmenter::ModelInfo info, const TrainSummary& summary, int ranks,
                  const TrainFiles& files) {
  info.provenance = {{"dataset", o.data}, {"dataset_samples", header.count}, {"options", provenance},
                     {"batch", o.batch}, {"ranks", ranks}, {"steps", o.steps}, {"final_loss", summary.final_loss},
                     {"weights_sha256", weights_digest(net)}, {"styleseg_version", STYLESEG_VERSION}};
  if (summary.val_miou >= 0) info.provenance["val_miou"] = summary.val_miou;
  segmenter::save_model(o.out, net, info);
  write_curves(files.metrics, files.curves);
  log::info("wrote the model {} (weights SHA-256 {}), metrics {} and curves {}", o.out,
            info.provenance["weights_sha256"].get<std::string>().substr(0, 16), files.metrics, files.curves);
}

}  // namespace

TrainFiles train_files(const std::string& out) {
  return {beside(out, "", ".checkpoint.pt"), beside(out, "", ".metrics.jsonl"), beside(out, "", ".curves.png")};
}

TrainFiles train_files(const TrainOptions& o) {
  return {beside(o.out, o.checkpoint, ".checkpoint.pt"), beside(o.out, o.metrics, ".metrics.jsonl"),
          beside(o.out, o.curves, ".curves.png")};
}

TrainSummary train(const TrainOptions& o, comm::Communicator& comm, const nlohmann::json& provenance) {
  validate(o);
  const auto start_time = Clock::now();
  const StopCheck stop_check(o.time_limit, comm.rank());
  const TrainFiles files = train_files(o);
  const std::string& checkpoint_path = files.checkpoint;
  const OutputStart start = output_plan(o, files.checkpoint, files.metrics, files.curves).decide({o.resume, o.force}, comm);
  STYLESEG_CHECK(start != OutputStart::Complete, ConfigError,
                 "train: --resume: " + o.out + " is complete and its checkpoint " + checkpoint_path +
                     " is gone, so nothing says which job made it; --force trains afresh");
  const c10::Device device = resolve_device(o.device, comm.local_rank());
  const TrainingPrecision precision = parse_training_precision(o.precision);

  // ---- data: the held-out slice, the training pool, the batch split ----
  const dataset::DatasetReader reader(o.data);
  const dataset::DatasetHeader& header = reader.header();
  const int64_t classes = static_cast<int64_t>(header.classes.size());
  const DataSplit split = split_data(o, reader, comm.size());
  const train::AugmentOptions augmentation = augment_options(o, header.ignore_label, classes);
  const segmenter::ModelInfo info = model_info_of(header);
  const std::string identity = identity_of(o, provenance, header);

  // ---- the model and optimiser, fresh or from the checkpoint; identical on every rank ----
  at::manual_seed(o.seed);
  segmenter::Segmenter net(classes);
  if (!o.init.empty() && start == OutputStart::Fresh) net.load_torchvision(o.init);
  net.to(device);
  net.to(precision.weights);
  net.train(true);
  train::Optimizer optimizer(net.parameters(), {o.optimizer, o.weight_decay, 0.9, 0.999, 1e-8, o.momentum});
  int64_t step = 0;
  if (start == OutputStart::Resume) {
    const train::TrainingState state = train::load_checkpoint(checkpoint_path);
    require_same_job(checkpoint_path, identity, state.identity);
    net.load_state(state.model, /*backbone_only=*/false, checkpoint_path);
    optimizer.load_state(state.optimizer, checkpoint_path);
    step = state.step;
    log::info("resuming from {} at step {} of {}", checkpoint_path, step, o.steps);
  }
  train::GradientSync::broadcast(comm, buffers_and_parameters(net));
  if (o.sync_bn && comm.size() > 1)
    net.set_batch_norm_override([&comm](const at::Tensor& x, const segmenter::BatchNormLayer& l) {
      return train::sync_batch_norm(x, l.weight, l.bias, l.running_mean, l.running_var, l.momentum, l.eps, comm);
    });
  train::GradientSync sync(net.parameters());
  std::optional<train::MetricsLog> metrics;
  if (comm.rank() == 0) metrics.emplace(files.metrics, start == OutputStart::Resume ? step : -1);
  DiscardOnFailure fresh_metrics(comm.rank() == 0 && start == OutputStart::Fresh ? files.metrics : "");
  log::info("training on {} ({} ranks, {} per rank, global batch {}): {} training and {} held-out samples of {} ({}x{}, "
            "{} classes), {} steps ({:.1f} epochs), {} lr {}", device.str(), comm.size(), split.per_rank, o.batch,
            split.pool.size(), split.held_out.size(), o.data, header.width, header.height, classes, o.steps,
            static_cast<double>(o.steps) / static_cast<double>(split.steps_per_epoch), name_of(o.optimizer), o.lr);

  auto checkpoint = [&] {
    share_running_statistics(comm, net);
    if (comm.rank() == 0) {
      train::TrainingState state{step, identity, net.state(), optimizer.state(), o.seed};
      train::save_checkpoint(checkpoint_path, state);
      fresh_metrics.keep();
    }
    comm.barrier();
  };
  auto validate_now = [&](TrainSummary& summary) {
    share_running_statistics(comm, net);
    const Validation v = run_validation(net, info, reader, split.held_out, comm, device, precision.autocast);
    summary.val_miou = v.miou;
    if (metrics) metrics->append({{"step", step}, {"val_miou", v.miou}, {"val_pixel_accuracy", v.pixel_accuracy}, {"val_iou", v.iou}});
    log::info("step {}: validation mIoU {:.4f}, pixel accuracy {:.4f} on {} held-out samples", step, v.miou,
              v.pixel_accuracy, split.held_out.size());
  };

  // ---- the steps ----
  TrainSummary summary;
  Progress progress("train", o.steps, comm.rank() == 0, "steps");
  progress.advance(step);
  std::unique_ptr<dataset::BatchLoader> loader;
  int64_t loader_epoch = -1;
  const int64_t log_every = std::max<int64_t>(1, o.steps / 20);
  bool stopped = false;
  while (step < o.steps) {
    const int64_t epoch = step / split.steps_per_epoch;
    if (!loader || epoch != loader_epoch) {
      loader.reset();  // one reading thread at a time
      loader = epoch_loader(o, reader, split, augmentation, classes, epoch, step, comm);
      loader_epoch = epoch;
    }
    const auto step_start = Clock::now();
    const std::optional<dataset::Batch> batch = loader->next();
    STYLESEG_ASSERT(batch.has_value(), "train: the data loader ended early (step " + std::to_string(step) + ")");
    const double lr = train::poly_learning_rate(o.lr, step, o.steps, o.lr_power);
    const at::Tensor loss = optimise_step(net, optimizer, sync, *batch, info, precision, device, lr, comm);
    ++step;

    // One collective for the log and the stop decision: [loss, votes to stop].
    at::Tensor shared = at::stack({loss.detach().to(at::kCPU, at::kDouble), at::scalar_tensor(stop_check.due() ? 1.0 : 0.0, at::kDouble)})
                            .to(comm.device());
    comm.allreduce(shared);
    const at::Tensor host = shared.to(at::kCPU);
    summary.final_loss = host[0].item<double>();
    stopped = host[1].item<double>() > 0 && step < o.steps;
    if (metrics)
      metrics->append({{"step", step}, {"epoch", epoch}, {"loss", summary.final_loss}, {"lr", lr},
                       {"images_per_second", static_cast<double>(o.batch) / seconds_since(step_start)},
                       {"seconds", seconds_since(start_time)}});
    progress.advance(1);
    if (step % log_every == 0) log::info("step {}/{}: loss {:.4f}, lr {:.3g}", step, o.steps, summary.final_loss, lr);
    fault_injection_point("train-step", comm.rank(), step);

    if (step == o.steps || stopped || step % o.checkpoint_every == 0) checkpoint();
    if (!split.held_out.empty() && (step == o.steps || step % o.val_every == 0)) validate_now(summary);
    if (stopped) break;
  }
  loader.reset();
  summary.steps_done = step;
  summary.seconds = seconds_since(start_time);
  if (stopped) {
    summary.complete = false;
    log::warn("stopped {} after step {} of {}; run again with --resume to continue from {}", stop_check.reason(), step,
              o.steps, checkpoint_path);
    return summary;
  }
  progress.finish();

  // ---- the exported model (rank 0's weights are every rank's) ----
  share_running_statistics(comm, net);
  if (comm.rank() == 0) export_model(o, provenance, header, net, info, summary, comm.size(), files);
  comm.barrier();
  return summary;
}

}  // namespace styleseg::stages
