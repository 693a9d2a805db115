#include "train/gradient_sync.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer includes it in LibTorch 2.x

#include "core/error.h"
#include "mpi/communicator.h"

namespace styleseg::train {

GradientSync::GradientSync(std::vector<at::Tensor> parameters, int64_t bucket_bytes)
    : parameters_(std::move(parameters)), slots_(parameters_.size()), hooks_(parameters_.size()),
      hooked_(parameters_.size(), false) {
  int64_t bytes = 0;
  for (size_t k = parameters_.size(); k-- > 0;) {  // the last layers first: their gradients come first
    const at::Tensor& p = parameters_[k];
    const int64_t size = static_cast<int64_t>(p.numel() * p.element_size());
    const bool fits = !buckets_.empty() && bytes + size <= bucket_bytes &&
                      parameters_[buckets_.back().front()].scalar_type() == p.scalar_type() &&
                      parameters_[buckets_.back().front()].device() == p.device();
    if (!fits) {
      buckets_.emplace_back();
      bytes = 0;
    }
    int64_t offset = 0;
    for (size_t i : buckets_.back()) offset += parameters_[i].numel();
    slots_[k] = {buckets_.size() - 1, offset};
    buckets_.back().push_back(k);
    bytes += size;
  }
}

GradientSync::~GradientSync() {
  for (size_t i = 0; i < parameters_.size(); ++i)
    if (hooked_[i]) parameters_[i].remove_hook(hooks_[i]);
}

void GradientSync::ensure_flats(comm::Communicator& comm) {
  if (!flats_.empty() && flats_.front().device() == comm.device()) return;
  flats_.clear();
  for (const auto& bucket : buckets_) {
    int64_t numel = 0;
    for (size_t i : bucket) numel += parameters_[i].numel();
    flats_.push_back(at::empty({numel}, parameters_[bucket.front()].options().device(comm.device())));
  }
}

void GradientSync::overlap_next_backward(comm::Communicator& comm) {
  if (comm.size() == 1) return;
  for (size_t i = 0; i < parameters_.size(); ++i)
    if (!hooked_[i] && parameters_[i].requires_grad()) {
      hooks_[i] = parameters_[i].register_hook([this, i](const at::Tensor& grad) { on_gradient(i, grad); });
      hooked_[i] = true;
    }
  begin_step(comm);
}

void GradientSync::begin_step(comm::Communicator& comm) {
  ensure_flats(comm);
  overlap_comm_ = &comm;
  arrived_.assign(parameters_.size(), false);
  arrived_in_bucket_.assign(buckets_.size(), 0);
  pending_.clear();
  pending_.resize(buckets_.size());
  next_to_start_ = 0;
}

// In the backward pass, on the thread that runs it (the caller's, on the CPU).
void GradientSync::on_gradient(size_t parameter, const at::Tensor& grad) {
  if (overlap_comm_ == nullptr) return;  // hooked, but not overlapping this backward pass
  STYLESEG_ASSERT(!arrived_[parameter], "gradient overlap: parameter " + std::to_string(parameter) +
                                            "'s gradient came twice in one backward pass");
  at::NoGradGuard no_grad;
  const Slot slot = slots_[parameter];
  const at::Tensor& p = parameters_[parameter];
  flats_[slot.bucket].narrow(0, slot.offset, p.numel()).view(p.sizes()).copy_(grad);
  arrived_[parameter] = true;
  ++arrived_in_bucket_[slot.bucket];
  start_complete_buckets();
  for (size_t b = 0; b < next_to_start_; ++b) pending_[b]->test();  // lets MPI move the started ones on
}

void GradientSync::start_complete_buckets() {
  while (next_to_start_ < buckets_.size() && arrived_in_bucket_[next_to_start_] == buckets_[next_to_start_].size()) {
    pending_[next_to_start_] = overlap_comm_->start_allreduce(flats_[next_to_start_]);
    ++next_to_start_;
  }
}

// After the backward pass: the gradients that never came are zeros; the buckets they held
// start now, in order.
void GradientSync::fill_missing_and_start() {
  at::NoGradGuard no_grad;
  for (size_t i = 0; i < parameters_.size(); ++i) {
    if (arrived_[i]) continue;
    const Slot slot = slots_[i];
    flats_[slot.bucket].narrow(0, slot.offset, parameters_[i].numel()).zero_();
    arrived_[i] = true;
    ++arrived_in_bucket_[slot.bucket];
  }
  start_complete_buckets();
}

void GradientSync::average(comm::Communicator& comm) {
  if (comm.size() == 1) return;
  at::NoGradGuard no_grad;
  if (overlap_comm_ == nullptr) {  // all of it now: pack every gradient, as the hooks would have
    begin_step(comm);
    for (size_t i = 0; i < parameters_.size(); ++i)
      if (parameters_[i].grad().defined()) on_gradient(i, parameters_[i].grad());
  }
  STYLESEG_ASSERT(overlap_comm_ == &comm, "gradient overlap: averaged over another communicator than it started on");
  fill_missing_and_start();
  overlap_comm_ = nullptr;
  const double scale = 1.0 / comm.size();
  for (size_t b = 0; b < buckets_.size(); ++b) {
    pending_[b]->wait();
    flats_[b].mul_(scale);
    for (size_t i : buckets_[b]) {
      at::Tensor& p = parameters_[i];
      if (!p.grad().defined()) p.mutable_grad() = at::zeros_like(p);
      p.mutable_grad().copy_(flats_[b].narrow(0, slots_[i].offset, p.numel()).view(p.sizes()));
    }
  }
  pending_.clear();
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
