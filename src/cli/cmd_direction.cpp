#include "cli/cli.h"
#include "core/error.h"
#include "core/text.h"
#include "stages/direction.h"

namespace styleseg::cli {
namespace {

// "0,0.5,1" -> {0, 0.5, 1}; ConfigError naming --alphas.
std::vector<double> parse_alphas(const std::string& text) {
  std::vector<double> out;
  for (const std::string& item : split(text, ',')) {
    try {
      size_t used = 0;
      out.push_back(std::stod(item, &used));
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      throw ConfigError("--alphas '" + text + "': expected numbers separated by commas");
    }
  }
  return out;
}

}  // namespace

int direction_main(const std::vector<std::string>& args) {
  stages::DirectionOptions o;
  std::string alphas;
  OptionSet set("direction",
                "Finds a direction in W space along which an attribute appears (rare classes: glasses, a beard, a\n"
                "dilated pupil), so that samples moved along it (--direction FILE --alpha A of generate, cluster,\n"
                "synthesize, name) show it often enough to become a cluster. Ranks split --samples samples and score\n"
                "them (--scorer clip: cosine to --prompt minus cosine to --neutral; segmenter: the share of --class\n"
                "pixels a trained segmenter predicts; brightness / darkness: the grey level in --box); --method svm or\n"
                "logistic fits a linear classifier on the top and bottom --tail (a fifth held out) and takes its unit\n"
                "normal; --method optimize raises the CLIP score of F(w + G) through the generator with a penalty on\n"
                "|G|. Then the share of positive samples for a sweep of alpha, the suggested alpha, and with --preview\n"
                "samples at 0, alpha/2, alpha and the curve.");
  add_sampler_options(set, o.sampling, /*with_latents_file=*/false);
  set.add("scorer", &o.scorer.kind, "clip, segmenter, brightness or darkness")
      .add_optional("clip", &o.scorer.clip, "clip: CLIP model (OpenAI's TorchScript archive, e.g. ViT-B-32.pt as the paper)")
      .add_optional("vocab", &o.scorer.vocab, "clip: BPE merges bpe_simple_vocab_16e6.txt.gz")
      .add_optional("prompt", &o.scorer.prompt, "clip: the attribute, e.g. 'a person with a beard'")
      .add_optional("neutral", &o.scorer.neutral, "clip: the same without it, e.g. 'a person'")
      .add("clip-precision", &o.scorer.clip_precision, "clip: float32, or bfloat16 (GPU)")
      .add_optional("model", &o.scorer.model, "segmenter: a model from `styleseg train`")
      .add_optional("class", &o.scorer.class_name, "segmenter: the class whose pixel share is the score")
      .add("box", &o.scorer.box, "brightness / darkness: x0,y0,x1,y1 as fractions of the image")
      .add("method", &o.method, "svm, logistic (InterFaceGAN) or optimize (a global direction through the generator and CLIP)")
      .add("samples", &o.samples, "svm / logistic: scored samples")
      .add("batch", &o.batch, "samples per forward pass (optimize: per step)")
      .add("tail", &o.tail, "share of samples labelled positive (top) and negative (bottom)")
      .add("iterations", &o.iterations, "svm / logistic: optimiser steps of the classifier")
      .add("l2", &o.l2, "svm / logistic: weight decay of the normal")
      .add("steps", &o.steps, "optimize: gradient steps")
      .add("lr", &o.lr, "optimize: Adam step size")
      .add("length-penalty", &o.length_penalty, "optimize: weight of |G|^2")
      .add_optional("alphas", &alphas, "alphas of the sweep, comma-separated (default: 0 to 4 times the latents' spread per dimension, or |G|)")
      .add("sweep-samples", &o.sweep_samples, "samples scored at each alpha of the sweep")
      .add("target-rate", &o.target_rate, "the suggested alpha is the smallest whose positive share reaches this")
      .add("out", &o.out, "direction file (.h5)")
      .add_optional("preview", &o.preview, "PNG: samples at alpha 0, alpha/2 and alpha, and the rate-versus-alpha curve")
      .add("preview-count", &o.preview_count, "samples per row of the preview");
  add_output_policy_options(set, o.force);
  return run_command(set, args, [&](comm::Communicator& comm) {
    if (!alphas.empty()) o.alphas = parse_alphas(alphas);
    stages::find_direction(o, comm, set.to_json(non_result_options()));
    return 0;
  });
}

}  // namespace styleseg::cli
