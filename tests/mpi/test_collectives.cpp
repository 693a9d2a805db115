// The MPI backend's collectives at whatever size mpiexec started (1, 2 and 4 in ctest).
// Expected values are computed from rank and size, so each test holds at any size. Error
// cases pass the same bad input on every rank: every rank must throw, none may hang.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>

#include "core/error.h"
#include "mpi/communicator.h"
#include "mpi/launch.h"
#include "world.h"

namespace styleseg::comm {
namespace {

using test::world;

// Rank r holds value(r, i) = sign(i) * (r + 1) * (i + 1) at flat index i, sign(i) = +1 for
// even i, -1 for odd i; so sum, max and min over ranks have closed forms.
double value(int r, int64_t i) { return (i % 2 == 0 ? 1.0 : -1.0) * (r + 1) * (i + 1); }

at::Tensor rank_values(int r, at::ScalarType dtype) {
  at::Tensor t = at::empty({3, 4}, at::TensorOptions().dtype(at::kDouble));
  auto a = t.accessor<double, 2>();
  for (int64_t i = 0; i < 12; ++i) a[i / 4][i % 4] = value(r, i);
  return t.to(dtype);
}

double expected(ReduceOp op, int size, int64_t i) {
  const double sign = i % 2 == 0 ? 1.0 : -1.0;
  const double k = static_cast<double>(i + 1);
  switch (op) {
    case ReduceOp::Sum: return sign * k * size * (size + 1) / 2.0;
    case ReduceOp::Max: return sign > 0 ? k * size : -k;
    case ReduceOp::Min: return sign > 0 ? k : -k * size;
  }
  return 0;
}

class CommAllreduce : public ::testing::TestWithParam<std::tuple<at::ScalarType, ReduceOp>> {};

TEST_P(CommAllreduce, MatchesClosedForm) {
  const auto [dtype, op] = GetParam();
  Communicator& comm = world();
  at::Tensor t = rank_values(comm.rank(), dtype);
  comm.allreduce(t, op);
  EXPECT_EQ(t.scalar_type(), dtype);
  EXPECT_EQ(t.sizes(), at::IntArrayRef({3, 4}));
  at::Tensor got = t.to(at::kDouble).reshape({-1});
  for (int64_t i = 0; i < 12; ++i) {
    EXPECT_EQ(got[i].item<double>(), expected(op, comm.size(), i)) << "element " << i << ", " << reduce_op_name(op);
  }
}

INSTANTIATE_TEST_SUITE_P(DtypesAndOps, CommAllreduce,
                         ::testing::Combine(::testing::Values(at::kFloat, at::kDouble, at::kLong),
                                            ::testing::Values(ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min)));

// Started allreduces (MPI_Iallreduce under MPI) finish with the blocking one's values, two
// in flight at once, waited for in order, polled before.
TEST(CommStartedAllreduce, FinishesWithTheBlockingResult) {
  Communicator& comm = world();
  at::Tensor a = rank_values(comm.rank(), at::kDouble), b = rank_values(comm.rank(), at::kFloat);
  auto first = comm.start_allreduce(a);
  auto second = comm.start_allreduce(b, ReduceOp::Max);
  first->test();
  first->wait();
  second->wait();
  EXPECT_TRUE(second->test());
  for (int64_t i = 0; i < 12; ++i) {
    EXPECT_EQ(a.reshape({-1})[i].item<double>(), expected(ReduceOp::Sum, comm.size(), i)) << "element " << i;
    EXPECT_EQ(b.reshape({-1})[i].item<double>(), expected(ReduceOp::Max, comm.size(), i)) << "element " << i;
  }
}

TEST(CommAllreduceEdge, EmptyTensorIsANoOp) {
  at::Tensor t = at::empty({0, 3}, at::kFloat);
  world().allreduce(t);
  EXPECT_EQ(t.numel(), 0);
}

TEST(CommAllreduceEdge, DefaultOpIsSum) {
  Communicator& comm = world();
  at::Tensor t = at::full({5}, static_cast<int64_t>(comm.rank()), at::kLong);
  comm.allreduce(t);
  const int64_t n = comm.size();
  EXPECT_TRUE(t.eq(n * (n - 1) / 2).all().item<bool>());
}

TEST(CommInfo, RanksAndDevice) {
  Communicator& comm = world();
  EXPECT_GE(comm.rank(), 0);
  EXPECT_LT(comm.rank(), comm.size());
  EXPECT_GE(comm.local_rank(), 0);
  EXPECT_LT(comm.local_rank(), comm.local_size());
  EXPECT_LE(comm.local_size(), comm.size());
  EXPECT_EQ(comm.backend(), Backend::Mpi);
  EXPECT_EQ(comm.device(), c10::Device(c10::kCPU));
  // Each node has one local rank 0, and the nodes' local sizes add up to the job's size.
  EXPECT_GE(allreduce_sum(comm, comm.local_rank() == 0 ? 1 : 0), 1);
  EXPECT_EQ(allreduce_sum(comm, comm.local_rank() == 0 ? comm.local_size() : 0), comm.size());
}

class CommBroadcast : public ::testing::TestWithParam<bool> {};  // true: root is the last rank

TEST_P(CommBroadcast, EveryRankGetsRootsValues) {
  Communicator& comm = world();
  const int root = GetParam() ? comm.size() - 1 : 0;
  for (auto dtype : {at::kFloat, at::kDouble, at::kLong, at::kByte}) {
    at::Tensor t = rank_values(comm.rank(), at::kDouble).abs().to(dtype);
    comm.broadcast(t, root);
    EXPECT_TRUE(t.equal(rank_values(root, at::kDouble).abs().to(dtype))) << detail::dtype_name(dtype);
  }
}

INSTANTIATE_TEST_SUITE_P(Roots, CommBroadcast, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "LastRank" : "Rank0"; });

TEST(CommAllgather, ShapeAndRows) {
  Communicator& comm = world();
  for (auto dtype : {at::kFloat, at::kLong}) {
    at::Tensor mine = (at::arange(6, at::kLong).reshape({2, 3}) + 10 * comm.rank()).to(dtype);
    at::Tensor all = comm.allgather(mine);
    ASSERT_EQ(all.sizes(), at::IntArrayRef({comm.size(), 2, 3}));
    EXPECT_EQ(all.scalar_type(), dtype);
    for (int r = 0; r < comm.size(); ++r) {
      EXPECT_TRUE(all[r].equal((at::arange(6, at::kLong).reshape({2, 3}) + 10 * r).to(dtype))) << "row " << r;
    }
  }
}

TEST(CommAllgather, ScalarTensor) {
  Communicator& comm = world();
  at::Tensor all = comm.allgather(at::scalar_tensor(static_cast<double>(comm.rank()), at::kDouble));
  ASSERT_EQ(all.sizes(), at::IntArrayRef({comm.size()}));
  for (int r = 0; r < comm.size(); ++r) EXPECT_EQ(all[r].item<double>(), r);
}

TEST(CommAllgather, MismatchedShapesThrowOnEveryRank) {
  Communicator& comm = world();
  if (comm.size() == 1) GTEST_SKIP() << "needs two ranks";
  at::Tensor mine = at::zeros({comm.rank() == 0 ? 2 : 3}, at::kFloat);
  try {
    comm.allgather(mine);
    ADD_FAILURE() << "allgather accepted different shapes";
  } catch (const CommError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("allgather"), std::string::npos) << what;
    EXPECT_NE(what.find("rank 0 float32 [2]"), std::string::npos) << what;
    EXPECT_NE(what.find("rank 1 float32 [3]"), std::string::npos) << what;
  }
  comm.barrier();  // still in step
}

