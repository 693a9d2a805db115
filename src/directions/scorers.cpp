#include "directions/scorers.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer includes it in LibTorch 2.x

#include <algorithm>
#include <cmath>

#include "core/device.h"
#include "core/error.h"
#include "core/text.h"
#include "models/clip/model.h"
#include "models/clip/preprocess.h"
#include "models/clip/tokenizer.h"
#include "models/segmenter/model_file.h"
#include "models/segmenter/predict.h"

namespace styleseg::directions {
namespace {

// The saved images as floats in [0, 1] [n, 3, H, W].
at::Tensor unit_images(const ScoredBatch& b) {
  STYLESEG_ASSERT(b.pixels.defined(), "scorer: this scorer reads the images' pixels");
  return b.pixels.permute({0, 3, 1, 2}).to(at::kFloat) / 255.0;
}

class ClipScorer : public Scorer {
 public:
  ClipScorer(const ScorerOptions& o, c10::Device device)
      : options_(o), model_(clip::load_model(o.clip, {device, parse_precision(o.clip_precision, "--clip-precision")})) {
    clip::Tokenizer tokenizer(o.vocab);
    const at::Tensor text = model_.encode_text(tokenizer.tokenize({o.prompt, o.neutral}, model_.architecture().context_length));
    text_ = (text / text.norm(2, 1, true)).detach();
  }
  at::Tensor score(const ScoredBatch& b) override {
    const at::Tensor unit = ((b.raw.to(model_.device(), at::kFloat) + 1.0) / 2.0).clamp(0, 1);
    const at::Tensor image = model_.encode_image(clip::preprocess_unit_images(unit, model_.architecture().image_resolution));
    const at::Tensor cosine = at::matmul(image / image.norm(2, 1, true), text_.t());  // [n, 2]
    return cosine.select(1, 0) - cosine.select(1, 1);
  }
  bool differentiable() const override { return true; }
  nlohmann::json describe() const override {
    return {{"kind", "clip"}, {"clip", options_.clip}, {"architecture", model_.architecture().describe()},
            {"prompt", options_.prompt}, {"neutral", options_.neutral},
            {"score", "cosine(image, prompt) - cosine(image, neutral)"}};
  }

 private:
  ScorerOptions options_;
  clip::Model model_;
  at::Tensor text_;  // [2, E] unit rows: prompt, neutral
};

class SegmenterScorer : public Scorer {
 public:
  SegmenterScorer(const ScorerOptions& o, c10::Device device) : options_(o), model_(segmenter::load_model(o.model)), device_(device) {
    const auto& classes = model_.info.classes;
    const auto it = std::find(classes.begin(), classes.end(), o.class_name);
    if (it == classes.end()) {
      std::string known;
      for (const auto& c : classes) known += (known.empty() ? "" : ", ") + c;
      throw ConfigError("direction: --class '" + o.class_name + "' is not one of " + o.model + "'s classes (" + known + ")");
    }
    class_index_ = it - classes.begin();
    model_.net.to(device_);
    model_.net.train(false);
  }
  at::Tensor score(const ScoredBatch& b) override {
    at::NoGradGuard no_grad;
    const at::Tensor logits = model_.net.forward(segmenter::model_input(unit_images(b), model_.info).to(device_));
    return (logits.argmax(1) == class_index_).to(at::kFloat).mean(at::IntArrayRef{1, 2});
  }
  nlohmann::json describe() const override {
    return {{"kind", "segmenter"}, {"model", options_.model}, {"class", options_.class_name},
            {"score", "share of pixels predicted as the class"}};
  }

 private:
  ScorerOptions options_;
  segmenter::LoadedModel model_;
  c10::Device device_;
  int64_t class_index_ = 0;
};

// The mean grey level in a box (brightness), or one minus it (darkness).
class BoxIntensityScorer : public Scorer {
 public:
  explicit BoxIntensityScorer(const ScorerOptions& o) : options_(o), box_(parse_box(o.box)), dark_(o.kind == "darkness") {}
  at::Tensor score(const ScoredBatch& b) override {
    const at::Tensor unit = unit_images(b);
    const int64_t h = unit.size(2), w = unit.size(3);
    const auto x0 = static_cast<int64_t>(std::floor(box_[0] * w)), y0 = static_cast<int64_t>(std::floor(box_[1] * h));
    const int64_t x1 = std::max(x0 + 1, static_cast<int64_t>(std::ceil(box_[2] * w)));
    const int64_t y1 = std::max(y0 + 1, static_cast<int64_t>(std::ceil(box_[3] * h)));
    const at::Tensor mean = unit.narrow(2, y0, y1 - y0).narrow(3, x0, x1 - x0).mean(at::IntArrayRef{1, 2, 3});
    return dark_ ? 1.0 - mean : mean;
  }
  nlohmann::json describe() const override {
    return {{"kind", options_.kind}, {"box", options_.box},
            {"score", dark_ ? "1 - mean grey level in the box" : "mean grey level in the box"}};
  }

 private:
  ScorerOptions options_;
  std::array<double, 4> box_;
  bool dark_;
};

}  // namespace

std::array<double, 4> parse_box(const std::string& text) {
  std::array<double, 4> box{};
  const std::vector<std::string> items = split(text, ',');
  size_t count = items.size();
  try {
    for (size_t i = 0; i < std::min<size_t>(count, 4); ++i) box[i] = std::stod(items[i]);
  } catch (const std::exception&) {
    count = 0;
  }
  STYLESEG_CHECK(count == 4 && box[0] >= 0 && box[0] < box[2] && box[2] <= 1 && box[1] >= 0 && box[1] < box[3] && box[3] <= 1,
                 ConfigError, "--box '" + text + "': expected x0,y0,x1,y1 as fractions of the image, 0 <= x0 < x1 <= 1");
  return box;
}

std::unique_ptr<Scorer> make_scorer(const ScorerOptions& o, c10::Device device) {
  if (o.kind == "clip") {
    STYLESEG_CHECK(!o.clip.empty() && !o.vocab.empty(), ConfigError, "direction: --scorer clip needs --clip and --vocab");
    STYLESEG_CHECK(!o.prompt.empty() && !o.neutral.empty(), ConfigError,
                   "direction: --scorer clip needs --prompt (\"a person with a beard\") and --neutral (\"a person\")");
    return std::make_unique<ClipScorer>(o, device);
  }
  if (o.kind == "segmenter") {
    STYLESEG_CHECK(!o.model.empty() && !o.class_name.empty(), ConfigError,
                   "direction: --scorer segmenter needs --model (a segmenter from styleseg train) and --class");
    return std::make_unique<SegmenterScorer>(o, device);
  }
  if (o.kind == "brightness" || o.kind == "darkness") return std::make_unique<BoxIntensityScorer>(o);
  throw ConfigError("direction: --scorer '" + o.kind + "': expected clip, segmenter, brightness or darkness");
}

}  // namespace styleseg::directions
