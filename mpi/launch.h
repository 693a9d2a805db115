// Starting and ending a job: the MPI session, choosing and creating the communicator, turning
// an exception on one rank into a clean end of every rank, and the collective watchdog.
//
// A program's main does, in this order:
//   styleseg::comm::MpiSession mpi(&argc, &argv);
//   auto comm = styleseg::comm::make_communicator(styleseg::comm::parse_backend(option));
//   return styleseg::comm::run_guarded(*comm, [&] { return stage(options, *comm); });
// (the communicator is destroyed before the session, which finalises MPI).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "mpi/communicator.h"

namespace styleseg::comm {

// RAII over MPI_Init_thread(MPI_THREAD_FUNNELED) / MPI_Finalize. Without mpirun/srun the
// process is an MPI singleton of size 1. When MPI is already initialised (a host program
// did it) the session neither initialises nor finalises. Throws CommError when MPI cannot
// start, or was finalised already.
class MpiSession {
 public:
  explicit MpiSession(int* argc = nullptr, char*** argv = nullptr);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  // Whether this object called MPI_Init_thread (and so will call MPI_Finalize).
  bool owns_mpi() const { return owns_; }
  // Rank in MPI_COMM_WORLD: known before any communicator exists (the CLI uses it to
  // print option errors once).
  int world_rank() const;

 private:
  bool owns_ = false;
};

// Whether a launcher started this process among others that MPI_Init would join it to:
// mpirun/mpiexec (OpenMPI's OMPI_COMM_WORLD_SIZE, Hydra's PMI_RANK), srun with PMI or PMIx
// (PMI_RANK, PMI_FD, PMIX_RANK) or srun starting several tasks (SLURM_STEP_NUM_TASKS > 1).
bool launched_with_peers();

// "mpi" | "nccl" | "local" | "auto". auto: nccl when this build has the NCCL backend, LibTorch
// has CUDA and a CUDA device is visible; else mpi under a launcher (launched_with_peers);
// else local, one process that never starts MPI (an MPI singleton forks an orted first:
// about 0.3 s on every command). "local" under a launcher is refused: every rank would work
// alone and write the same outputs. Throws ConfigError naming the value otherwise, and for
// "nccl" in a build without NCCL.
Backend parse_backend(const std::string& text);

// Collective over MPI_COMM_WORLD: the communicator of that backend, with the collective
// watchdog (below) around it unless STYLESEG_COMM_TIMEOUT is 0. Needs an MpiSession, except
// for Backend::Local (one process, no MPI, no watchdog). Throws CommError when the backend
// cannot start (e.g. NCCL on a node without a GPU).
std::unique_ptr<Communicator> make_communicator(Backend backend);

// Runs body and returns its exit code. On an exception: prints "rank R: <what>" to stderr
// on the throwing rank (whatever the log level); then, when the job has more than one rank,
// comm.abort(code) ends every rank with a non-zero exit (no rank is left waiting in a
// collective); with one rank it returns code = styleseg::exit_code_for(e). A non-zero
// return of body is returned as is: make it agree across ranks (e.g. with any_rank).
int run_guarded(Communicator& comm, const std::function<int()>& body);

// ---- collective watchdog -----------------------------------------------------------------
// A rank that dies or stalls leaves the others blocked in their next collective forever (on
// a cluster: until the job's time limit). The watchdog records when the current blocking
// collective started (one atomic store on entry and one on exit) and a background thread
// ends the job when one has waited longer than the timeout, naming the collective, the rank
// and the wait. Like c10d's timeout (also 30 minutes by default), it cannot tell a dead
// peer from one that is merely busy: a job where one rank works alone for longer (writing
// every result, say) needs a larger STYLESEG_COMM_TIMEOUT.
class CollectiveWatchdog {
 public:
  using Clock = std::chrono::steady_clock;
  // Called on the watchdog's thread (or in poll()'s caller), at most once per collective.
  using OnTimeout = std::function<void(const char* collective, double waited_seconds)>;

  struct Options {
    std::chrono::milliseconds timeout{std::chrono::seconds(1800)};
    // How often the thread looks; 0: no thread (call poll() yourself, as tests do).
    // Negative: timeout / 10, clamped to [1 ms, 1 s].
    std::chrono::milliseconds poll_interval{-1};
    // Where "now" comes from; empty: Clock::now. Tests inject a fake clock.
    std::function<Clock::time_point()> clock;
  };

  CollectiveWatchdog(Options options, OnTimeout on_timeout);
  ~CollectiveWatchdog();  // stops and joins the thread
  CollectiveWatchdog(const CollectiveWatchdog&) = delete;
  CollectiveWatchdog& operator=(const CollectiveWatchdog&) = delete;

  // Marks the start and end of a blocking collective. `collective` must outlive the call (a
  // string literal). Not nested; one thread calls them (MPI_THREAD_FUNNELED).
  void begin(const char* collective) noexcept;
  void end() noexcept;

  // One check: when the current collective has run past the timeout and was not reported
  // yet, calls on_timeout and returns true.
  bool poll();

  std::chrono::milliseconds timeout() const { return options_.timeout; }

 private:
  int64_t now_ns() const;
  void run();

  static constexpr int64_t kIdle = INT64_MIN;
  Options options_;
  OnTimeout on_timeout_;
  std::atomic<int64_t> started_ns_{kIdle};        // start of the current collective, or kIdle
  std::atomic<const char*> collective_{nullptr};  // its name
  int64_t reported_ns_ = kIdle;                   // the start already reported (poll's thread only)
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

// The timeout from STYLESEG_COMM_TIMEOUT (seconds, fractions allowed; 0 disables the
// watchdog); 1800 s when unset or empty. Throws ConfigError for anything else.
std::chrono::milliseconds collective_timeout_from_env();

// The message the watchdog ends a job with.
std::string watchdog_message(const char* collective, int rank, double waited_seconds, double timeout_seconds);

// `inner` with every blocking collective watched by a CollectiveWatchdog of `timeout`.
// on_timeout empty: print watchdog_message and inner.abort(exit code of CommError). What
// make_communicator uses; public so tests can wrap a fake communicator.
std::unique_ptr<Communicator> watch_collectives(std::unique_ptr<Communicator> inner,
                                                std::chrono::milliseconds timeout,
                                                CollectiveWatchdog::OnTimeout on_timeout = {});

}  // namespace styleseg::comm
