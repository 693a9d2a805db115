// N ranks as threads of one process, for tests: rank-invariance (k-means, data-parallel
// gradients, synchronised BatchNorm, the samples each rank makes) checked in the unit-test
// executable without mpiexec, as XGBoost tests its collectives. The MPI tests (tests/mpi)
// stay for MPI itself.
//
//   comm::run_as_threads(3, [&](comm::Communicator& comm) { ... comm.allreduce(t); ... });
//
// Semantics are the interface's (communicator.h), with these differences, all stricter:
// - Reductions sum in rank order on every rank, so every rank gets bit-identical results.
// - Every collective checks that all ranks called the same operation with tensors of the same
//   dtype and shape, and throws CommError on every rank when not (MPI's is undefined).
// - No hang: a rank that throws, returns, or calls abort() while others wait in a collective
//   makes their collective throw CommError naming it. run_as_threads then rethrows the first
//   rank's own exception (lowest rank among those that failed first-hand).
// - abort() ends only the group, not the process: it throws CommError on the calling rank.
// - mpi_comm_of() refuses it (mpi_io.h): shared HDF5 files need MPI ranks.
//
// Process-wide state is shared by the threads (at::manual_seed's default generator, the
// ATen thread pool, signal handlers): code under test should draw from its own generators,
// as styleseg's stages do (core/seeding.h).
#pragma once

#include <functional>
#include <memory>

#include "mpi/communicator.h"

namespace styleseg::comm {

class ThreadGroup;

class ThreadCommunicator final : public Communicator {
 public:
  ThreadCommunicator(std::shared_ptr<ThreadGroup> group, int rank);

  int rank() const override { return rank_; }
  int size() const override;
  int local_rank() const override { return rank_; }
  int local_size() const override { return size(); }
  Backend backend() const override { return Backend::Threads; }
  c10::Device device() const override { return c10::Device(c10::kCPU); }

  void allreduce(at::Tensor& t, ReduceOp op = ReduceOp::Sum) override;
  void broadcast(at::Tensor& t, int root) override;
  at::Tensor allgather(const at::Tensor& t) override;
  void barrier() override;
  // Throws CommError("rank R aborted (exit code N): message") here and in every rank's
  // pending or next collective.
  [[noreturn]] void abort(int exit_code, const std::string& message) override;

 private:
  std::shared_ptr<ThreadGroup> group_;
  int rank_;
};

// Runs body on `ranks` threads, each with its own rank's communicator, and returns when all
// have finished; rethrows the first failure (see above). ranks >= 1.
void run_as_threads(int ranks, const std::function<void(Communicator&)>& body);

}  // namespace styleseg::comm
