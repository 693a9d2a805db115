#include "mpi/launch.h"

#include <ATen/Context.h>
#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "core/error.h"
#include "core/log.h"
#include "mpi/local_communicator.h"
#include "mpi/mpi_communicator.h"
#ifdef STYLESEG_WITH_NCCL
#include "mpi/nccl_communicator.h"
#endif

namespace styleseg::comm {

// ---- MpiSession ----------------------------------------------------------------------------

MpiSession::MpiSession(int* argc, char*** argv) {
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (initialised) return;
  int finalised = 0;
  MPI_Finalized(&finalised);
  if (finalised) throw CommError("MPI was finalised already and cannot start again in this process");
  int provided = MPI_THREAD_SINGLE;
  if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
    throw CommError("MPI_Init_thread failed: MPI could not start (is the launcher mpirun/srun set up?)");
  }
  owns_ = true;
  // Only the main thread calls MPI (the watchdog thread calls MPI_Abort alone, to end the job).
  if (provided < MPI_THREAD_FUNNELED) {
    log::warn("MPI provides thread level {} below MPI_THREAD_FUNNELED; continuing", provided);
  }
}

int MpiSession::world_rank() const {
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

MpiSession::~MpiSession() {
  if (!owns_) return;
  int finalised = 0;
  MPI_Finalized(&finalised);
  if (!finalised) MPI_Finalize();
}

// ---- choosing and creating the backend -------------------------------------------------------

namespace {

bool nccl_usable() {
#ifdef STYLESEG_WITH_NCCL
  // LibTorch must be able to put tensors on the GPU too; with a CPU LibTorch the NCCL
  // backend could start but nothing could use it.
  return visible_cuda_devices() > 0 && at::hasCUDA();
#else
  return false;
#endif
}

}  // namespace

bool launched_with_peers() {
  for (const char* marker : {"OMPI_COMM_WORLD_SIZE", "PMI_RANK", "PMI_FD", "PMIX_RANK"}) {
    const char* value = std::getenv(marker);
    if (value && *value) return true;
  }
  const char* tasks = std::getenv("SLURM_STEP_NUM_TASKS");
  return tasks && std::atoi(tasks) > 1;
}

Backend parse_backend(const std::string& text) {
  if (text == "mpi") return Backend::Mpi;
  if (text == "local") {
    if (launched_with_peers()) {
      throw ConfigError("--backend local: this process was started by a launcher among other ranks, which would all "
                        "work alone and write the same outputs; use mpi, nccl or auto");
    }
    return Backend::Local;
  }
  if (text == "nccl") {
#ifdef STYLESEG_WITH_NCCL
    return Backend::Nccl;
#else
    throw ConfigError(
        "--backend nccl: this build of styleseg has no NCCL backend (configure it on a machine with CUDA "
        "and NCCL, -DSTYLESEG_NCCL=ON); use --backend mpi");
#endif
  }
  if (text == "auto") return nccl_usable() ? Backend::Nccl : launched_with_peers() ? Backend::Mpi : Backend::Local;
  throw ConfigError("--backend: '" + text + "' is not a communication backend (mpi, nccl, local, auto)");
}

std::unique_ptr<Communicator> make_communicator(Backend backend) {
  if (backend == Backend::Local) return std::make_unique<LocalCommunicator>();
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (!initialised) throw CommError("make_communicator: MPI is not initialised (create an MpiSession first)");
  // Read before creating the backend so a bad value fails before any collective.
  const std::chrono::milliseconds timeout = collective_timeout_from_env();
  std::unique_ptr<Communicator> comm;
  switch (backend) {
    case Backend::Mpi: comm = std::make_unique<MpiCommunicator>(); break;
    case Backend::Nccl:
#ifdef STYLESEG_WITH_NCCL
      comm = std::make_unique<NcclCommunicator>();
      break;
#else
      throw CommError("make_communicator: this build of styleseg has no NCCL backend");
#endif
    case Backend::Local: break;  // returned above
    case Backend::Threads: throw CommError("make_communicator: thread ranks are made by run_as_threads (tests)");
  }
  if (timeout.count() == 0) return comm;
  return watch_collectives(std::move(comm), timeout);
}

// ---- run_guarded ----------------------------------------------------------------------------

int run_guarded(Communicator& comm, const std::function<int()>& body) {
  int code = 1;
  std::string message;
  try {
    return body();
  } catch (const std::exception& e) {
    code = exit_code_for(e);
    message = e.what();
  } catch (...) {
    message = "unknown exception (not derived from std::exception)";
  }
  if (comm.size() > 1) comm.abort(code, message);  // prints "rank R: message", ends every rank
  // fprintf rather than the logger: the message must appear whatever the log level is.
  std::fflush(stdout);
  std::fprintf(stderr, "rank %d: %s\n", comm.rank(), message.c_str());
  std::fflush(stderr);
  return code;
}

// ---- watchdog --------------------------------------------------------------------------------

CollectiveWatchdog::CollectiveWatchdog(Options options, OnTimeout on_timeout)
    : options_(std::move(options)), on_timeout_(std::move(on_timeout)) {
  if (!options_.clock) options_.clock = [] { return Clock::now(); };
  if (options_.poll_interval.count() < 0) {
    options_.poll_interval = std::clamp(options_.timeout / 10, std::chrono::milliseconds(1),
                                        std::chrono::milliseconds(1000));
  }
  if (options_.poll_interval.count() > 0 && options_.timeout.count() > 0) {
    thread_ = std::thread([this] { run(); });
  }
}

CollectiveWatchdog::~CollectiveWatchdog() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

int64_t CollectiveWatchdog::now_ns() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(options_.clock().time_since_epoch()).count();
}

