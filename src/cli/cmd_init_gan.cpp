#include "cli/cli.h"
#include "core/error.h"
#include "core/log.h"
#include "io/output_policy.h"
#include "mpi/communicator.h"
#include "models/stylegan2/checkpoint.h"

namespace styleseg::cli {

int init_gan_main(const std::vector<std::string>& args) {
  std::string out, from, dtype = "float32";
  int resolution = 256, z_dim = 512, w_dim = 512, mapping_layers = 8, channel_multiplier = 2, channel_max = 512;
  uint64_t seed = 0;
  bool force = false;
  double lr_mapping = 0.01;
  OptionSet set("init-gan",
                "Writes a freshly initialised StyleGAN2 generator (rosinality's initialisation) in styleseg's\n"
                "checkpoint layout (rosinality {g_ema, latent_avg} plus a 'styleseg' entry), readable by\n"
                "`styleseg generate` and by rosinality's Python code. Channels follow config-f:\n"
                "min(channel-max, 512 up to 32x32, then 256*m at 64, 128*m at 128, ...). With --from it copies the\n"
                "g_ema of a checkpoint instead (a train-gan checkpoint holds g, d and optimiser states too): the small\n"
                "file a job needs to use the generator.");
  set.add("out", &out, "output checkpoint (.pt)")
      .add("resolution", &resolution, "image size (a power of two >= 8)")
      .add("z-dim", &z_dim, "latent z width")
      .add("w-dim", &w_dim, "latent w width")
      .add("mapping-layers", &mapping_layers, "layers of the mapping network")
      .add("channel-multiplier", &channel_multiplier, "config-f channel multiplier m")
      .add("channel-max", &channel_max, "cap on the channels of every block")
      .add("lr-mapping", &lr_mapping, "mapping learning-rate multiplier (stored in the file)")
      .add("seed", &seed, "initialisation seed")
      .add_optional("from", &from, "copy the g_ema of this checkpoint (the architecture options are then ignored)")
      .add("dtype", &dtype, "float32, or float16: half the file (styleseg widens it to float32 on load)");
  add_output_policy_options(set, force);
  return run_command(set, args, [&](comm::Communicator& comm) {
    STYLESEG_CHECK(!out.empty(), ConfigError, "init-gan: --out is required");
    STYLESEG_CHECK(dtype == "float32" || dtype == "float16", ConfigError,
                   "init-gan: --dtype must be float32 or float16, not '" + dtype + "'");
    const at::ScalarType storage = dtype == "float16" ? at::kHalf : at::kFloat;
    OutputPlan("init-gan").input("--from", from).output("--out", out).decide({false, force}, comm);
    if (!from.empty()) {
      if (comm.rank() == 0) {
        const stylegan2::Generator g = stylegan2::load_generator(from);
        stylegan2::save_generator(g, out, storage);
        log::info("wrote the g_ema of {} to {}: {}", from, out, g.architecture().describe());
      }
      comm.barrier();
      return 0;
    }
    STYLESEG_CHECK(resolution >= 8 && resolution <= stylegan2::kMaxResolution && (resolution & (resolution - 1)) == 0,
                   ConfigError, "init-gan: --resolution must be a power of two from 8 to " +
                                    std::to_string(stylegan2::kMaxResolution) + ", got " + std::to_string(resolution));
    STYLESEG_CHECK(z_dim > 0 && w_dim > 0 && mapping_layers > 0 && channel_multiplier > 0 && channel_max > 0,
                   ConfigError, "init-gan: --z-dim, --w-dim, --mapping-layers, --channel-multiplier and --channel-max must be positive");
    STYLESEG_CHECK(lr_mapping > 0, ConfigError, "init-gan: --lr-mapping must be positive");
    stylegan2::Architecture arch;
    arch.resolution = resolution;
    arch.z_dim = z_dim;
    arch.w_dim = w_dim;
    arch.mapping_layers = mapping_layers;
    arch.channels = stylegan2::default_channels(resolution, channel_multiplier, channel_max);
    if (comm.rank() == 0) {
      stylegan2::save_generator(stylegan2::init_generator(arch, seed, lr_mapping), out, storage);
      log::info("wrote a new generator to {}: {}", out, arch.describe());
    }
    comm.barrier();
    return 0;
  });
}

}  // namespace styleseg::cli
