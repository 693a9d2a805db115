#include "core/stop_request.h"

#include <csignal>

namespace styleseg {
namespace {

volatile std::sig_atomic_t stop_flag = 0;

extern "C" void on_stop_signal(int) { stop_flag = 1; }

}  // namespace

void install_stop_signal_handler() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  // Restart interrupted system calls: a signal in the middle of a read, write or MPI call
  // must not turn into an I/O error; the flag is looked at between steps.
  action.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &action, nullptr);
}

bool stop_signal_received() { return stop_flag != 0; }
void request_stop() { stop_flag = 1; }
void clear_stop_request() { stop_flag = 0; }

StopCheck::StopCheck(double time_limit, int rank)
    : time_limit_(time_limit), rank_(rank), start_(std::chrono::steady_clock::now()) {}

bool StopCheck::time_limit_passed() const {
  return rank_ == 0 && time_limit_ > 0 &&
         std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count() > time_limit_;
}

bool StopCheck::due() const { return stop_signal_received() || time_limit_passed(); }

std::string StopCheck::reason() const {
  if (stop_signal_received()) return "on SIGUSR1 (a stop request: Slurm's --signal before a time limit, or preemption)";
  if (time_limit_passed()) return "at --time-limit";
  return "on a stop request another rank received";
}

}  // namespace styleseg
