#include "stages/gan_quality.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer includes it in LibTorch 2.x

#include <fstream>
#include <optional>

#include "core/device.h"
#include "core/error.h"
#include "io/output_policy.h"
#include "io/atomic_output.h"
#include "models/stylegan2/checkpoint.h"
#include "core/seeding.h"
#include "models/segmenter/predict.h"
#include "models/stylegan2/generator.h"
#include "mpi/communicator.h"
#include "sampling/sampler.h"
#include "train/keyed_images.h"
#include "train/training_images.h"

namespace styleseg::stages {
namespace {
constexpr int64_t kBatch = 32;
constexpr int64_t kFeatureDim = 512;  // the ResNet-18 backbone's channels

std::vector<std::vector<int64_t>> batches_of(const std::vector<int64_t>& samples) {
  std::vector<std::vector<int64_t>> out;
  for (size_t i = 0; i < samples.size(); i += kBatch)
    out.emplace_back(samples.begin() + static_cast<std::ptrdiff_t>(i),
                     samples.begin() + static_cast<std::ptrdiff_t>(std::min(samples.size(), i + kBatch)));
  return out;
}
}  // namespace

GanQualityProbe::GanQualityProbe(const std::string& model_path, const train::TrainingImages& real, int64_t samples,
                                 uint64_t seed, c10::Device device, comm::Communicator& comm)
    : model_(segmenter::load_model(model_path)),
      samples_(samples),
      seed_(seed),
      device_(device),
      real_(kFeatureDim, static_cast<int64_t>(model_.info.classes.size())) {
  STYLESEG_CHECK(samples >= 2, ConfigError, "quality figures need at least 2 samples");
  STYLESEG_CHECK(real.size() >= samples, ConfigError,
                 "quality figures: " + std::to_string(samples) + " samples asked for, but the real set has " +
                     std::to_string(real.size()) + " images");
  model_.net.to(device_);
  model_.net.train(false);
  real_ = statistics_of(real, comm);
}

evaluate::QualityStatistics GanQualityProbe::statistics_of(const train::TrainingImages& images, comm::Communicator& comm) {
  evaluate::QualityStatistics statistics(kFeatureDim, static_cast<int64_t>(model_.info.classes.size()));
  for (const std::vector<int64_t>& batch : batches_of(my_samples(comm)))
    add(images.batch(batch, std::vector<bool>(batch.size(), false)), statistics);
  statistics.allreduce(comm);
  return statistics;
}

std::vector<int64_t> GanQualityProbe::my_samples(comm::Communicator& comm) const {
  std::vector<int64_t> mine;
  for (int64_t i = comm.rank(); i < samples_; i += comm.size()) mine.push_back(i);
  return mine;
}

void GanQualityProbe::add(const at::Tensor& images, evaluate::QualityStatistics& statistics) {
  at::NoGradGuard no_grad;
  // 8-bit levels, as every real image has and as a saved generated image would.
  const at::Tensor pixels = sampling::to_pixels(images).permute({0, 3, 1, 2}).to(device_, at::kFloat) / 255.0;
  const at::Tensor input = segmenter::model_input(pixels, model_.info);
  const at::Tensor features = model_.net.features(input);
  const at::Tensor labels = model_.net.classify(features, input.size(2), input.size(3)).argmax(1);
  statistics.add(features.mean({2, 3}), labels);
}

evaluate::QualityFigures GanQualityProbe::measure(const stylegan2::Generator& g, comm::Communicator& comm) {
  evaluate::QualityStatistics generated(kFeatureDim, static_cast<int64_t>(model_.info.classes.size()));
  const uint64_t key = mix64(seed_ ^ 0x9a11e7ULL);
  at::NoGradGuard no_grad;
  for (const std::vector<int64_t>& batch : batches_of(my_samples(comm)))
    add(train::keyed_images(g, key, batch, /*mixing=*/0, g.device()).images, generated);
  generated.allreduce(comm);
  return evaluate::compare(real_, generated);
}

evaluate::QualityFigures GanQualityProbe::measure(const train::TrainingImages& images, comm::Communicator& comm) {
  STYLESEG_CHECK(images.size() >= samples_, ConfigError,
                 "quality figures: " + std::to_string(samples_) + " samples asked for, but the other set has " +
                     std::to_string(images.size()) + " images");
  return evaluate::compare(real_, statistics_of(images, comm));
}

nlohmann::json gan_quality(const GanQualityOptions& o, comm::Communicator& comm) {
  STYLESEG_CHECK(o.checkpoint.empty() != o.images.empty(), ConfigError, "gan-quality: give --checkpoint or --images (one of them)");
  STYLESEG_CHECK(!o.real.empty() && !o.model.empty(), ConfigError, "gan-quality: --real and --model are required");
  OutputPlan("gan-quality")
      .input("--checkpoint", o.checkpoint)
      .input("--images", o.images)
      .input("--real", o.real)
      .input("--model", o.model)
      .output("--out", o.out)
      .decide({false, o.force}, comm);
  const c10::Device device = resolve_device(o.device, comm.local_rank());
  std::optional<stylegan2::Generator> g;
  if (!o.checkpoint.empty()) {
    g.emplace(stylegan2::load_generator(o.checkpoint));
    g->to(device, at::kFloat);
  }
  const int64_t resolution = g ? g->architecture().resolution : (o.resolution > 0 ? o.resolution : 64);
  const train::TrainingImages real(o.real, resolution);
  GanQualityProbe probe(o.model, real, o.samples, o.seed, device, comm);
  nlohmann::json result =
      quality_json(g ? probe.measure(*g, comm) : probe.measure(train::TrainingImages(o.images, resolution), comm), probe.classes());
  result[g ? "checkpoint" : "images"] = g ? o.checkpoint : o.images;
  result["real"] = o.real;
  result["model"] = o.model;
  result["samples"] = o.samples;
  if (comm.rank() == 0 && !o.out.empty()) {
    write_text_file(o.out, result.dump(2) + "\n");
  }
  return result;
}

nlohmann::json quality_json(const evaluate::QualityFigures& figures, const std::vector<std::string>& classes) {
  nlohmann::json per_class = nlohmann::json::object();
  for (size_t k = 0; k < figures.share_distance_per_class.size() && k < classes.size(); ++k)
    per_class[classes[k]] = figures.share_distance_per_class[k];
  return {{"frechet", figures.frechet}, {"share_distance", figures.share_distance}, {"share_distance_per_class", per_class}};
}

}  // namespace styleseg::stages
