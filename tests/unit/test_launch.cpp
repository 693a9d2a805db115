// mpi/launch.h without mpiexec: backend names, the NCCL backend's failure on a machine
// without a GPU, and the collective watchdog's timing (fake clock, then a real thread
// around a fake communicator).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/error.h"
#include "support/expect_error.h"
#include "mpi/communicator.h"
#include "mpi/launch.h"

namespace styleseg::comm {
namespace {

using namespace std::chrono_literals;

// MPI can start once per process: one singleton session for every test here that needs it,
// finalised at exit.
void ensure_mpi() { static MpiSession session; }

TEST(CommLaunch, ParseBackendNames) {
  EXPECT_EQ(parse_backend("mpi"), Backend::Mpi);
#ifdef STYLESEG_WITH_NCCL
  EXPECT_EQ(parse_backend("nccl"), Backend::Nccl);
#else
  EXPECT_THROW(parse_backend("nccl"), ConfigError);
#endif
}

// Sets an environment variable for one scope, restoring what was there.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    const char* old = std::getenv(name);
    if (old) old_ = old;
    had_ = old != nullptr;
    if (value) setenv(name, value, 1); else unsetenv(name);
  }
  ~ScopedEnv() {
    if (had_) setenv(name_, old_.c_str(), 1); else unsetenv(name_);
  }
 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

TEST(CommLaunch, AutoIsLocalAloneAndMpiUnderALauncher) {
  if (at::hasCUDA()) GTEST_SKIP() << "with a GPU, auto may pick NCCL";
  // ctest starts unit tests without a launcher (the MPI tests run under mpiexec).
  ASSERT_FALSE(launched_with_peers());
  EXPECT_EQ(parse_backend("auto"), Backend::Local);
  EXPECT_EQ(parse_backend("local"), Backend::Local);
  for (const auto& [name, value] : std::vector<std::pair<const char*, const char*>>{
           {"OMPI_COMM_WORLD_SIZE", "2"}, {"PMIX_RANK", "0"}, {"PMI_RANK", "1"}, {"PMI_FD", "7"}, {"SLURM_STEP_NUM_TASKS", "4"}}) {
    ScopedEnv launcher(name, value);
    EXPECT_TRUE(launched_with_peers()) << name;
    EXPECT_EQ(parse_backend("auto"), Backend::Mpi) << name;
    test::expect_error<ConfigError>([] { parse_backend("local"); }, {"--backend local", "launcher"});
  }
  ScopedEnv one_task("SLURM_STEP_NUM_TASKS", "1");  // srun -n 1: alone
  EXPECT_EQ(parse_backend("auto"), Backend::Local);
}

TEST(CommLaunch, LocalNeedsNoMpi) {
  // Before any MpiSession of this process (gtest runs tests in order; ensure_mpi comes later
  // in this file, and ctest runs each test in its own process).
  auto comm = make_communicator(Backend::Local);
  EXPECT_EQ(comm->backend(), Backend::Local);
  EXPECT_EQ(comm->size(), 1);
  EXPECT_EQ(allreduce_sum(*comm, 41), 41);
}

TEST(CommLaunch, ParseBackendRejectsOtherValues) {
  for (const char* bad : {"gloo", "", "MPI", "nccl ", "mpi,nccl"}) {
    try {
      parse_backend(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const ConfigError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(std::string("'") + bad + "'"), std::string::npos) << what;
      EXPECT_NE(what.find("mpi, nccl, local, auto"), std::string::npos) << what;
    }
  }
}

TEST(CommLaunch, MpiSingletonWithoutMpirun) {
  ensure_mpi();
  auto comm = make_communicator(Backend::Mpi);
  EXPECT_EQ(comm->size(), 1);
  EXPECT_EQ(comm->rank(), 0);
  EXPECT_EQ(allreduce_sum(*comm, 41), 41);
  EXPECT_EQ(broadcast_string(*comm, "hello", 0), "hello");
}

#ifdef STYLESEG_WITH_NCCL
TEST(CommLaunch, NcclWithoutGpuFailsClearly) {
  ensure_mpi();
  if (at::hasCUDA()) GTEST_SKIP() << "a CUDA device is visible here";
  try {
    make_communicator(Backend::Nccl);
    ADD_FAILURE() << "the NCCL backend started without a GPU";
  } catch (const CommError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("no CUDA device visible to rank 0"), std::string::npos) << what;
    EXPECT_NE(what.find("--backend mpi"), std::string::npos) << what;
  }
  // The failed attempt left MPI usable.
  auto comm = make_communicator(Backend::Mpi);
  EXPECT_EQ(allreduce_sum(*comm, 2), 2);
}
#endif

