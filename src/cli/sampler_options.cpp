// The options of a generator and how it is sampled, declared once for every command that
// draws samples (generate, cluster, assign, synthesize, name, direction).
#include "cli/cli.h"
#include "sampling/sampler.h"

namespace styleseg::cli {

void add_sampler_options(OptionSet& set, sampling::SamplerOptions& o, bool with_latents_file) {
  set.add("checkpoint", &o.checkpoint, "generator checkpoint (.pt: rosinality, NVlabs G_ema state dict, styleseg)")
      .add("seed", &o.seed, "sample i draws its latent and noise from (seed, i)");
  if (with_latents_file)
    set.add_optional("latents", &o.latents, "HDF5 file with z [N, z_dim] or w [N, w_dim] / [N, num_ws, w_dim]");
  set.add("truncation", &o.truncation, "truncation psi towards the average latent (1 = none)")
      .add("truncation-samples", &o.truncation_samples, "samples for the average latent when the checkpoint has none")
      .add("noise", &o.noise, "noise inputs: const (the checkpoint's buffers), random (from (seed, i)), none")
      .add("feature-noise", &o.feature_noise,
           "noise inputs of the features' pass: same (the image's), or const, random, none in a second pass\n"
           "(none: smooth cluster masks while the images keep their texture)")
      .add("feature-normalize", &o.feature_normalize,
           "none, or l2: each pixel's feature vector to unit length (at the layer's resolution)")
      .add("mixing-crossover", &o.mixing_crossover, "style mixing: layers >= K take a second latent from (seed, i); -1 = off")
      .add_optional("feature-layer", &o.feature_layer,
                    "synthesis layer whose output gives the per-pixel features: official numbering 1, 3, 5, 7, ...\n"
                    "(7 = the 64x64 block) or a module name (conv1, convs.J, synthesis.bR[.conv0|.conv1]); several\n"
                    "joined by '+' (5+7): their features resized to the finest and concatenated")
      .add_optional("direction", &o.direction, "direction file of `styleseg direction`: latents move to w + alpha * direction")
      .add("alpha", &o.alpha, "how far along --direction (after truncation; direction.h5 suggests one)")
      .add("feature-size", &o.feature_size, "bilinear resize of features to SIZE x SIZE (align_corners=True); 0 = native")
      .add("device", &o.device, "auto, cpu, cuda or cuda:N (auto: the rank's GPU if any)")
      .add("precision", &o.precision, "float32 or bfloat16")
      .add_optional("lr-mapping", &o.lr_mapping, "mapping lr multiplier (not stored in reference checkpoints; default 0.01)")
      .add_optional("conv-clamp", &o.conv_clamp, "NVlabs conv_clamp (default 256 for NVlabs files; <= 0 turns it off)");
}

}  // namespace styleseg::cli
