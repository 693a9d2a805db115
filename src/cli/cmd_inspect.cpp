#include <cstdio>

#include "cli/cli.h"
#include "core/error.h"
#include "io/torch_file.h"
#include "mpi/communicator.h"
#include "models/segmenter/model_file.h"
#include "models/stylegan2/checkpoint.h"
#include "models/stylegan2/feature_layer.h"
#include "stages/inspect_dataset.h"

namespace styleseg::cli {

int inspect_main(const std::vector<std::string>& args) {
  std::string checkpoint;
  int depth = 2;
  bool tree = false;
  stages::InspectDatasetOptions dataset;
  OptionSet set("inspect",
                "styleseg inspect --checkpoint G.pt: the generator layout and architecture styleseg reads from a\n"
                "checkpoint, the feature layers it offers, and with --tree the whole object tree with tensor shapes.\n"
                "styleseg inspect --checkpoint SEG.pt: a segmenter's classes, input size and training provenance.\n"
                "styleseg inspect DATASET.h5: a synthetic dataset's samples, completeness, classes with their pixel\n"
                "shares and provenance; --grid draws the first samples beside their masks.");
  set.add("checkpoint", &checkpoint, "checkpoint file (.pt)")
      .add_flag("tree", &tree, "print the object tree")
      .add("depth", &depth, "depth of the printed tree")
      .add_optional("file", &dataset.path, "a dataset written by synthesize (also the first plain argument)")
      .add_optional("grid", &dataset.grid, "dataset: PNG of the first samples beside their masks")
      .add("grid-count", &dataset.grid_count, "dataset: samples in the grid")
      .add("share-samples", &dataset.share_samples, "dataset: samples whose masks give the class shares (0: all)")
      .positional("file");
  return run_command(set, args, [&](comm::Communicator& comm) {
    STYLESEG_CHECK(checkpoint.empty() != dataset.path.empty(), ConfigError,
                   "inspect: give a checkpoint (--checkpoint G.pt) or a dataset (inspect DATASET.h5)");
    if (comm.rank() != 0) return 0;
    if (!dataset.path.empty()) {
      std::printf("%s", stages::inspect_dataset(dataset).c_str());
      return 0;
    }
    const io::PyValue root = io::load_torch_file(checkpoint);
    if (tree) std::printf("%s\n", io::describe_tree(root, depth).c_str());
    if (segmenter::is_model_file(root)) {
      std::printf("%s", segmenter::describe_model(checkpoint, segmenter::load_model(checkpoint).info).c_str());
      return 0;
    }
    const stylegan2::Generator g = stylegan2::generator_from_checkpoint(root, checkpoint);
    const auto& arch = g.architecture();
    std::printf("checkpoint:     %s\nlayout:         %s\narchitecture:   %s\nnum_ws:         %d\n"
                "average latent: %s\nlr_mapping:     %g\n",
                checkpoint.c_str(), stylegan2::layout_name(g.layout()), arch.describe().c_str(), arch.num_ws(),
                g.has_average_latent() ? "stored" : "none (estimated when truncating)", g.settings().lr_mapping);
    std::printf("feature layers (--feature-layer N = official numbering):\n");
    for (int n = 1; n + 1 < arch.num_conv_layers(); n += 2) {
      const auto layer = stylegan2::resolve_feature_layer(std::to_string(n), arch);
      std::printf("  %2d  %-10s %-22s %4d channels, %dx%d\n", n, layer.rosinality_name.c_str(), layer.nvlabs_name.c_str(),
                  layer.channels, layer.resolution, layer.resolution);
    }
    return 0;
  });
}

}  // namespace styleseg::cli