TEST(CommLaunch, RunGuardedReturnsBodyOrErrorCode) {
  ensure_mpi();
  auto comm = make_communicator(Backend::Mpi);
  EXPECT_EQ(run_guarded(*comm, [] { return 0; }), 0);
  EXPECT_EQ(run_guarded(*comm, [] { return 7; }), 7);
  testing::internal::CaptureStderr();
  const int code = run_guarded(*comm, []() -> int { throw ConfigError("--k: must be positive"); });
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(code, 2);
  EXPECT_NE(err.find("rank 0: --k: must be positive"), std::string::npos) << err;
  EXPECT_EQ(run_guarded(*comm, []() -> int { throw CommError("x"); }), 5);
  EXPECT_EQ(run_guarded(*comm, []() -> int { throw 42; }), 1);
}

// ---- watchdog timing with a fake clock -------------------------------------------------

struct FakeClock {
  CollectiveWatchdog::Clock::time_point now{std::chrono::hours(100)};
  std::function<CollectiveWatchdog::Clock::time_point()> fn() {
    return [this] { return now; };
  }
};

struct Report {
  int count = 0;
  std::string collective;
  double waited = 0;
};

CollectiveWatchdog::Options fake_options(FakeClock& clock, std::chrono::milliseconds timeout) {
  CollectiveWatchdog::Options options;
  options.timeout = timeout;
  options.poll_interval = 0ms;  // no thread: the test polls
  options.clock = clock.fn();
  return options;
}

TEST(CommLaunch, WatchdogFiresOnlyPastTheTimeout) {
  FakeClock clock;
  Report report;
  CollectiveWatchdog watchdog(fake_options(clock, 10s), [&](const char* c, double waited) {
    ++report.count;
    report.collective = c;
    report.waited = waited;
  });
  EXPECT_FALSE(watchdog.poll());  // idle
  watchdog.begin("allreduce");
  clock.now += 9999ms;
  EXPECT_FALSE(watchdog.poll());
  clock.now += 2ms;
  EXPECT_TRUE(watchdog.poll());
  EXPECT_EQ(report.count, 1);
  EXPECT_EQ(report.collective, "allreduce");
  EXPECT_NEAR(report.waited, 10.001, 1e-9);
  clock.now += 60s;
  EXPECT_FALSE(watchdog.poll());  // reported once per collective
  EXPECT_EQ(report.count, 1);
  watchdog.end();
}

TEST(CommLaunch, WatchdogIgnoresFinishedAndIdleTime) {
  FakeClock clock;
  int fired = 0;
  CollectiveWatchdog watchdog(fake_options(clock, 10s), [&](const char*, double) { ++fired; });
  for (int i = 0; i < 100; ++i) {  // many short collectives add up to more than the timeout
    watchdog.begin("barrier");
    clock.now += 5s;
    EXPECT_FALSE(watchdog.poll());
    watchdog.end();
  }
  clock.now += 1h;  // idle between collectives is not waiting
  EXPECT_FALSE(watchdog.poll());
  // A new collective is timed from its own start, and reported too.
  watchdog.begin("broadcast");
  clock.now += 11s;
  EXPECT_TRUE(watchdog.poll());
  watchdog.end();
  watchdog.begin("allgather");
  clock.now += 11s;
  EXPECT_TRUE(watchdog.poll());
  EXPECT_EQ(fired, 2);
}