TEST(CommBarrier, RepeatedBarriersReturn) {
  Communicator& comm = world();
  for (int i = 0; i < 10; ++i) comm.barrier();
  SUCCEED();
}

TEST(CommHelpers, AllreduceSumAndMax) {
  Communicator& comm = world();
  const int64_t n = comm.size();
  EXPECT_EQ(allreduce_sum(comm, comm.rank() + 1), n * (n + 1) / 2);
  EXPECT_EQ(allreduce_sum(comm, int64_t{1} << 40), n << 40);  // no truncation to 32 bits
  EXPECT_EQ(allreduce_max(comm, 1.5 * comm.rank() - 7.0), 1.5 * (n - 1) - 7.0);
}

TEST(CommHelpers, AnyRank) {
  Communicator& comm = world();
  EXPECT_FALSE(any_rank(comm, false));
  EXPECT_TRUE(any_rank(comm, true));
  EXPECT_TRUE(any_rank(comm, comm.rank() == comm.size() - 1));
}

TEST(CommHelpers, BroadcastString) {
  Communicator& comm = world();
  const int last = comm.size() - 1;
  const std::string mine = "from rank " + std::to_string(comm.rank()) + std::string(1, '\0') + " \xc3\xa9";
  EXPECT_EQ(broadcast_string(comm, mine, 0), "from rank 0" + std::string(1, '\0') + " \xc3\xa9");
  EXPECT_EQ(broadcast_string(comm, mine, last), "from rank " + std::to_string(last) + std::string(1, '\0') + " \xc3\xa9");
  EXPECT_EQ(broadcast_string(comm, comm.rank() == 0 ? "" : "ignored", 0), "");
  const std::string long_text(100000, 'x');
  EXPECT_EQ(broadcast_string(comm, comm.rank() == last ? long_text : "", last), long_text);
}

