// Data-parallel training's one collective: after every rank's backward pass, the gradients
// are averaged over ranks, so every rank takes the same optimiser step and the weights stay
// identical (PyTorch DDP's model). Gradients are packed into flat buckets of about
// `bucket_bytes` (one allreduce each, instead of one per tensor: ~60 tensors for ResNet-18),
// reduced, and copied back. Each rank's loss must be the mean over its own batch, and
// every rank's batch the same size, for the average to be the gradient of the union batch.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace styleseg::comm {
class Communicator;
}

namespace styleseg::train {

class GradientSync {
 public:
  // `parameters` in the same order on every rank (a model's parameters() are).
  GradientSync(std::vector<at::Tensor> parameters, int64_t bucket_bytes = int64_t{25} << 20);

  // Collective: averages the gradients of all parameters over the ranks of `comm`, in
  // place. A parameter without a gradient on this rank counts as zero (and gets one).
  void average(comm::Communicator& comm);

  // Collective: root's parameter values (and buffers passed here) on every rank.
  static void broadcast(comm::Communicator& comm, const std::vector<at::Tensor>& tensors, int root = 0);

  int64_t buckets() const { return static_cast<int64_t>(buckets_.size()); }

 private:
  std::vector<at::Tensor> parameters_;
  std::vector<std::vector<size_t>> buckets_;  // indices into parameters_, same dtype and device each
};

}  // namespace styleseg::train
