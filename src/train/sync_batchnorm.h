// Synchronised BatchNorm for data-parallel training: batch statistics over the union of
// every rank's batch instead of each rank's own (PyTorch's SyncBatchNorm). Worth it when the
// per-rank batch is small (many ranks at a constant global batch): statistics of 2 images
// are noisy, those of 16 are not.
//
// Forward: one allreduce of [sum, sum of squares, count] per channel. Backward: one
// allreduce of [sum dy, sum dy * x_hat]. The input gradient is that of the sum of every
// rank's loss, as PyTorch's; with the parameter gradients then averaged (GradientSync),
// the step is exactly that of one process on the union batch with ordinary BatchNorm.
// Every rank must call it for the same layers in the same order (the forward pass does).
#pragma once

#include <ATen/core/Tensor.h>

namespace styleseg::comm {
class Communicator;
}

namespace styleseg::train {

// x [B, C, H, W]; weight, bias [C] (trainable); running_mean, running_var [C], updated in
// place as nn.BatchNorm2d does (unbiased variance, `momentum`).
at::Tensor sync_batch_norm(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, at::Tensor running_mean,
                           at::Tensor running_var, double momentum, double eps, comm::Communicator& comm);

}  // namespace styleseg::train
