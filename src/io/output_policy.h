// What a command does with outputs that already exist: one rule for every command that
// writes files (README "Existing outputs", command by command):
//   - an output that is also one of the command's inputs, or the same file named by two of
//     its options, is refused, always: writing it would destroy what the command reads;
//   - an existing output, or the partial file a stopped run left, is refused, naming it and
//     the way on, unless the user said what to do with it:
//       --resume  continues the partial file on any number of ranks (the command refuses it,
//                 naming the first option or input that differs, when another job wrote it);
//                 with no partial file and the output complete, there is nothing left to do;
//       --force   starts afresh: stale partial and temporary files of the outputs are removed
//                 now; the outputs themselves are replaced only once the new ones are
//                 complete (outputs are written under a temporary name), so a run that fails
//                 loses nothing;
//   - --resume and --force together, or --resume where the command cannot resume, are refused;
//   - a fresh run whose planned size does not fit in the free space of its output's file system
//     is refused, naming both figures, unless --no-space-check.
//
//   const OutputStart start = OutputPlan("cluster")
//       .input("--features", o.features).output("--out", o.out).output("--preview", o.preview)
//       .partial(partial_path_of(o.out))
//       .decide({o.resume, o.force}, comm);
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace styleseg::comm {
class Communicator;
}

namespace styleseg {

// The user's answer to "the output exists" (--resume, --force).
struct OutputPolicy {
  bool resume = false;
  bool force = false;
  bool check_space = true;  // false: --no-space-check
};

enum class OutputStart {
  Fresh,     // start from the beginning
  Resume,    // --resume, and a partial file (or a resumable output) to continue
  Complete,  // --resume, no partial file and the first output complete: nothing left to do
};

class OutputPlan {
 public:
  // `command` starts every message ("cluster: --out ...").
  explicit OutputPlan(std::string command);

  // A file the command writes, named by `option` ("--out"); skipped when `path` is empty.
  OutputPlan& output(const std::string& option, const std::string& path);
  // A folder the command fills with files; it "exists" when it holds anything.
  OutputPlan& output_folder(const std::string& option, const std::string& path);
  // A file or folder the command reads; skipped when `path` is empty.
  OutputPlan& input(const std::string& option, const std::string& path);
  // About how many bytes a fresh run writes into the first output's folder (0: not known,
  // e.g. compressed data). decide() refuses a fresh run that does not fit in the free space,
  // naming both figures, unless the policy says not to check.
  OutputPlan& needs_bytes(double bytes);
  // What a stopped run leaves for --resume to continue (a partial file, a checkpoint). A plan
  // with one accepts --resume. A partial that is also an output (train-gan's OUT, which it
  // continues) is one.
  OutputPlan& partial(const std::string& path);

  // The rule above, on this process's view of the file system. Throws ConfigError (a path
  // that is input and output, --resume with --force, --resume without a partial in the plan)
  // or OutputError (an output or partial that exists, with neither flag).
  OutputStart decide(const OutputPolicy& policy) const;
  // The same decided by rank 0 (one view of a shared file system), on every rank; its error,
  // when it throws, is thrown on every rank.
  OutputStart decide(const OutputPolicy& policy, comm::Communicator& comm) const;

 private:
  struct Path {
    std::string option;
    std::string path;
    bool folder = false;
  };
  OutputStart decide_start(const OutputPolicy& policy) const;  // the rule without the space check
  void check_distinct() const;
  void check_space() const;
  void remove_stale_files() const;

  std::string command_;
  std::vector<Path> outputs_;
  std::vector<Path> inputs_;
  std::vector<std::string> partials_;
  double bytes_needed_ = 0;
};

// "368.2 GB", "1.5 MB": a size for messages (powers of 1000, as df -H).
std::string human_bytes(double bytes);

// True when `a` and `b` name the same file or folder (the same after resolving '.', '..' and
// links, or one file under two hard links), whether or not they exist yet.
bool same_path(const std::string& a, const std::string& b);

}  // namespace styleseg
