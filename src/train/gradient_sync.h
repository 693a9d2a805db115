// Data-parallel training's one collective: after every rank's backward pass, the gradients
// are averaged over ranks, so every rank takes the same optimiser step and the weights stay
// identical (PyTorch DDP's model). Gradients are packed into flat buckets of about
// `bucket_bytes` (one allreduce each, instead of one per tensor: ~60 tensors for ResNet-18),
// reduced, and copied back. Each rank's loss must be the mean over its own batch, and
// every rank's batch the same size, for the average to be the gradient of the union batch.
//
// Overlapped (overlap_next_backward, as DDP does): hooks on the parameters copy each
// gradient into its bucket the moment the backward pass produces it, and a bucket's
// allreduce starts as soon as the bucket is complete, while the backward pass goes on with
// the earlier layers. Buckets hold the parameters in reverse order (the last layers'
// gradients come first) and start strictly in bucket order, so every rank starts the same
// collectives in the same order whatever order its hooks ran in. The sums are the same
// either way (the same buckets, reduced by the same collective): overlapping changes when,
// not what.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace styleseg::comm {
class Communicator;
class PendingCollective;
}  // namespace styleseg::comm

namespace styleseg::train {

class GradientSync {
 public:
  // `parameters` in the same order on every rank (a model's parameters() are).
  GradientSync(std::vector<at::Tensor> parameters, int64_t bucket_bytes = int64_t{25} << 20);
  ~GradientSync();  // removes the hooks
  // The hooks hold this object's address.
  GradientSync(const GradientSync&) = delete;
  GradientSync& operator=(const GradientSync&) = delete;

  // Local: the next backward pass starts each bucket's reduction on `comm` as soon as its
  // gradients are all there (the collectives then run on every rank during that pass). Call
  // before backward(); average() finishes. Each parameter's gradient must come once in that
  // pass (one backward() call); one that does not come counts as zero.
  void overlap_next_backward(comm::Communicator& comm);

  // Collective: averages the gradients of all parameters over the ranks of `comm`, in
  // place: finishes what the backward pass started, or does all of it now. A parameter
  // without a gradient on this rank counts as zero (and gets one).
  void average(comm::Communicator& comm);

  // Collective: root's parameter values (and buffers passed here) on every rank.
  static void broadcast(comm::Communicator& comm, const std::vector<at::Tensor>& tensors, int root = 0);

  int64_t buckets() const { return static_cast<int64_t>(buckets_.size()); }

 private:
  struct Slot {  // where a parameter's gradient lives in its bucket
    size_t bucket;
    int64_t offset;
  };
  void begin_step(comm::Communicator& comm);
  void on_gradient(size_t parameter, const at::Tensor& grad);
  void fill_missing_and_start();
  void start_complete_buckets();
  void ensure_flats(comm::Communicator& comm);

  std::vector<at::Tensor> parameters_;
  std::vector<std::vector<size_t>> buckets_;  // indices into parameters_, same dtype and device each
  std::vector<Slot> slots_;                   // by parameter
  std::vector<unsigned> hooks_;               // by parameter; only where hooked_[i]
  std::vector<bool> hooked_;

  // One step's state.
  comm::Communicator* overlap_comm_ = nullptr;  // set between overlap_next_backward and average
  std::vector<at::Tensor> flats_;               // by bucket, on the communicator's device
  std::vector<bool> arrived_;                   // by parameter
  std::vector<size_t> arrived_in_bucket_;       // by bucket
  size_t next_to_start_ = 0;
  std::vector<std::unique_ptr<comm::PendingCollective>> pending_;  // by bucket
};

}  // namespace styleseg::train
