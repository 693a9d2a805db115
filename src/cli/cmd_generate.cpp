#include "cli/cli.h"
#include "stages/generate.h"

namespace styleseg::cli {

int generate_main(const std::vector<std::string>& args) {
  stages::GenerateOptions o;
  OptionSet set("generate",
                "Generates N samples from a StyleGAN2 generator (rosinality .pt, NVlabs G_ema state dict, or\n"
                "styleseg's own): images, per-layer latents w and, with --feature-layer, the feature maps of one\n"
                "synthesis layer. Sample i depends only on (--seed, i): any number of ranks writes the same file at the\n"
                "same --threads (other thread counts or CPUs: z identical, the rest equal to float32 rounding, images\n"
                "within one grey level; README \"Determinism\").\n"
                "The output is written as OUT.tmp.partial, renamed when complete; --resume continues a stopped run\n"
                "of the same job from its last resume point (any number of ranks).\n\n"
                "--feature-layer takes the official numbering N = 1, 3, 5, 7, ... (the output of the second\n"
                "convolution of the block whose first convolution takes style N: 1 = 8x8 block, 7 = 64x64 block)\n"
                "or a module name: rosinality conv1 / convs.J, NVlabs synthesis.bR[.conv0|.conv1].");
  add_sampler_options(set, o.sampling, /*with_latents_file=*/true);
  set.add("out", &o.out, "output HDF5 file")
      .add("count", &o.count, "number of samples (with --latents: the first COUNT, 0 = all)")
      .add("batch", &o.batch, "samples per forward pass")
      .add_optional("png-dir", &o.png_dir, "also write one PNG per sample into this folder")
      .add_optional("grid", &o.grid, "also write a PNG grid of the first samples")
      .add_optional("feature-grid", &o.feature_grid, "also write a PNG grid of their features (3 principal components as RGB)")
      .add("grid-count", &o.grid_count, "samples in the grids")
      .add_flag("save-raw", &o.save_raw, "also save the generator output before clamping ('raw', float32)")
      .add("compression", &o.compression, "gzip level of the HDF5 datasets (0 = none)")
      .add("time-limit", &o.time_limit, "seconds; stop cleanly after the batch that passes it, exit 75; --resume continues (0 = none)")
      .add("resume-interval", &o.resume_interval, "seconds between resume points of the partial output OUT.tmp.partial");
  add_output_policy_options(set, o.resume, o.force, "OUT.tmp.partial");
  add_space_check_option(set, o.no_space_check);
  return run_command(set, args, [&](comm::Communicator& comm) {
    return stages::generate(o, comm, set.to_json(non_result_options())).complete ? 0 : kExitResumable;
  });
}

}  // namespace styleseg::cli
