#include "cli/cli.h"
#include "stages/make_eyes.h"

namespace styleseg::cli {

int make_eyes_main(const std::vector<std::string>& args) {
  stages::MakeEyesOptions o;
  OptionSet set("make-eyes",
                "Writes a procedural eye dataset with exact masks (0 background, 1 sclera, 2 iris, 3 pupil) in the\n"
                "dataset layout of synthesize: near-infrared grey (like OpenEDS) or colour close-ups varying in\n"
                "position, scale, roll, lids (down to blinks), gaze (foreshortened iris and pupil), pupil size, iris\n"
                "texture, vessels, lashes over the eye (background in the mask), glints (the class beneath), brows,\n"
                "make-up, illumination, exposure, blur and noise. Deterministic from --seed; sample i is the same on\n"
                "any number of ranks. --first-index gives a disjoint split with the same seed.");
  set.add("out", &o.out, "output HDF5 file")
      .add("count", &o.count, "number of images")
      .add("size", &o.size, "square side (0: --height x --width)")
      .add("height", &o.height, "image height")
      .add("width", &o.width, "image width")
      .add("seed", &o.seed, "seed")
      .add_flag("colour", &o.colour, "colour images (default: near-infrared grey)")
      .add("first-index", &o.first_index, "index of the first sample (splits: train 0.., test 100000..)")
      .add("batch", &o.batch, "images per rank per round")
      .add_optional("png-dir", &o.png_dir, "also write PNG_DIR/images/eye_I.png and PNG_DIR/masks/eye_I.png")
      .add_optional("grid", &o.grid, "PNG of the first images beside their masks")
      .add("grid-count", &o.grid_count, "images in the grid")
      .add("baseline-test", &o.baseline_test, "score the intensity-threshold baseline on the last N images (0: no)");
  add_output_policy_options(set, o.force);
  add_space_check_option(set, o.no_space_check);
  return run_command(set, args, [&](comm::Communicator& comm) {
    stages::make_eyes(o, comm, set.to_json(non_result_options()));
    return 0;
  });
}

}  // namespace styleseg::cli
