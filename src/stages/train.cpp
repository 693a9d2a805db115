#include "stages/train.h"

#include <ATen/ATen.h>

#include <chrono>
#include <filesystem>
#include <optional>

#include "core/device.h"
#include "core/error.h"
#include "core/fault_injection.h"
#include "core/json_diff.h"
#include "core/phase_times.h"
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
                         c10::Device device, double lr, bool overlap_gradients, comm::Communicator& comm,
                         PhaseTimes& phases) {
  const at::Tensor images = segmenter::normalise(batch.images.to(device, precision.weights), info.mean, info.std);
  const at::Tensor labels = batch.masks.to(device);
  // Crops padded with the ignore label leave ranks with different counts: rank r's share is
  // its sum over the global count, times the ranks, since gradients are averaged.
  const int64_t labelled =
      std::max<int64_t>(1, comm::allreduce_sum(comm, (batch.masks != info.ignore_label).sum().item<int64_t>()));
  phases.mark("labelled-pixel count (a collective: waits for the slowest rank)");
  optimizer.zero_grad();
  at::Tensor loss;
  {
    AutocastScope autocast(device, precision.autocast);
    loss = cross_entropy_sum(net.forward(images), labels, info.ignore_label) / static_cast<double>(labelled);
  }
  // Bucket by bucket during the backward pass where the hooks run on this thread (the CPU).
  if (overlap_gradients && device.is_cpu()) sync.overlap_next_backward(comm);
  (loss * static_cast<double>(comm.size())).backward();
  phases.mark("forward and backward");
  sync.average(comm);
  phases.mark("gradient averaging");
  optimizer.step(lr);
  phases.mark("optimiser");
  return loss;
}

