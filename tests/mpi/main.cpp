// Main of the MPI test executable, run by ctest as `mpiexec -np N` (N = 1, 2, 4).
//
// Every rank runs every test (tests call collectives, so all ranks must run the same ones in
// the same order). Rank 0 prints gtest's usual report; other ranks print only their
// failures, each line prefixed with the rank. The exit code is non-zero on every rank when
// any rank failed.
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "mpi/communicator.h"
#include "mpi/launch.h"

namespace {

// Failures only, as "[rank R] ...".
class RankFailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}

  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::string text = std::string(result.file_name() ? result.file_name() : "unknown") + ":" +
                       std::to_string(result.line_number()) + ": Failure\n" + result.message();
    const std::string prefix = "[rank " + std::to_string(rank_) + "] ";
    for (std::size_t at = text.find('\n'); at != std::string::npos; at = text.find('\n', at + 1)) {
      text.insert(at + 1, prefix);
    }
    std::fprintf(stderr, "%s%s\n", prefix.c_str(), text.c_str());
    std::fflush(stderr);
  }
  void OnTestEnd(const ::testing::TestInfo& info) override {
    if (!info.result()->Failed()) return;
    std::fprintf(stderr, "[rank %d] FAILED %s.%s\n", rank_, info.test_suite_name(), info.name());
    std::fflush(stderr);
  }

 private:
  int rank_;
};

}  // namespace

int main(int argc, char** argv) {
  // A test that leaves ranks out of step would otherwise hang until ctest's 300 s timeout
  // kills it without a word; the watchdog ends it sooner and names the collective.
  setenv("STYLESEG_COMM_TIMEOUT", "120", /*overwrite=*/0);
  // Ranks share the cores: one thread each unless the caller asks for more.
  if (!std::getenv("OMP_NUM_THREADS")) at::set_num_threads(1);
  styleseg::comm::MpiSession mpi(&argc, &argv);
  int exit_code = 0;
  {
    auto comm = styleseg::comm::make_communicator(styleseg::comm::Backend::Mpi);
    ::testing::InitGoogleTest(&argc, argv);
    if (comm->rank() != 0) {
      auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
      delete listeners.Release(listeners.default_result_printer());
      listeners.Append(new RankFailurePrinter(comm->rank()));
    }
    const int failed_here = RUN_ALL_TESTS() != 0 ? 1 : 0;
    const int64_t failed_ranks = styleseg::comm::allreduce_sum(*comm, failed_here);
    if (failed_ranks > 0) {
      if (comm->rank() == 0) std::fprintf(stderr, "%lld of %d ranks failed\n", static_cast<long long>(failed_ranks), comm->size());
      exit_code = 1;
    }
  }
  return exit_code;
}
