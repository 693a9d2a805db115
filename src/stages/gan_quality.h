// The quality figures of a generator against real images (evaluate/gan_quality.h), measured
// with a segmenter trained on the real images: train-gan's figures over training and
// `styleseg gan-quality` for any checkpoint.
//
// The real side is the first `samples` images of the real set; the generated side is the
// generator's images at latents and noise keyed by (seed, i), i < samples, without
// truncation, quantised to 8 bits as saved images are. Ranks take every size-th image and
// one allreduce combines their sums, so the figures do not depend on the rank count (up to
// float64 summation order).
#pragma once

#include <c10/core/Device.h>

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "evaluate/gan_quality.h"
#include "models/segmenter/model_file.h"

namespace styleseg::comm {
class Communicator;
}
namespace styleseg::stylegan2 {
class Generator;
}
namespace styleseg::train {
class TrainingImages;
}

namespace styleseg::stages {

class GanQualityProbe {
 public:
  // Collective: reads the segmenter `model_path` and the real images' statistics.
  GanQualityProbe(const std::string& model_path, const train::TrainingImages& real, int64_t samples, uint64_t seed,
                  c10::Device device, comm::Communicator& comm);

  // Collective: the figures of `g`'s images against the real ones.
  evaluate::QualityFigures measure(const stylegan2::Generator& g, comm::Communicator& comm);
  // Collective: the figures of the first `samples` images of another set (a second real set
  // gives the figures' floor: what two samples of the same distribution score).
  evaluate::QualityFigures measure(const train::TrainingImages& images, comm::Communicator& comm);

  const std::vector<std::string>& classes() const { return model_.info.classes; }

 private:
  // images float [B, 3, H, W] in [-1, 1]
  void add(const at::Tensor& images, evaluate::QualityStatistics& statistics);
  // Collective: the sums over the first `samples` images of a set.
  evaluate::QualityStatistics statistics_of(const train::TrainingImages& images, comm::Communicator& comm);
  std::vector<int64_t> my_samples(comm::Communicator& comm) const;

  segmenter::LoadedModel model_;
  int64_t samples_;
  uint64_t seed_;
  c10::Device device_;
  evaluate::QualityStatistics real_;
};

// `styleseg gan-quality`: the figures of one generator checkpoint (any format `generate`
// reads), or of another image set, against real images (a dataset file or a folder);
// written to `out` as JSON when given. Collective.
struct GanQualityOptions {
  std::string checkpoint, images;   // exactly one of them
  std::string real, model, out;
  int64_t resolution = 0;           // images only: the side both sets are resized to (0: 64)
  int64_t samples = 1000;
  uint64_t seed = 0;
  std::string device = "auto";
  bool force = false;               // replace an existing OUT (io/output_policy.h)
};
nlohmann::json gan_quality(const GanQualityOptions& options, comm::Communicator& comm);

// One line of figures as JSON: {"frechet": F, "share_distance": S, "share_distance_per_class": {name: d}}.
nlohmann::json quality_json(const evaluate::QualityFigures& figures, const std::vector<std::string>& classes);

}  // namespace styleseg::stages
