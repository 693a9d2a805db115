#include "cli/cli.h"
#include "core/error.h"
#include "stages/segment.h"

namespace styleseg::cli {

int segment_main(const std::vector<std::string>& args) {
  stages::SegmentOptions o;
  OptionSet set("segment",
                "Applies a segmenter of `styleseg train` to PNG/JPEG images of any size (resized to the model's input\n"
                "size and the prediction resized back). Writes OUT/NAME.png (index mask: pixel = class),\n"
                "OUT/overlay/NAME.png (classes coloured over the image) and OUT/overlay/_legend.png. Unreadable images are\n"
                "named and skipped; the exit code is 3 when any failed. Ranks split the images.");
  set.add("model", &o.model, "seg.pt of `styleseg train`")
      .add_list("input", &o.inputs, "image files and folders of them (also as arguments without a name)")
      .add("out", &o.out, "output folder")
      .add("batch", &o.batch, "images per forward pass")
      .add("device", &o.device, "auto, cpu, cuda or cuda:N")
      .add("precision", &o.precision, "float32 or bfloat16 (autocast)")
      .add("alpha", &o.alpha, "opacity of the class colours in the overlays")
      .add("overlays", &o.overlays, "write the overlays (true/false)")
      .positional("input", -1);
  add_output_policy_options(set, o.force);
  return run_command(set, args, [&](comm::Communicator& comm) {
    const stages::SegmentSummary summary = stages::segment(o, comm);
    return summary.failed > 0 ? exit_code_for(InputError("")) : 0;
  });
}

}  // namespace styleseg::cli
