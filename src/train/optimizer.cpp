#include "train/optimizer.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer includes it in LibTorch 2.x

#include <cmath>
#include <map>

#include "core/error.h"

namespace styleseg::train {

Optimizer::Optimizer(std::vector<at::Tensor> parameters, OptimizerOptions options)
    : parameters_(std::move(parameters)), options_(std::move(options)) {
  STYLESEG_CHECK(options_.kind == "adam" || options_.kind == "sgd", ConfigError,
                 "--optimizer must be adam or sgd, not '" + options_.kind + "'");
  STYLESEG_CHECK(options_.weight_decay >= 0, ConfigError, "--weight-decay must be >= 0");
  STYLESEG_CHECK(options_.momentum >= 0 && options_.momentum < 1, ConfigError, "--momentum must be in [0, 1)");
  STYLESEG_CHECK(options_.beta1 >= 0 && options_.beta1 < 1 && options_.beta2 >= 0 && options_.beta2 < 1 && options_.eps > 0,
                 ConfigError, "Adam needs betas in [0, 1) and eps > 0");
  for (const at::Tensor& p : parameters_) {
    first_.push_back(at::zeros_like(p, at::MemoryFormat::Preserve));
    second_.push_back(options_.kind == "adam" ? at::zeros_like(p, at::MemoryFormat::Preserve) : at::Tensor());
  }
}

void Optimizer::zero_grad() {
  for (at::Tensor& p : parameters_)
    if (p.grad().defined()) p.mutable_grad().zero_();
}

void Optimizer::step(double lr) {
  at::NoGradGuard no_grad;
  ++steps_;
  const auto& o = options_;
  for (size_t i = 0; i < parameters_.size(); ++i) {
    at::Tensor& p = parameters_[i];
    if (!p.grad().defined()) continue;
    at::Tensor g = p.grad();
    if (o.weight_decay != 0) g = g.add(p, o.weight_decay);
    if (o.kind == "adam") {
      first_[i].mul_(o.beta1).add_(g, 1 - o.beta1);
      second_[i].mul_(o.beta2).addcmul_(g, g, 1 - o.beta2);
      const double correction1 = 1 - std::pow(o.beta1, static_cast<double>(steps_));
      const double correction2 = 1 - std::pow(o.beta2, static_cast<double>(steps_));
      const at::Tensor denominator = (second_[i].sqrt() / std::sqrt(correction2)).add_(o.eps);
      p.addcdiv_(first_[i], denominator, -lr / correction1);
    } else {
      if (o.momentum > 0) {
        if (steps_ == 1) first_[i].copy_(g);
        else first_[i].mul_(o.momentum).add_(g);
        g = first_[i];
      }
      p.add_(g, -lr);
    }
  }
}

std::vector<std::pair<std::string, at::Tensor>> Optimizer::state() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (size_t i = 0; i < parameters_.size(); ++i) {
    if (options_.kind == "adam") {
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
