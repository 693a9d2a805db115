// What judges a generated sample for an attribute, behind one interface, so that the
// direction search (stages/direction.h) does not care which: CLIP against a prompt, a
// trained segmenter's share of a class, or an image statistic (for tests and for domains
// with no model). Higher scores mean more of the attribute.
//
//   auto scorer = directions::make_scorer(options, device);
//   at::Tensor s = scorer->score({raw, pixels, ws});   // [n]
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <nlohmann/json.hpp>

#include <array>
#include <memory>
#include <string>

namespace styleseg::directions {

// One batch of generated samples, as the sampler makes them.
struct ScoredBatch {
  at::Tensor raw;     // float [n, 3, H, W], the generator's output (about [-1, 1]); may require grad
  at::Tensor pixels;  // uint8 [n, H, W, 3] (the saved images), or undefined on the differentiable path
  at::Tensor ws;      // float [n, num_ws, w_dim]
};

class Scorer {
 public:
  virtual ~Scorer() = default;
  // Scores [n] (float, on the images' device). Differentiable scorers keep the graph
  // from `raw` when it requires grad.
  virtual at::Tensor score(const ScoredBatch& batch) = 0;
  // Whether score() is differentiable in `raw` (the optimise method needs it).
  virtual bool differentiable() const { return false; }
  // What it is, for the direction file.
  virtual nlohmann::json describe() const = 0;
};

struct ScorerOptions {
  std::string kind;                   // clip | segmenter | brightness | darkness
  // clip: cosine(image, prompt) - cosine(image, neutral)
  std::string clip, vocab, prompt, neutral;
  std::string clip_precision = "float32";
  // segmenter: the share of pixels predicted as `class_name`
  std::string model, class_name;
  // brightness / darkness: the mean grey level in a box (fractions of the image:
  // x0,y0,x1,y1), or one minus it
  std::string box = "0,0,1,1";
};

// Throws ConfigError naming the option for a missing or bad setting, InputError for files.
std::unique_ptr<Scorer> make_scorer(const ScorerOptions& options, c10::Device device);

// "x0,y0,x1,y1" fractions with 0 <= x0 < x1 <= 1 (same for y); ConfigError naming --box.
std::array<double, 4> parse_box(const std::string& text);

}  // namespace styleseg::directions
