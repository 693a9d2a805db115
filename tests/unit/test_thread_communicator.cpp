// The thread communicator (mpi/thread_communicator.h), on which the rank-invariance unit tests
// (test_thread_ranks.cpp) stand: its collectives give the closed-form results on 1 to 4
// ranks, and every way a rank can leave the others behind (an exception, an early return,
// abort, disagreeing calls) ends the others' collectives with an error instead of a hang.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <atomic>
#include <string>

#include "core/error.h"
#include "mpi/communicator.h"
#include "mpi/mpi_io.h"
#include "mpi/thread_communicator.h"
#include "support/expect_error.h"

namespace styleseg::comm {
namespace {

class ThreadCollectives : public ::testing::TestWithParam<int> {};

TEST_P(ThreadCollectives, AllreduceMatchesClosedFormsOnEveryRank) {
  const int ranks = GetParam();
  run_as_threads(ranks, [&](Communicator& comm) {
    EXPECT_EQ(comm.size(), ranks);
    EXPECT_EQ(comm.backend(), Backend::Threads);
    const int r = comm.rank();
    for (const auto dtype : {at::kFloat, at::kDouble, at::kLong}) {
      // Rank r holds (r + 1) * [1, 2, 3].
      const at::Tensor base = at::arange(1, 4, at::TensorOptions().dtype(dtype));
      at::Tensor sum = base * (r + 1), max = base * (r + 1), min = base * (r + 1);
      comm.allreduce(sum);
      comm.allreduce(max, ReduceOp::Max);
      comm.allreduce(min, ReduceOp::Min);
      EXPECT_TRUE(at::equal(sum, base * (ranks * (ranks + 1) / 2))) << sum;
      EXPECT_TRUE(at::equal(max, base * ranks)) << max;
      EXPECT_TRUE(at::equal(min, base)) << min;
    }
    EXPECT_EQ(allreduce_sum(comm, int64_t{1} << 40), int64_t{ranks} << 40);
    EXPECT_EQ(allreduce_max(comm, 1.5 * r - 7.0), 1.5 * (ranks - 1) - 7.0);
    EXPECT_TRUE(any_rank(comm, r == ranks - 1));
    EXPECT_FALSE(any_rank(comm, false));
  });
}

TEST_P(ThreadCollectives, BroadcastAllgatherAndDecisionsFollowTheirRoot) {
  const int ranks = GetParam();
  run_as_threads(ranks, [&](Communicator& comm) {
    const int r = comm.rank();
    for (int root = 0; root < ranks; ++root) {
      at::Tensor t = at::full({2, 3}, double(r), at::kDouble);
      comm.broadcast(t, root);
      EXPECT_TRUE(at::equal(t, at::full({2, 3}, double(root), at::kDouble))) << "root " << root;
      EXPECT_EQ(broadcast_string(comm, "from " + std::to_string(r), root), "from " + std::to_string(root));
    }
    const at::Tensor rows = comm.allgather(at::full({3}, int64_t{10} * r, at::kLong));
    ASSERT_EQ(rows.sizes(), (at::IntArrayRef{ranks, 3}));
    for (int q = 0; q < ranks; ++q) EXPECT_EQ(rows[q][2].item<int64_t>(), 10 * q);
    comm.barrier();
    EXPECT_EQ(decide_on_root(comm, [&] { return int64_t{100} + r; }), 100);
    EXPECT_EQ(decide_on_root(comm, [&] { return std::string("rank ") + std::to_string(r); }), "rank 0");
    test::expect_error<InputError>([&] { decide_on_root(comm, [] { throw InputError("x.h5: made by another job"); }); },
                                   {"x.h5: made by another job"});
  });
}

INSTANTIATE_TEST_SUITE_P(Ranks, ThreadCollectives, ::testing::Values(1, 2, 3, 4),
                         [](const auto& info) { return "ranks" + std::to_string(info.param); });

// Every rank's collective throws, so every rank reaches its catch: counted.
TEST(ThreadFailures, DisagreeingShapesOrOperationsThrowOnEveryRank) {
  std::atomic<int> caught{0};
  EXPECT_THROW(run_as_threads(3,
                              [&](Communicator& comm) {
                                at::Tensor t = at::zeros({comm.rank() == 1 ? 4 : 3}, at::kFloat);
                                test::expect_error<CommError>([&] { comm.allreduce(t); },
                                                              {"allreduce", "ranks made different calls", "rank 1 allreduce sum float32[4]"});
                                ++caught;
                                throw CommError("done");
                              }),
               CommError);
  EXPECT_EQ(caught, 3);

  caught = 0;
  EXPECT_THROW(run_as_threads(2,
                              [&](Communicator& comm) {
                                at::Tensor t = at::zeros({2}, at::kFloat);
                                test::expect_error<CommError>([&] { comm.rank() == 0 ? comm.barrier() : comm.broadcast(t, 0); },
                                                              {"ranks made different calls", "rank 0 barrier", "rank 1 broadcast from 0"});
                                ++caught;
                                throw CommError("done");
                              }),
               CommError);
  EXPECT_EQ(caught, 2);
}

// The failing rank's own exception reaches the caller; the others learn of it in their next
// collective instead of waiting for a rank that never comes.
TEST(ThreadFailures, ARankThatThrowsEndsTheOthersCollectives) {
  std::atomic<int> told{0};
  test::expect_error<InputError>(
      [&] {
        run_as_threads(3, [&](Communicator& comm) {
          if (comm.rank() == 1) throw InputError("features.h5: truncated");
          at::Tensor t = at::ones({2}, at::kDouble);
          test::expect_error<CommError>([&] { comm.allreduce(t); }, {"allreduce", "rank 1 failed: features.h5: truncated"});
          ++told;
        });
      },
      {"features.h5: truncated"});
  EXPECT_EQ(told, 2);
}

TEST(ThreadFailures, ARankThatReturnsEarlyOrAbortsEndsTheOthers) {
  test::expect_error<CommError>(
      [&] {
        run_as_threads(2, [&](Communicator& comm) {
          if (comm.rank() == 0) return;
          comm.barrier();
        });
      },
      {"barrier", "rank 0 returned"});

  std::atomic<int> told{0};
  test::expect_error<CommError>(
      [&] {
        run_as_threads(3, [&](Communicator& comm) {
          if (comm.rank() == 2) comm.abort(4, "disk full");
          test::expect_error<CommError>([&] { comm.barrier(); }, {"rank 2 aborted (exit code 4): disk full"});
          ++told;
        });
      },
      {"rank 2 aborted (exit code 4): disk full"});
  EXPECT_EQ(told, 2);
}

TEST(ThreadFailures, ThreadRanksCannotShareAnHdf5File) {
  run_as_threads(2, [](Communicator& comm) {
    test::expect_error<CommError>([&] { mpi_comm_of(comm); }, {"shared HDF5 file needs MPI ranks"});
  });
  test::expect_error<CommError>([] { run_as_threads(0, [](Communicator&) {}); }, {"ranks must be at least 1"});
}

}  // namespace
}  // namespace styleseg::comm
