// Stopping a long stage early but cleanly: at its next resume point it saves what it has,
// leaves a resumable output and exits kExitResumable (75), and a later run
// continues to the same result. Two things ask for it:
//   - SIGUSR1, which Slurm sends before a time limit or preemption with
//     `#SBATCH --signal=USR1@SECONDS` (slurm/lib/styleseg.sh then requeues the job);
//   - a stage's own --time-limit, judged by rank 0's clock so every rank agrees.
// The signal handler only sets a flag; stages look at it where they already make a per-step
// collective, so a signal seen by any rank stops every rank at the same step.
#pragma once

#include <chrono>
#include <string>

namespace styleseg {

// The exit code of a command that stopped at a resume point: run it again to continue
// (EX_TEMPFAIL, so batch scripts can tell it from success and failure and requeue).
constexpr int kExitResumable = 75;

// Installs the SIGUSR1 handler (idempotent; called once by the CLI).
void install_stop_signal_handler();

// True once a stop signal arrived in this process.
bool stop_signal_received();

// Sets the flag as the signal would (tests, and callers that stop for their own reasons).
void request_stop();
// Clears it (tests; a stage that finished anyway).
void clear_stop_request();

// One stage's view: "should I stop at this resume point?" for this rank.
class StopCheck {
 public:
  // time_limit: seconds from now (0: none); only rank 0's clock counts.
  StopCheck(double time_limit, int rank);
  // This rank's vote: the signal arrived here, or (rank 0) the time limit passed. Stages
  // combine the votes of all ranks (max / sum) in a collective.
  bool due() const;
  // Why the stage stopped, for its log line: "at --time-limit" or "on SIGUSR1 ...".
  std::string reason() const;

 private:
  bool time_limit_passed() const;  // rank 0 only

  double time_limit_;
  int rank_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace styleseg
