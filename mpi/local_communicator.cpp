#include "mpi/local_communicator.h"

#include <cstdio>
#include <cstdlib>

namespace styleseg::comm {

void LocalCommunicator::allreduce(at::Tensor& t, ReduceOp /*op*/) {
  detail::check_tensor("allreduce", t, device(), /*reduction=*/true);
}

void LocalCommunicator::broadcast(at::Tensor& t, int root) {
  detail::check_tensor("broadcast", t, device(), /*reduction=*/false);
  detail::check_root("broadcast", root, 1);
}

at::Tensor LocalCommunicator::allgather(const at::Tensor& t) {
  detail::check_tensor("allgather", t, device(), /*reduction=*/false);
  return t.unsqueeze(0).clone();
}

void LocalCommunicator::abort(int exit_code, const std::string& message) {
  std::fprintf(stderr, "rank 0: %s\n", message.c_str());
  std::fflush(stderr);
  std::_Exit(exit_code);
}

}  // namespace styleseg::comm
