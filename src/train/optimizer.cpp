#include "train/optimizer.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer includes it in LibTorch 2.x

#include <cmath>
#include <map>

#include "core/error.h"

namespace styleseg::train {
namespace {

// Adam's bias corrections after `step` updates: 1 - beta^step, for the first and second moments.
struct BiasCorrections {
  double first, second;
};
BiasCorrections bias_corrections(const OptimizerOptions& o, int64_t step) {
  return {1 - std::pow(o.beta1, static_cast<double>(step)), 1 - std::pow(o.beta2, static_cast<double>(step))};
}

// One Adam update, its constants in the parameters' type.
template <typename T>
struct AdamStep {
  T weight_decay, beta1, one_minus_beta1, beta2, one_minus_beta2, sqrt_correction2, eps, scaled_lr;  // -lr / (1 - beta1^t)
};

// Adam in one pass over each parameter's memory on the CPU: read p, g, m, v, write p, m, v.
// The _foreach form makes about 23 passes (each operation reads and writes whole tensors);
// the update is memory-bound, so this is about 3x less time (tools/bench/bench_train_step).
// The formula and its order are those of the _foreach form; rounding may differ in the last
// bit where ATen's kernels fuse a multiply-add.
template <typename T>
void adam_in_one_pass(const at::Tensor& param, const at::Tensor& grad, const at::Tensor& first, const at::Tensor& second,
                      const AdamStep<T>& c) {
  T* p = param.data_ptr<T>();
  const T* g = grad.data_ptr<T>();
  T* m = first.data_ptr<T>();
  T* v = second.data_ptr<T>();
  at::parallel_for(0, param.numel(), 32768, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const T gi = g[i] + c.weight_decay * p[i];
      m[i] = m[i] * c.beta1 + c.one_minus_beta1 * gi;
      v[i] = v[i] * c.beta2 + c.one_minus_beta2 * gi * gi;
      p[i] = p[i] + c.scaled_lr * m[i] / (std::sqrt(v[i]) / c.sqrt_correction2 + c.eps);
    }
  });
}

// Whether the one-pass update applies: CPU, float32 or float64, the four tensors alike and
// dense (any memory format, as long as they share strides).
bool one_pass_applies(const at::Tensor& p, const at::Tensor& g, const at::Tensor& m, const at::Tensor& v) {
  if (!p.device().is_cpu() || (p.scalar_type() != at::kFloat && p.scalar_type() != at::kDouble)) return false;
  for (const at::Tensor* t : {&g, &m, &v})
    if (t->device() != p.device() || t->scalar_type() != p.scalar_type() || t->strides() != p.strides() ||
        t->sizes() != p.sizes())
      return false;
  return p.is_non_overlapping_and_dense();
}

}  // namespace

Optimizer::Optimizer(std::vector<at::Tensor> parameters, OptimizerOptions options)
    : parameters_(std::move(parameters)), options_(std::move(options)) {
  STYLESEG_CHECK(options_.weight_decay >= 0, ConfigError, "--weight-decay must be >= 0");
  STYLESEG_CHECK(options_.momentum >= 0 && options_.momentum < 1, ConfigError, "--momentum must be in [0, 1)");
  STYLESEG_CHECK(options_.beta1 >= 0 && options_.beta1 < 1 && options_.beta2 >= 0 && options_.beta2 < 1 && options_.eps > 0,
                 ConfigError, "Adam needs betas in [0, 1) and eps > 0");
  for (const at::Tensor& p : parameters_) {
    first_.push_back(at::zeros_like(p, at::MemoryFormat::Preserve));
    second_.push_back(options_.kind == OptimizerKind::Adam ? at::zeros_like(p, at::MemoryFormat::Preserve) : at::Tensor());
  }
}

void Optimizer::zero_grad() {
  std::vector<at::Tensor> grads;
  for (at::Tensor& p : parameters_)
    if (p.grad().defined()) grads.push_back(p.mutable_grad());
  if (!grads.empty()) at::_foreach_zero_(grads);  // the _foreach_ operations refuse an empty list
}

