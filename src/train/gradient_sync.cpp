#include "train/gradient_sync.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer includes it in LibTorch 2.x

#include "mpi/communicator.h"

namespace styleseg::train {

GradientSync::GradientSync(std::vector<at::Tensor> parameters, int64_t bucket_bytes) : parameters_(std::move(parameters)) {
  int64_t bytes = 0;
  for (size_t i = 0; i < parameters_.size(); ++i) {
    const at::Tensor& p = parameters_[i];
    const bool fits = !buckets_.empty() && bytes + static_cast<int64_t>(p.numel() * p.element_size()) <= bucket_bytes &&
                      parameters_[buckets_.back().front()].scalar_type() == p.scalar_type() &&
                      parameters_[buckets_.back().front()].device() == p.device();
    if (!fits) {
      buckets_.emplace_back();
      bytes = 0;
    }
    buckets_.back().push_back(i);
    bytes += static_cast<int64_t>(p.numel() * p.element_size());
  }
}

void GradientSync::average(comm::Communicator& comm) {
  if (comm.size() == 1) return;
  at::NoGradGuard no_grad;
  const double scale = 1.0 / comm.size();
  for (const auto& bucket : buckets_) {
    std::vector<at::Tensor> grads;
    for (size_t i : bucket) {
      at::Tensor& p = parameters_[i];
      if (!p.grad().defined()) p.mutable_grad() = at::zeros_like(p);
      grads.push_back(p.grad().reshape({-1}));
    }
    at::Tensor flat = at::cat(grads).to(comm.device());
    comm.allreduce(flat);
    flat.mul_(scale);
    int64_t offset = 0;
    for (size_t i : bucket) {
      at::Tensor& p = parameters_[i];
      p.mutable_grad().copy_(flat.narrow(0, offset, p.numel()).view_as(p));
      offset += p.numel();
    }
  }
}

void GradientSync::broadcast(comm::Communicator& comm, const std::vector<at::Tensor>& tensors, int root) {
  at::NoGradGuard no_grad;
  for (const at::Tensor& t : tensors) {
    at::Tensor shared = t.detach().to(comm.device()).contiguous();
    comm.broadcast(shared, root);
    t.detach().copy_(shared);
  }
}

}  // namespace styleseg::train