// Rank 0: the model file (rank 0's weights are every rank's) with its provenance, and the curves.
void write_model(const TrainOptions& o, const nlohmann::json& provenance, const dataset::DatasetHeader& header,
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

// What a run trains on: the dataset's header, the split, the augmentation and the model's
// description, with the identity a checkpoint must carry to be continued.
struct TrainingData {
  TrainingData(const TrainOptions& o, const nlohmann::json& provenance, const dataset::DatasetReader& dataset, int ranks)
      : reader(dataset),
        header(dataset.header()),
        classes(static_cast<int64_t>(header.classes.size())),
        split(split_data(o, dataset, ranks)),
        augmentation(augment_options(o, header.ignore_label, classes)),
        info(model_info_of(header)),
        identity(identity_of(o, provenance, header)) {}
  const dataset::DatasetReader& reader;
  const dataset::DatasetHeader& header;
  const int64_t classes;
  const DataSplit split;
  const train::AugmentOptions augmentation;
  const segmenter::ModelInfo info;
  const std::string identity;
};

// One run: the model, its optimiser and metrics, and the steps (seeded poly-decay SGD or Adam
// on augmented batches, gradients averaged over the ranks, checkpoints and validation).
class SegmenterTrainer {
 public:
  SegmenterTrainer(const TrainOptions& o, const TrainingData& data, OutputStart start, c10::Device device,
                   TrainingPrecision precision, const TrainFiles& files, Clock::time_point start_time,
                   const StopCheck& stop_check, comm::Communicator& comm);
  // Trains to --steps or until stopped (--time-limit, SIGUSR1): `complete` says which.
  TrainSummary run();
  // Collective: rank 0 writes the model (rank 0's weights are every rank's) and the curves.
  void export_model(const nlohmann::json& provenance);

 private:
  // Seeded, with --init's backbone when fresh, on the device (a resume loads over it).
  segmenter::Segmenter fresh_model();
  // The batches of the epoch `step` is in (a new loader when the epoch changes).
  dataset::BatchLoader& loader_at(int64_t step);
  // One collective for the loss and the stop decision; logs the step. Returns true to stop.
  bool end_step(const at::Tensor& loss, double lr, Clock::time_point step_start);
  void checkpoint();    // collective
  void validate_now();  // collective

  const TrainOptions& o_;
  const TrainingData& data_;
  const OutputStart start_;
  const c10::Device device_;
  const TrainingPrecision precision_;
  const TrainFiles& files_;
  const Clock::time_point start_time_;
  const StopCheck& stop_check_;
  comm::Communicator& comm_;
  int64_t step_ = 0;
  segmenter::Segmenter net_;
  train::Optimizer optimizer_;
  std::optional<train::GradientSync> sync_;  // after the weights are shared
  std::optional<train::MetricsLog> metrics_;  // rank 0
  DiscardOnFailure fresh_metrics_;            // a fresh metrics file goes with a run that fails before its first checkpoint
  std::unique_ptr<dataset::BatchLoader> loader_;
  int64_t loader_epoch_ = -1;
  TrainSummary summary_;
};

SegmenterTrainer::SegmenterTrainer(const TrainOptions& o, const TrainingData& data, OutputStart start, c10::Device device,
                                   TrainingPrecision precision, const TrainFiles& files, Clock::time_point start_time,
                                   const StopCheck& stop_check, comm::Communicator& comm)
    : o_(o),
      data_(data),
      start_(start),
      device_(device),
      precision_(precision),
      files_(files),
      start_time_(start_time),
      stop_check_(stop_check),
      comm_(comm),
      net_(fresh_model()),
      optimizer_(net_.parameters(), {o.optimizer, o.weight_decay, 0.9, 0.999, 1e-8, o.momentum}),
      fresh_metrics_(comm.rank() == 0 && start == OutputStart::Fresh ? files.metrics : "") {
  if (start == OutputStart::Resume) {
    const train::TrainingState state = train::load_checkpoint(files.checkpoint);
    require_same_job(files.checkpoint, data.identity, state.identity);
    net_.load_state(state.model, /*backbone_only=*/false, files.checkpoint);
    optimizer_.load_state(state.optimizer, files.checkpoint);
    step_ = state.step;
    log::info("resuming from {} at step {} of {}", files.checkpoint, step_, o.steps);
  }
  // Identical on every rank from here on.
  train::GradientSync::broadcast(comm, buffers_and_parameters(net_));
  if (o.sync_bn && comm.size() > 1)
    net_.set_batch_norm_override([&comm](const at::Tensor& x, const segmenter::BatchNormLayer& l) {
      return train::sync_batch_norm(x, l.weight, l.bias, l.running_mean, l.running_var, l.momentum, l.eps, comm);
    });
  sync_.emplace(net_.parameters());
  if (comm.rank() == 0) metrics_.emplace(files.metrics, start == OutputStart::Resume ? step_ : -1);
}

segmenter::Segmenter SegmenterTrainer::fresh_model() {
  at::manual_seed(o_.seed);
  segmenter::Segmenter net(data_.classes);
  if (!o_.init.empty() && start_ == OutputStart::Fresh) net.load_torchvision(o_.init);
  net.to(device_);
  net.to(precision_.weights);
  net.train(true);
  return net;
}

TrainSummary SegmenterTrainer::run() {
  const DataSplit& split = data_.split;
  log::info("training on {} ({} ranks, {} per rank, global batch {}): {} training and {} held-out samples of {} ({}x{}, "
            "{} classes), {} steps ({:.1f} epochs), {} lr {}", device_.str(), comm_.size(), split.per_rank, o_.batch,
            split.pool.size(), split.held_out.size(), o_.data, data_.header.width, data_.header.height, data_.classes, o_.steps,
            static_cast<double>(o_.steps) / static_cast<double>(split.steps_per_epoch), name_of(o_.optimizer), o_.lr);
  Progress progress("train", o_.steps, comm_.rank() == 0, "steps");
  progress.advance(step_);
  bool stopped = false;
  PhaseTimes phases(o_.phase_times, device_);
  while (step_ < o_.steps) {
    phases.start_step();
    dataset::BatchLoader& loader = loader_at(step_);
    const auto step_start = Clock::now();
    const std::optional<dataset::Batch> batch = loader.next();
    STYLESEG_ASSERT(batch.has_value(), "train: the data loader ended early (step " + std::to_string(step_) + ")");
    phases.mark("data");
    const double lr = train::poly_learning_rate(o_.lr, step_, o_.steps, o_.lr_power);
    const at::Tensor loss = optimise_step(net_, optimizer_, *sync_, *batch, data_.info, precision_, device_, lr, o_.gradient_overlap,
                                          comm_, phases);
    ++step_;
    stopped = end_step(loss, lr, step_start);
    progress.advance(1);
    phases.mark("loss and stop check");
    fault_injection_point("train-step", comm_.rank(), step_);
    if (step_ == o_.steps || stopped || step_ % o_.checkpoint_every == 0) checkpoint();
    if (!split.held_out.empty() && (step_ == o_.steps || step_ % o_.val_every == 0)) validate_now();
    phases.mark("checkpoints and validation");
    if (stopped) break;
  }
  loader_.reset();
  if (phases.enabled()) log::info("train time {}", phases.summary());
  summary_.steps_done = step_;
  summary_.seconds = seconds_since(start_time_);
  if (stopped) {
    summary_.complete = false;
    log::warn("stopped {} after step {} of {}; run again with --resume to continue from {}", stop_check_.reason(), step_,
              o_.steps, files_.checkpoint);
    return summary_;
  }
  progress.finish();
  return summary_;
}

dataset::BatchLoader& SegmenterTrainer::loader_at(int64_t step) {
  const int64_t epoch = step / data_.split.steps_per_epoch;
  if (!loader_ || epoch != loader_epoch_) {
    loader_.reset();  // one reading thread at a time
    loader_ = epoch_loader(o_, data_.reader, data_.split, data_.augmentation, data_.classes, epoch, step, comm_);
    loader_epoch_ = epoch;
  }
  return *loader_;
}

bool SegmenterTrainer::end_step(const at::Tensor& loss, double lr, Clock::time_point step_start) {
  // [loss, votes to stop]
  at::Tensor shared = at::stack({loss.detach().to(at::kCPU, at::kDouble), at::scalar_tensor(stop_check_.due() ? 1.0 : 0.0, at::kDouble)})
                          .to(comm_.device());
  comm_.allreduce(shared);
  const at::Tensor host = shared.to(at::kCPU);
  summary_.final_loss = host[0].item<double>();
  if (metrics_)
    metrics_->append({{"step", step_}, {"epoch", loader_epoch_}, {"loss", summary_.final_loss}, {"lr", lr},
                      {"images_per_second", static_cast<double>(o_.batch) / seconds_since(step_start)},
                      {"seconds", seconds_since(start_time_)}});
  const int64_t log_every = std::max<int64_t>(1, o_.steps / 20);
  if (step_ % log_every == 0) log::info("step {}/{}: loss {:.4f}, lr {:.3g}", step_, o_.steps, summary_.final_loss, lr);
  return host[1].item<double>() > 0 && step_ < o_.steps;
}

void SegmenterTrainer::checkpoint() {
  share_running_statistics(comm_, net_);
  if (comm_.rank() == 0) {
    train::TrainingState state{step_, data_.identity, net_.state(), optimizer_.state(), o_.seed};
    train::save_checkpoint(files_.checkpoint, state);
    fresh_metrics_.keep();
  }
  comm_.barrier();
}

void SegmenterTrainer::validate_now() {
  share_running_statistics(comm_, net_);
  const Validation v = run_validation(net_, data_.info, data_.reader, data_.split.held_out, comm_, device_, precision_.autocast);
  summary_.val_miou = v.miou;
  if (metrics_) metrics_->append({{"step", step_}, {"val_miou", v.miou}, {"val_pixel_accuracy", v.pixel_accuracy}, {"val_iou", v.iou}});
  log::info("step {}: validation mIoU {:.4f}, pixel accuracy {:.4f} on {} held-out samples", step_, v.miou, v.pixel_accuracy,
            data_.split.held_out.size());
}

void SegmenterTrainer::export_model(const nlohmann::json& provenance) {
  share_running_statistics(comm_, net_);
  if (comm_.rank() == 0) write_model(o_, provenance, data_.header, net_, data_.info, summary_, comm_.size(), files_);
  comm_.barrier();
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
  const OutputStart start = output_plan(o, files.checkpoint, files.metrics, files.curves).decide({o.resume, o.force}, comm);
  STYLESEG_CHECK(start != OutputStart::Complete, ConfigError,
                 "train: --resume: " + o.out + " is complete and its checkpoint " + files.checkpoint +
                     " is gone, so nothing says which job made it; --force trains afresh");
  const c10::Device device = resolve_device(o.device, comm.local_rank());
  const TrainingPrecision precision = parse_training_precision(o.precision);
  const dataset::DatasetReader reader(o.data);
  const TrainingData data(o, provenance, reader, comm.size());
  SegmenterTrainer trainer(o, data, start, device, precision, files, start_time, stop_check, comm);
  const TrainSummary summary = trainer.run();
  if (summary.complete) trainer.export_model(provenance);
  return summary;
}

}  // namespace styleseg::stages
