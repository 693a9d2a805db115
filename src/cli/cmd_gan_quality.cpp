#include <cstdio>

#include "cli/cli.h"
#include "mpi/communicator.h"
#include "stages/gan_quality.h"

namespace styleseg::cli {

int gan_quality_main(const std::vector<std::string>& args) {
  stages::GanQualityOptions o;
  OptionSet set("gan-quality",
                "How close a generator's images are to real ones, with a segmenter trained on the real images in\n"
                "place of FID's Inception network: the Frechet distance between Gaussian fits of the segmenter's\n"
                "pooled backbone features, and per class the Wasserstein distance between the real and generated\n"
                "distributions of the share of an image's pixels given that class. Prints JSON. With --images\n"
                "instead of --checkpoint, scores another image set (a second real set: the figures' floor).");
  set.add_optional("checkpoint", &o.checkpoint, "generator checkpoint (rosinality, NVlabs, styleseg, train-gan's)")
      .add_optional("images", &o.images, "another image set (dataset .h5 or folder) instead of a generator")
      .add("resolution", &o.resolution, "with --images: the side both sets are resized to (0: 64)")
      .add("real", &o.real, "real images: dataset .h5 or a folder of PNG/JPEG")
      .add("model", &o.model, "segmenter trained on the real images (styleseg train)")
      .add("samples", &o.samples, "real and generated images")
      .add("seed", &o.seed, "generated image i draws its latent and noise from (seed, i)")
      .add("device", &o.device, "auto, cpu, cuda or cuda:N")
      .add_optional("out", &o.out, "also write the figures to this JSON file");
  add_output_policy_options(set, o.force);
  return run_command(set, args, [&](comm::Communicator& comm) {
    const nlohmann::json figures = stages::gan_quality(o, comm);
    if (comm.rank() == 0) std::printf("%s\n", figures.dump(2).c_str());
    return 0;
  });
}

}  // namespace styleseg::cli