void CollectiveWatchdog::begin(const char* collective) noexcept {
  collective_.store(collective, std::memory_order_relaxed);
  started_ns_.store(now_ns(), std::memory_order_release);
}

void CollectiveWatchdog::end() noexcept { started_ns_.store(kIdle, std::memory_order_relaxed); }

bool CollectiveWatchdog::poll() {
  const int64_t started = started_ns_.load(std::memory_order_acquire);
  if (started == kIdle || started == reported_ns_) return false;
  const int64_t waited_ns = now_ns() - started;
  const int64_t timeout_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(options_.timeout).count();
  if (waited_ns < timeout_ns) return false;
  reported_ns_ = started;
  const char* collective = collective_.load(std::memory_order_relaxed);
  if (on_timeout_) on_timeout_(collective ? collective : "a collective", static_cast<double>(waited_ns) * 1e-9);
  return true;
}

void CollectiveWatchdog::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!wake_.wait_for(lock, options_.poll_interval, [this] { return stop_; })) {
    lock.unlock();
    poll();
    lock.lock();
  }
}

std::chrono::milliseconds collective_timeout_from_env() {
  const char* text = std::getenv("STYLESEG_COMM_TIMEOUT");
  if (text == nullptr || *text == '\0') return std::chrono::seconds(1800);
  char* end = nullptr;
  const double seconds = std::strtod(text, &end);
  while (end != nullptr && (*end == ' ' || *end == '\t')) ++end;
  if (end == text || *end != '\0' || !std::isfinite(seconds) || seconds < 0 || seconds > 1e9) {
    throw ConfigError(std::string("STYLESEG_COMM_TIMEOUT: '") + text +
                      "' is not a number of seconds (0 disables the collective watchdog)");
  }
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(seconds * 1000.0)));
}

std::string watchdog_message(const char* collective, int rank, double waited_seconds, double timeout_seconds) {
  std::ostringstream msg;
  msg.setf(std::ios::fixed);
  msg.precision(1);
  msg << "collective watchdog: rank " << rank << " has waited " << waited_seconds << " s in " << collective
      << " (timeout " << timeout_seconds
      << " s, STYLESEG_COMM_TIMEOUT); another rank has probably stalled or died before reaching it "
         "(look for its error above); ending the job";
  return msg.str();
}