TEST(CommLaunch, WatchdogThreadFiresOnARealClock) {
  std::atomic<int> fired{0};
  CollectiveWatchdog::Options options;
  options.timeout = 50ms;
  options.poll_interval = 5ms;
  CollectiveWatchdog watchdog(options, [&](const char*, double waited) {
    EXPECT_GE(waited, 0.05);
    ++fired;
  });
  watchdog.begin("barrier");
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(fired.load(), 0);
  for (int i = 0; i < 200 && fired.load() == 0; ++i) std::this_thread::sleep_for(5ms);
  watchdog.end();
  EXPECT_EQ(fired.load(), 1);
}

TEST(CommLaunch, WatchdogTimeoutFromEnvironment) {
  const char* saved = std::getenv("STYLESEG_COMM_TIMEOUT");
  const std::string saved_value = saved ? saved : "";
  unsetenv("STYLESEG_COMM_TIMEOUT");
  EXPECT_EQ(collective_timeout_from_env(), std::chrono::milliseconds(1800s));
  setenv("STYLESEG_COMM_TIMEOUT", "0", 1);
  EXPECT_EQ(collective_timeout_from_env(), 0ms);
  setenv("STYLESEG_COMM_TIMEOUT", "2.5", 1);
  EXPECT_EQ(collective_timeout_from_env(), 2500ms);
  for (const char* bad : {"abc", "-1", "10s", "nan"}) {
    setenv("STYLESEG_COMM_TIMEOUT", bad, 1);
    EXPECT_THROW(collective_timeout_from_env(), ConfigError) << bad;
  }
  if (saved) {
    setenv("STYLESEG_COMM_TIMEOUT", saved_value.c_str(), 1);
  } else {
    unsetenv("STYLESEG_COMM_TIMEOUT");
  }
}

TEST(CommLaunch, WatchdogMessageNamesCollectiveRankAndWait) {
  const std::string msg = watchdog_message("allreduce", 3, 1800.4, 1800);
  EXPECT_NE(msg.find("rank 3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("allreduce"), std::string::npos) << msg;
  EXPECT_NE(msg.find("1800.4 s"), std::string::npos) << msg;
  EXPECT_NE(msg.find("stalled or died"), std::string::npos) << msg;
}

// ---- the watchdog around a communicator --------------------------------------------------

// One rank, CPU, collectives that take as long as told.
class SlowCommunicator : public Communicator {
 public:
  std::chrono::milliseconds delay{0};
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_rank() const override { return 0; }
  int local_size() const override { return 1; }
  Backend backend() const override { return Backend::Mpi; }
  c10::Device device() const override { return c10::Device(c10::kCPU); }
  void allreduce(at::Tensor&, ReduceOp) override { std::this_thread::sleep_for(delay); }
  void broadcast(at::Tensor&, int) override { std::this_thread::sleep_for(delay); }
  at::Tensor allgather(const at::Tensor& t) override {
    std::this_thread::sleep_for(delay);
    return t.unsqueeze(0).clone();
  }
  void barrier() override { std::this_thread::sleep_for(delay); }
  [[noreturn]] void abort(int exit_code, const std::string&) override { std::_Exit(exit_code); }
};

TEST(CommLaunch, WatchedCommunicatorReportsTheStalledCollective) {
  auto inner = std::make_unique<SlowCommunicator>();
  SlowCommunicator* slow = inner.get();
  std::atomic<int> fired{0};
  std::string collective;
  auto comm = watch_collectives(std::move(inner), 100ms, [&](const char* c, double) {
    collective = c;
    ++fired;
  });
  EXPECT_EQ(allreduce_sum(*comm, 3), 3);  // quick: nothing reported
  comm->barrier();
  EXPECT_EQ(fired.load(), 0);
  slow->delay = 400ms;
  comm->barrier();
  EXPECT_EQ(fired.load(), 1);
  EXPECT_EQ(collective, "barrier");
}

}  // namespace
}  // namespace styleseg::comm
