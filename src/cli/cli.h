// The CLI's shared plumbing: every command file declares its options into an OptionSet
// bound to the stage's options struct, then calls run_command() with the stage call.
// run_command does the rest the same way for every command: common options, --help,
// logging, the communicator, and turning exceptions into one message and an exit code on
// every rank.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/option_roles.h"
#include "core/options.h"
#include "core/stop_request.h"  // kExitResumable

namespace styleseg::comm {
class Communicator;
}
namespace styleseg::sampling {
struct SamplerOptions;
}
namespace styleseg::pipeline {
struct RunOptions;
}

namespace styleseg::cli {

// Runs `body` for the command whose options are `options`, parsed from `args`; body
// returns the exit code (0, or kExitResumable). Returns the process exit code.
int run_command(OptionSet& options, const std::vector<std::string>& args,
                const std::function<int(comm::Communicator&)>& body);

// Parses the options of command `name` from `args` as the command would (messages and exit
// code alike: 0 when they parse, 2 otherwise), without running it. Used by `styleseg run` to
// check every stage before the first one runs.
int check_command_options(const std::string& name, const std::vector<std::string>& args);

struct Command {
  const char* name;
  const char* summary;
  int (*run)(const std::vector<std::string>& args);
};

// Declares the generator and sampling options (checkpoint, seed, truncation, noise,
// feature layer, device, ...) shared by every command that draws samples; the latents
// file only where the command takes one.
void add_sampler_options(OptionSet& set, sampling::SamplerOptions& options, bool with_latents_file);

// Declares --force and, where the command can continue a stopped run, --resume (`partial`
// says what it continues): the output policy of every command that writes (io/output_policy.h).
void add_output_policy_options(OptionSet& set, bool& resume, bool& force, const std::string& partial);
void add_output_policy_options(OptionSet& set, bool& force);
// --no-space-check, for commands that know their output's size before they write it.
void add_space_check_option(OptionSet& set, bool& no_space_check);

// Declares the options of `styleseg run` (the job file, workdir, stages, data, overrides),
// bound to `options`; `submit` reads a job's [run] section through them too.
void add_run_options(OptionSet& set, pipeline::RunOptions& options);

// Every command, in the order `styleseg --help` lists them.
const std::vector<Command>& commands();
// The command called `name`; ConfigError when there is none.
const Command& command_named(const std::string& name);

// The commands (one file each).
int generate_main(const std::vector<std::string>& args);
int init_gan_main(const std::vector<std::string>& args);
int inspect_main(const std::vector<std::string>& args);
int check_comm_main(const std::vector<std::string>& args);
int cluster_main(const std::vector<std::string>& args);
int assign_main(const std::vector<std::string>& args);
int synthesize_main(const std::vector<std::string>& args);
int name_main(const std::vector<std::string>& args);
int direction_main(const std::vector<std::string>& args);
int embed_main(const std::vector<std::string>& args);
int evaluate_main(const std::vector<std::string>& args);
int train_main(const std::vector<std::string>& args);
int segment_main(const std::vector<std::string>& args);
int make_eyes_main(const std::vector<std::string>& args);
int train_gan_main(const std::vector<std::string>& args);
int gan_quality_main(const std::vector<std::string>& args);
int probe_main(const std::vector<std::string>& args);
int run_main(const std::vector<std::string>& args);
int submit_main(const std::vector<std::string>& args);

}  // namespace styleseg::cli