namespace {

// The watchdog armed for the scope of one blocking call.
struct Watch {
  Watch(CollectiveWatchdog& w, const char* collective) : watchdog(w) { watchdog.begin(collective); }
  ~Watch() { watchdog.end(); }
  CollectiveWatchdog& watchdog;
};

// A started collective whose wait is watched.
class WatchedPending final : public PendingCollective {
 public:
  WatchedPending(std::unique_ptr<PendingCollective> inner, CollectiveWatchdog& watchdog)
      : inner_(std::move(inner)), watchdog_(watchdog) {}
  bool test() override { return inner_->test(); }
  void wait() override {
    Watch watch(watchdog_, "allreduce (started before)");
    inner_->wait();
  }

 private:
  std::unique_ptr<PendingCollective> inner_;
  CollectiveWatchdog& watchdog_;
};

// The watchdog around a backend: one atomic store before and after each blocking call.
class WatchedCommunicator final : public Communicator {
 public:
  WatchedCommunicator(std::unique_ptr<Communicator> inner, std::chrono::milliseconds timeout,
                      CollectiveWatchdog::OnTimeout on_timeout)
      : inner_(std::move(inner)),
        watchdog_(CollectiveWatchdog::Options{timeout, std::chrono::milliseconds(-1), {}},
                  on_timeout ? std::move(on_timeout) : default_on_timeout(*inner_, timeout)) {}

  int rank() const override { return inner_->rank(); }
  int size() const override { return inner_->size(); }
  int local_rank() const override { return inner_->local_rank(); }
  int local_size() const override { return inner_->local_size(); }
  Backend backend() const override { return inner_->backend(); }
  c10::Device device() const override { return inner_->device(); }

  void allreduce(at::Tensor& t, ReduceOp op) override {
    Watch watch(watchdog_, "allreduce");
    inner_->allreduce(t, op);
  }
  // Starting is watched like a blocking call; the wait is watched where it happens.
  std::unique_ptr<PendingCollective> start_allreduce(at::Tensor& t, ReduceOp op) override {
    Watch watch(watchdog_, "allreduce");
    return std::make_unique<WatchedPending>(inner_->start_allreduce(t, op), watchdog_);
  }
  void broadcast(at::Tensor& t, int root) override {
    Watch watch(watchdog_, "broadcast");
    inner_->broadcast(t, root);
  }
  at::Tensor allgather(const at::Tensor& t) override {
    Watch watch(watchdog_, "allgather");
    return inner_->allgather(t);
  }
  void barrier() override {
    Watch watch(watchdog_, "barrier");
    inner_->barrier();
  }
  [[noreturn]] void abort(int exit_code, const std::string& message) override {
    inner_->abort(exit_code, message);
    std::_Exit(exit_code);  // not reached; GCC does not carry [[noreturn]] through virtual calls
  }

 private:
  static CollectiveWatchdog::OnTimeout default_on_timeout(Communicator& inner, std::chrono::milliseconds timeout) {
    const double timeout_seconds = static_cast<double>(timeout.count()) * 1e-3;
    return [&inner, timeout_seconds](const char* collective, double waited) {
      // From the watchdog's thread while the main thread is blocked in MPI or NCCL. Under
      // MPI_THREAD_FUNNELED only MPI_Abort is called from here, which ends the process.
      inner.abort(exit_code_for(CommError("")), watchdog_message(collective, inner.rank(), waited, timeout_seconds));
    };
  }

  std::unique_ptr<Communicator> inner_;  // declared first: destroyed after the watchdog's thread stops
  CollectiveWatchdog watchdog_;
};

}  // namespace

std::unique_ptr<Communicator> watch_collectives(std::unique_ptr<Communicator> inner, std::chrono::milliseconds timeout,
                                                CollectiveWatchdog::OnTimeout on_timeout) {
  return std::make_unique<WatchedCommunicator>(std::move(inner), timeout, std::move(on_timeout));
}

}  // namespace styleseg::comm
