// styleseg: one binary, one subcommand per stage. This file only dispatches.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cli/cli.h"
#include "core/memory_reuse.h"
#include "core/signal_cleanup.h"
#include "core/stop_request.h"

namespace {

void print_usage() {
  std::printf(
      "styleseg %s: unsupervised semantic segmentation from StyleGAN2 features\n"
      "(\"Segmentation in Style\", Pakhomov et al., 2021), from one process to a Slurm cluster.\n\n"
      "Usage: styleseg <command> [--job FILE.ini] [options]\n"
      "       mpirun -np N styleseg <command> ...   (or srun: every command runs on N ranks)\n\n"
      "Commands:\n",
      STYLESEG_VERSION);
  for (const auto& command : styleseg::cli::commands()) std::printf("  %-12s %s\n", command.name, command.summary);
  std::printf("\n'styleseg <command> --help' lists a command's options and their defaults.\n"
              "A job file holds one [section] per command; the command line overrides it.\n");
}

}  // namespace

int main(int argc, char** argv) {
  // Large tensors reuse freed memory instead of fresh pages every layer (core/memory_reuse.h).
  styleseg::keep_freed_memory_for_reuse();
  // Past a file-size limit (ulimit -f, a quota) the kernel kills the process with SIGXFSZ
  // unless it is ignored; ignored, the write fails with EFBIG and the user gets an error
  // naming the file, like a full disk.
  std::signal(SIGXFSZ, SIG_IGN);
  // SIGUSR1 (Slurm's --signal=USR1@T) asks long stages to stop at their next resume point.
  styleseg::install_stop_signal_handler();
  // SIGTERM, SIGINT, SIGHUP end the process without leaving temporary files behind.
  styleseg::install_termination_cleanup();
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
    print_usage();
    return argc < 2 ? 2 : 0;
  }
  if (!std::strcmp(argv[1], "--version")) {
    std::printf("styleseg %s\n", STYLESEG_VERSION);
    return 0;
  }
  const std::string name = argv[1];
  for (const auto& command : styleseg::cli::commands())
    if (name == command.name) return command.run(std::vector<std::string>(argv + 2, argv + argc));
  std::fprintf(stderr, "styleseg: unknown command '%s' (see 'styleseg --help')\n", name.c_str());
  return 2;
}
