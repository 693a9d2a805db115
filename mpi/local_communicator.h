// A communicator of one rank that needs no MPI: every collective is the identity. For
// computations that one rank makes alone inside a larger job (a reference result in a
// test, a rank-local k-means++ on gathered points) and for unit tests without mpiexec.
#pragma once

#include "mpi/communicator.h"

namespace styleseg::comm {

class LocalCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_rank() const override { return 0; }
  int local_size() const override { return 1; }
  Backend backend() const override { return Backend::Local; }
  c10::Device device() const override { return c10::Device(c10::kCPU); }

  // Checks the tensor like the other backends, then leaves it as it is.
  void allreduce(at::Tensor& t, ReduceOp op = ReduceOp::Sum) override;
  void broadcast(at::Tensor& t, int root) override;
  at::Tensor allgather(const at::Tensor& t) override;  // t with a leading dimension of 1
  void barrier() override {}
  [[noreturn]] void abort(int exit_code, const std::string& message) override;
};

}  // namespace styleseg::comm
