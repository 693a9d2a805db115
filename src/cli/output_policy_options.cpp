#include "cli/cli.h"

namespace styleseg::cli {

// One wording for every command, so that --help reads the same everywhere.
void add_output_policy_options(OptionSet& set, bool& force) {
  set.add_flag("force", &force,
               "replace existing outputs (once the new ones are complete) and remove stale temporary files");
}

void add_output_policy_options(OptionSet& set, bool& resume, bool& force, const std::string& partial) {
  set.add_flag("resume", &resume,
               "continue " + partial + " that a stopped run left, on any number of ranks; refused, naming what differs, "
               "for another job's");
  add_output_policy_options(set, force);
}

void add_space_check_option(OptionSet& set, bool& no_space_check) {
  set.add_flag("no-space-check", &no_space_check,
               "write even when the planned output is larger than the free space of its file system");
}

}  // namespace styleseg::cli