// Adam on the CPU: one pass over each parameter (adam_one_pass). Elsewhere, and for SGD, each
// rule is a few operations over the whole list (`_foreach_*`): one fused kernel per operation
// on a GPU, where a loop over the parameters paid a launch per parameter and operation (about
// 9 per parameter).
void Optimizer::step(double lr) {
  at::NoGradGuard no_grad;
  ++steps_;
  const auto& o = options_;
  std::vector<at::Tensor> params, grads, first, second;
  for (size_t i = 0; i < parameters_.size(); ++i) {
    if (!parameters_[i].grad().defined()) continue;
    params.push_back(parameters_[i]);
    grads.push_back(parameters_[i].grad());
    first.push_back(first_[i]);
    if (o.kind == OptimizerKind::Adam) second.push_back(second_[i]);
  }
  if (params.empty()) return;
  if (o.kind == OptimizerKind::Adam && adam_one_pass(params, grads, first, second, lr)) return;
  if (o.weight_decay != 0) grads = at::_foreach_add(grads, params, at::Scalar(o.weight_decay));
  if (o.kind == OptimizerKind::Adam) {
    at::_foreach_mul_(first, at::Scalar(o.beta1));
    at::_foreach_add_(first, grads, at::Scalar(1 - o.beta1));
    at::_foreach_mul_(second, at::Scalar(o.beta2));
    at::_foreach_addcmul_(second, grads, grads, at::Scalar(1 - o.beta2));
    const BiasCorrections correction = bias_corrections(o, steps_);
    std::vector<at::Tensor> denominator = at::_foreach_sqrt(second);
    at::_foreach_div_(denominator, at::Scalar(std::sqrt(correction.second)));
    at::_foreach_add_(denominator, at::Scalar(o.eps));
    at::_foreach_addcdiv_(params, first, denominator, at::Scalar(-lr / correction.first));
  } else {
    if (o.momentum > 0) {
      if (steps_ == 1) {
        for (size_t i = 0; i < first.size(); ++i) first[i].copy_(grads[i]);
      } else {
        at::_foreach_mul_(first, at::Scalar(o.momentum));
        at::_foreach_add_(first, grads);
      }
      grads = first;
    }
    at::_foreach_add_(params, grads, at::Scalar(-lr));
  }
}

bool Optimizer::adam_one_pass(const std::vector<at::Tensor>& params, const std::vector<at::Tensor>& grads,
                              const std::vector<at::Tensor>& first, const std::vector<at::Tensor>& second, double lr) const {
  for (size_t i = 0; i < params.size(); ++i)
    if (!one_pass_applies(params[i], grads[i], first[i], second[i])) return false;
  const auto& o = options_;
  const BiasCorrections correction = bias_corrections(o, steps_);
  for (size_t i = 0; i < params.size(); ++i)
    AT_DISPATCH_FLOATING_TYPES(params[i].scalar_type(), "adam_in_one_pass", [&] {
      // The constants rounded to the parameters' type, as the _foreach operations round their scalars.
      const AdamStep<scalar_t> c{static_cast<scalar_t>(o.weight_decay), static_cast<scalar_t>(o.beta1),
                                 static_cast<scalar_t>(1 - o.beta1),     static_cast<scalar_t>(o.beta2),
                                 static_cast<scalar_t>(1 - o.beta2),     static_cast<scalar_t>(std::sqrt(correction.second)),
                                 static_cast<scalar_t>(o.eps),           static_cast<scalar_t>(-lr / correction.first)};
      adam_in_one_pass<scalar_t>(params[i], grads[i], first[i], second[i], c);
    });
  return true;
}

std::vector<std::pair<std::string, at::Tensor>> Optimizer::state() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (size_t i = 0; i < parameters_.size(); ++i) {
    if (options_.kind == OptimizerKind::Adam) {
      out.emplace_back("exp_avg." + std::to_string(i), first_[i]);
      out.emplace_back("exp_avg_sq." + std::to_string(i), second_[i]);
    } else {
      out.emplace_back("momentum." + std::to_string(i), first_[i]);
    }
  }
  out.emplace_back("step", at::tensor(steps_, at::kLong));
  return out;
}

void Optimizer::load_state(const std::vector<std::pair<std::string, at::Tensor>>& state, const std::string& source) {
  std::map<std::string, at::Tensor> given(state.begin(), state.end());
  at::NoGradGuard no_grad;
  for (const auto& [name, target] : this->state()) {
    const auto it = given.find(name);
    STYLESEG_CHECK(it != given.end(), InputError,
                   source + ": the optimiser state has no '" + name + "' (saved with another --optimizer?)");
    if (name == "step") {
      steps_ = it->second.item<int64_t>();
      continue;
    }
    STYLESEG_CHECK(it->second.sizes() == target.sizes(), InputError,
                   source + ": optimiser entry '" + name + "' has shape " + c10::str(it->second.sizes()) + ", expected " +
                       c10::str(target.sizes()));
    // `target` shares storage with first_/second_: copying into it restores them.
    at::Tensor(target).copy_(it->second.to(target.device(), target.scalar_type()));
  }
}

double poly_learning_rate(double base, int64_t step, int64_t total, double power) {
  if (total <= 0) return base;
  const double left = 1.0 - static_cast<double>(std::min(step, total)) / static_cast<double>(total);
  return base * std::pow(left, power);
}

}  // namespace styleseg::train
