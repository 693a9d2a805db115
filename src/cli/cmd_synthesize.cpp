#include "cli/cli.h"
#include "stages/synthesize.h"

namespace styleseg::cli {

int synthesize_main(const std::vector<std::string>& args) {
  stages::SynthesizeOptions o;
  OptionSet set("synthesize",
                "Generates N samples with their masks (each pixel: the class of its nearest centroid, computed at\n"
                "the image size through the score-map route) into one HDF5 file written by all ranks: images\n"
                "uint8 [N, R, R, 3], masks uint8 [N, R, R] (uint16 past 255 classes), latents, done flags, and the\n"
                "classes with their palette as attributes. Sample i is the same on any number of ranks. The layer\n"
                "comes from the clusters file. --merge '0,3:skin;1:hair' merges clusters into named classes; clusters\n"
                "not named become the ignore label 255. Written as OUT.tmp.partial; after a crash or --time-limit,\n"
                "--resume continues it.");
  add_sampler_options(set, o.sampling, /*with_latents_file=*/false);
  set.add("clusters", &o.clusters, "clusters file of `styleseg cluster` on the same generator")
      .add("out", &o.out, "output HDF5 file (dataset.h5)")
      .add("count", &o.count, "number of samples")
      .add("size", &o.size, "image and mask side R (0: the generator's resolution)")
      .add("batch", &o.batch, "samples per forward pass (and per chunk of work)")
      .add_optional("merge", &o.merge, "class map: CLUSTERS:NAME entries separated by ';', e.g. '0,3:skin;1:hair'")
      .add_optional("merge-file", &o.merge_file, "the class map in a file, one CLUSTERS:NAME entry a line (# comments)")
      .add("compression", &o.compression, "gzip level of images and masks (0: none, crash-safe resume)")
      .add("time-limit", &o.time_limit, "seconds; stop cleanly after the round that passes it, exit 75 (0: none)")
      .add_optional("grid", &o.grid, "PNG of the first samples beside their masks, with the classes")
      .add("grid-count", &o.grid_count, "samples in the grid");
  add_output_policy_options(set, o.resume, o.force, "OUT.tmp.partial");
  add_space_check_option(set, o.no_space_check);
  return run_command(set, args, [&](comm::Communicator& comm) {
    return stages::synthesize(o, comm, set.to_json(non_result_options())).complete ? 0 : kExitResumable;
  });
}

}  // namespace styleseg::cli