enum class Verdict { Refuse = 3, Resume = 7 };

// Rank 0's value reaches every rank in its own type; each rank would decide differently.
TEST(CommHelpers, DecideOnRootTypedValues) {
  Communicator& comm = world();
  const int r = comm.rank();
  EXPECT_EQ(decide_on_root(comm, [&] { return std::string("rank ") + std::to_string(r); }), "rank 0");
  EXPECT_EQ(decide_on_root(comm, [&] { return int64_t{-5000000000} + r; }), int64_t{-5000000000});
  EXPECT_EQ(decide_on_root(comm, [&] { return r == 0; }), true);
  EXPECT_EQ(decide_on_root(comm, [&] { return r == 0 ? Verdict::Resume : Verdict::Refuse; }), Verdict::Resume);
  int checks_run = 0;
  decide_on_root(comm, [&] { ++checks_run; });
  EXPECT_EQ(checks_run, r == 0 ? 1 : 0);
}

// A check that fails on rank 0 throws the same kind and message on every rank.
TEST(CommHelpers, DecideOnRootCheckFailsOnEveryRank) {
  Communicator& comm = world();
  try {
    decide_on_root(comm, [] { throw InputError("x.h5: was made by a different job"); });
    ADD_FAILURE() << "no rank may return";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), "x.h5: was made by a different job");
  }
  EXPECT_THROW(decide_on_root(comm, []() -> int { throw ConfigError("--count"); }), ConfigError);
}

// Each error case: every rank passes the same bad input, every rank throws a CommError whose
// message names the op and the problem, and the communicator still works afterwards.
void expect_comm_error(const std::function<void()>& call, const std::string& op, const std::string& problem) {
  try {
    call();
    ADD_FAILURE() << op << " did not throw";
  } catch (const CommError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(op), std::string::npos) << what;
    EXPECT_NE(what.find(problem), std::string::npos) << what;
  }
}

TEST(CommErrors, WrongDtypeForAllreduce) {
  Communicator& comm = world();
  at::Tensor t = at::ones({4}, at::kInt);
  expect_comm_error([&] { comm.allreduce(t); }, "allreduce", "int32");
  at::Tensor h = at::ones({4}, at::kHalf);
  expect_comm_error([&] { comm.allreduce(h, ReduceOp::Max); }, "allreduce", "float16");
  EXPECT_EQ(allreduce_sum(comm, 1), comm.size());
}

TEST(CommErrors, NonContiguous) {
  Communicator& comm = world();
  at::Tensor t = at::zeros({4, 3}, at::kFloat).t();
  ASSERT_FALSE(t.is_contiguous());
  expect_comm_error([&] { comm.allreduce(t); }, "allreduce", "not contiguous");
  expect_comm_error([&] { comm.broadcast(t, 0); }, "broadcast", "not contiguous");
  expect_comm_error([&] { comm.allgather(t); }, "allgather", "not contiguous");
  comm.barrier();
}

TEST(CommErrors, WrongDevice) {
  Communicator& comm = world();
  at::Tensor t = at::empty({4}, at::TensorOptions().dtype(at::kFloat).device(at::kMeta));
  expect_comm_error([&] { comm.allreduce(t); }, "allreduce", "meta");
  expect_comm_error([&] { comm.broadcast(t, 0); }, "broadcast", "meta");
  comm.barrier();
}

TEST(CommErrors, UndefinedTensorAndBadRoot) {
  Communicator& comm = world();
  at::Tensor undefined;
  expect_comm_error([&] { comm.allreduce(undefined); }, "allreduce", "undefined");
  at::Tensor t = at::zeros({2}, at::kFloat);
  expect_comm_error([&] { comm.broadcast(t, comm.size()); }, "broadcast", "root");
  expect_comm_error([&] { comm.broadcast(t, -1); }, "broadcast", "root");
  expect_comm_error([&] { broadcast_string(comm, "x", comm.size()); }, "broadcast_string", "root");
  comm.barrier();
}

}  // namespace
}  // namespace styleseg::comm
