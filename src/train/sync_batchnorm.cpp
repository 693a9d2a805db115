#include "train/sync_batchnorm.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cstdint>

#include "mpi/communicator.h"

namespace styleseg::train {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The communicator travels through the autograd context as an integer (IValue holds no
// pointers); it outlives the backward pass, which runs within the training step.
comm::Communicator& communicator_of(AutogradContext* ctx) {
  return *reinterpret_cast<comm::Communicator*>(static_cast<intptr_t>(ctx->saved_data["comm"].toInt()));
}

// Sums over the ranks, in float64 on the communicator's device: a [k, C] stack of per-channel sums.
at::Tensor allreduce_sums(comm::Communicator& comm, const at::Tensor& sums) {
  at::Tensor shared = sums.to(comm.device(), at::kDouble).contiguous();
  if (comm.size() > 1) comm.allreduce(shared);
  return shared.to(sums.device());
}

struct SyncBatchNormFunction : torch::autograd::Function<SyncBatchNormFunction> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                            at::Tensor running_mean, at::Tensor running_var, double momentum, double eps,
                            comm::Communicator* comm) {
    const int64_t channels = x.size(1);
    // Reduced precision (autocast) is computed in float32, as nn.BatchNorm2d does.
    const at::ScalarType compute = x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
    const at::Tensor xf = x.to(compute);
    const double local_count = static_cast<double>(x.numel() / channels);
    // Each rank's own mean and variance (ATen's Welford pass, as nn.BatchNorm2d computes
    // them), combined in float64 as n * mean and n * (var + mean^2): on one rank the mean^2
    // terms cancel exactly, and across ranks the subtraction is float64's, so the result is
    // as accurate as one process's, not E[x^2] - mean^2 of float32 sums.
    const auto [local_var, local_mean] = at::var_mean(xf, {0, 2, 3}, /*unbiased=*/false);
    const at::Tensor m = local_mean.to(at::kDouble), v = local_var.to(at::kDouble);
    const at::Tensor local = at::stack({m * local_count, (v + m * m) * local_count, at::full_like(m, local_count)});
    const at::Tensor total = allreduce_sums(*comm, local);
    const at::Tensor count = total[2];
    const at::Tensor mean = total[0] / count;
    const at::Tensor var = (total[1] / count - mean * mean).clamp_min(0);  // biased, as normalisation uses
    const at::Tensor invstd = (var + eps).rsqrt();
    {
      at::NoGradGuard no_grad;
      running_mean.mul_(1 - momentum).add_(mean.to(running_mean.scalar_type()), momentum);
      running_var.mul_(1 - momentum).add_((var * count / (count - 1).clamp_min(1)).to(running_var.scalar_type()), momentum);
    }
    const at::Tensor mean_f = mean.to(compute).view({1, -1, 1, 1}), invstd_f = invstd.to(compute).view({1, -1, 1, 1});
    const at::Tensor x_hat = (xf - mean_f) * invstd_f;
    ctx->save_for_backward({x_hat, weight, invstd.to(compute)});
    ctx->saved_data["comm"] = static_cast<int64_t>(reinterpret_cast<intptr_t>(comm));
    ctx->saved_data["count"] = count[0].item<double>();
    return (x_hat * weight.to(compute).view({1, -1, 1, 1}) + bias.to(compute).view({1, -1, 1, 1})).to(x.scalar_type());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor& x_hat = saved[0];
    const at::Tensor& weight = saved[1];
    const at::Tensor& invstd = saved[2];
    const double count = ctx->saved_data["count"].toDouble();
    const at::Tensor dy = grad_outputs[0].to(x_hat.scalar_type());
    const at::Tensor local_dy = dy.sum({0, 2, 3}), local_dy_xhat = (dy * x_hat).sum({0, 2, 3});
    const at::Tensor total = allreduce_sums(communicator_of(ctx), at::stack({local_dy, local_dy_xhat})).to(x_hat.scalar_type());
    const at::Tensor mean_dy = (total[0] / count).view({1, -1, 1, 1});
    const at::Tensor mean_dy_xhat = (total[1] / count).view({1, -1, 1, 1});
    const at::Tensor dx = (dy - mean_dy - x_hat * mean_dy_xhat) * (weight.to(x_hat.scalar_type()) * invstd).view({1, -1, 1, 1});
    // Parameter gradients are this rank's own: GradientSync averages them like all others.
    return {dx.to(grad_outputs[0].scalar_type()), local_dy_xhat.to(weight.scalar_type()),
            local_dy.to(weight.scalar_type()), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor sync_batch_norm(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, at::Tensor running_mean,
                           at::Tensor running_var, double momentum, double eps, comm::Communicator& comm) {
  return SyncBatchNormFunction::apply(x, weight, bias, running_mean, running_var, momentum, eps, &comm);
}

}  // namespace styleseg::train
