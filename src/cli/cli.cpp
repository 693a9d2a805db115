#include "cli/cli.h"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>

#include "core/device.h"
#include "core/error.h"
#include "core/log.h"
#include "io/h5.h"
#include "mpi/communicator.h"
#include "mpi/launch.h"

namespace styleseg::cli {
namespace {

struct CommonOptions {
  std::string backend = "auto";
  std::string log_level = "info";
  bool log_all_ranks = false;
  int threads = 0;
  std::string mpi_io_hints;
  int64_t h5_alignment = 0;
};

void add_common_options(OptionSet& options, CommonOptions& common) {
  options.add("backend", &common.backend,
              "communication backend: auto (NCCL with GPUs; else MPI under mpirun/srun; else local: one process, no MPI), "
              "mpi, nccl, local");
  options.add("log-level", &common.log_level, "debug, info, warn or error");
  options.add_flag("log-all-ranks", &common.log_all_ranks, "every rank logs (default: rank 0; warnings from all)");
  options.add("threads", &common.threads, "intra-op CPU threads per rank (0: OMP_NUM_THREADS, else cores / ranks on the node); may change\n"
              "float32 results in the last bits, not what is sampled (README \"Determinism\")");
  options.add_optional("mpi-io-hints", &common.mpi_io_hints,
                       "MPI-IO hints for files all ranks write, KEY=VALUE,... e.g. romio_cb_write=enable,striping_factor=16 "
                       "(default: $STYLESEG_MPIIO_HINTS; README: Running on a cluster)");
  options.add("h5-alignment", &common.h5_alignment,
              "bytes; align datasets of shared HDF5 files to this (the Lustre stripe or GPFS block size; 0: none)");
}

// The parallel I/O settings of every shared HDF5 file this process writes.
void configure_parallel_io(const CommonOptions& common) {
  std::string hints = common.mpi_io_hints, source = "--mpi-io-hints";
  if (hints.empty() && std::getenv("STYLESEG_MPIIO_HINTS")) {
    hints = std::getenv("STYLESEG_MPIIO_HINTS");
    source = "STYLESEG_MPIIO_HINTS";
  }
  h5::set_parallel_io(h5::ParallelIo{h5::parse_mpi_io_hints(hints, source), common.h5_alignment});
}

}  // namespace

namespace {
bool g_parse_only = false;  // set by check_command_options around one command's parse
}  // namespace

const Command& command_named(const std::string& name) {
  for (const auto& c : commands())
    if (name == c.name) return c;
  throw ConfigError("no command '" + name + "'");
}

int check_command_options(const std::string& name, const std::vector<std::string>& args) {
  const Command& command = command_named(name);
  struct ParseOnly {
    ParseOnly() { g_parse_only = true; }
    ~ParseOnly() { g_parse_only = false; }
  } scope;
  return command.run(args);
}

int run_command(OptionSet& options, const std::vector<std::string>& args,
                const std::function<int(comm::Communicator&)>& body) {
  CommonOptions common;
  add_common_options(options, common);
  // MPI starts only where it has peers to join (or --backend asks for it, below): one
  // process on its own runs on the local backend without MPI's start-up.
  std::optional<comm::MpiSession> session;
  if (comm::launched_with_peers()) session.emplace();
  const int world_rank = session ? session->world_rank() : 0;
  // Options are the same on every rank, so a bad option fails everywhere at once: rank 0
  // says why, every rank exits 2, no collective is pending.
  try {
    if (!options.parse(args)) {
      if (world_rank == 0) std::printf("%s", options.help().c_str());
      return 0;
    }
    if (g_parse_only) return 0;
    log::configure(world_rank, common.log_all_ranks, log::parse_level(common.log_level));
    configure_parallel_io(common);
  } catch (const std::exception& e) {
    if (world_rank == 0) std::fprintf(stderr, "styleseg %s: %s\n", options.command().c_str(), e.what());
    return exit_code_for(e);
  }
  std::unique_ptr<comm::Communicator> comm;
  try {
    const comm::Backend backend = comm::parse_backend(common.backend);
    if (backend != comm::Backend::Local && !session) session.emplace();
    comm = comm::make_communicator(backend);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "styleseg %s: rank %d: %s\n", options.command().c_str(), world_rank, e.what());
    return exit_code_for(e);
  }
  configure_threads(common.threads, comm->local_size());
  return comm::run_guarded(*comm, [&]() { return body(*comm); });
}

const std::vector<Command>& commands() {
  static const std::vector<Command> list{
      {"run", "the whole method as one restartable job (stages skipped when up to date) ending in report.html", run_main},
      {"submit", "write (and submit) the sbatch script of a job file for N nodes x G GPUs on Slurm (requeues itself)", submit_main},
      {"generate", "images, latents and layer features from a StyleGAN2 checkpoint, into one HDF5 file", generate_main},
      {"cluster", "k-means over per-pixel features of generator samples or a feature file (distributed)", cluster_main},
      {"assign", "nearest-centroid labels of every vector or pixel under a clusters file", assign_main},
      {"direction", "a W-space direction that makes a rare attribute common (InterFaceGAN / CLIP-optimised)", direction_main},
      {"name", "name each cluster with CLIP: dense embeddings averaged over its regions, the closest prompt", name_main},
      {"synthesize", "a dataset of samples and their masks in one HDF5 file written by all ranks (resumable)", synthesize_main},
      {"train", "train the segmenter on a synthetic dataset, data-parallel (checkpoints, resume, validation mIoU)", train_main},
      {"segment", "apply a trained segmenter to PNG/JPEG images: index masks and colour overlays", segment_main},
      {"evaluate", "score predicted masks against ground truth (IoU, mIoU, Hungarian mapping, confusion)", evaluate_main},
      {"make-eyes", "a procedural eye dataset (NIR or colour) with exact masks, in the dataset layout", make_eyes_main},
      {"train-gan", "train a StyleGAN2 from scratch on images, data-parallel (rosinality's recipe and checkpoint layout)", train_gan_main},
      {"gan-quality", "Frechet and pixel-share distances of a generator's images to real ones, via a trained segmenter", gan_quality_main},
      {"probe", "where the unsupervised result loses: linear ceiling vs k-means of feature variants, against a reference segmenter", probe_main},
      {"init-gan", "write a freshly initialised StyleGAN2 generator (the starting point of training)", init_gan_main},
      {"embed", "CLIP embeddings of prompts and images (tokens, text, image, logits, dense maps) into HDF5", embed_main},
      {"inspect", "show what a checkpoint or a synthetic dataset holds (layout, classes, provenance, pictures)", inspect_main},
      {"check-comm", "check the communication layer across ranks (collectives, failure handling)", check_comm_main},
  };
  return list;
}

}  // namespace styleseg::cli
