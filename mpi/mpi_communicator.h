// MPI backend: CPU tensors, collectives over a duplicate of MPI_COMM_WORLD (so styleseg's
// messages never mix with another library's on the world communicator).
//
// mpi.h stays out of this header (the communicator handle lives in the .cpp), so stages
// and tests that include it do not pull MPI into their compile.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "mpi/communicator.h"

namespace styleseg::comm {

class MpiCommunicator final : public Communicator {
 public:
  // Collective over MPI_COMM_WORLD. MPI must be initialised (launch.h: MpiSession).
  MpiCommunicator();
  // Frees the duplicate communicator unless MPI is already finalised.
  ~MpiCommunicator() override;
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  int local_size() const override { return local_size_; }
  Backend backend() const override { return Backend::Mpi; }
  c10::Device device() const override;

  void allreduce(at::Tensor& t, ReduceOp op = ReduceOp::Sum) override;
  // MPI_Iallreduce: progresses inside this rank's later MPI calls (test(), wait()).
  std::unique_ptr<PendingCollective> start_allreduce(at::Tensor& t, ReduceOp op = ReduceOp::Sum) override;
  void broadcast(at::Tensor& t, int root) override;
  at::Tensor allgather(const at::Tensor& t) override;
  void barrier() override;
  // Prints "rank R: message" to stderr, then MPI_Abort on every rank.
  [[noreturn]] void abort(int exit_code, const std::string& message) override;

  // ---- host-side services for backends built over MPI (nccl_communicator.cpp) ----------
  // Collective: root's `bytes` bytes at `data` on every rank.
  void broadcast_bytes(void* data, std::size_t bytes, int root);
  // Collective: throws CommError on every rank, naming `op` and each rank's dtype and
  // shape, unless every rank passed a tensor of the same dtype and shape.
  void check_same_shape(const char* op, const at::Tensor& t);
  // MPI_Abort on every rank, without printing anything first.
  [[noreturn]] void abort_job(int exit_code);
  // This node's name, for messages.
  const std::string& host() const { return host_; }

 private:
  struct Handle;  // the MPI_Comm
  std::unique_ptr<Handle> handle_;
  int rank_ = 0;
  int size_ = 1;
  int local_rank_ = 0;
  int local_size_ = 1;
  std::string host_;
};

}  // namespace styleseg::comm
