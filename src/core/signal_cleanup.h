// Temporary files are not left behind when a process is terminated: SIGTERM (mpirun passing
// on a kill, Slurm's scancel or time limit), SIGINT (Ctrl-C) and SIGHUP end the process, but
// first its handler removes every temporary file registered here (unlink is safe in a signal
// handler), names on stderr those it keeps because --resume can continue them, and then lets
// the signal end the process as it would have (exit status 128 + signal).
//
// AtomicOutput registers its temporary file, through a TemporaryFileGuard, for as long as it
// exists. SIGKILL cannot be caught: a file it leaves is removed by the next --force
// (io/output_policy.h). (k-means' spill files need none: they are unlinked once opened.)
#pragma once

#include <string>

namespace styleseg {

// Installs the handlers (idempotent; called once by the CLI). Tests may call it too.
void install_termination_cleanup();

// One registered file. Movable, not copyable; unregisters on destruction.
class TemporaryFileGuard {
 public:
  enum class OnSignal { Remove, Keep };
  TemporaryFileGuard() = default;
  explicit TemporaryFileGuard(const std::string& path, OnSignal on_signal = OnSignal::Remove);
  TemporaryFileGuard(TemporaryFileGuard&& other) noexcept;
  TemporaryFileGuard& operator=(TemporaryFileGuard&& other) noexcept;
  TemporaryFileGuard(const TemporaryFileGuard&) = delete;
  TemporaryFileGuard& operator=(const TemporaryFileGuard&) = delete;
  ~TemporaryFileGuard();

  // Kept on a signal (a partial file --resume can use) or removed.
  void set_on_signal(OnSignal on_signal);
  // Forgets the file (it was renamed to its final name, or removed).
  void release();

 private:
  int slot_ = -1;  // -1: nothing registered (no free slot, or released)
};

}  // namespace styleseg
