// The segmenter's optimisers, written out (not torch::optim) so that their whole state is a
// list of named tensors that a checkpoint saves and a resume restores exactly, in a file
// Python's torch.load reads too.
//
// The update rules are PyTorch's (torch.optim.Adam and SGD, weight decay as L2 added to
// the gradient, the seed's setting), so results compare with the Python implementation:
//   Adam: g += wd * p;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
//         p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
//   SGD:  g += wd * p;  buf = momentum * buf + g (buf = g at the first step);  p -= lr * buf
//
// The learning rate is given at each step: `poly_learning_rate` is the seed's schedule.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/named_enum.h"

namespace styleseg::train {

enum class OptimizerKind { Adam, Sgd };
constexpr std::array<NamedValue<OptimizerKind>, 2> names_of(OptimizerKind) {
  return {{{OptimizerKind::Adam, "adam"}, {OptimizerKind::Sgd, "sgd"}}};
}

struct OptimizerOptions {
  OptimizerKind kind = OptimizerKind::Adam;
  double weight_decay = 1e-4;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // Adam
  double momentum = 0.9;                            // SGD
};

class Optimizer {
 public:
  // `parameters` in a fixed order (a model's parameters()). Throws ConfigError for
  // out-of-range values, naming the option.
  Optimizer(std::vector<at::Tensor> parameters, OptimizerOptions options);

  // One update of every parameter with a gradient, at learning rate `lr`.
  void step(double lr);
  void zero_grad();
  int64_t steps() const { return steps_; }

  // The state (moment estimates or momentum buffers, and the step count) by name:
  // "exp_avg.3", "exp_avg_sq.3", "momentum.3", "step".
  std::vector<std::pair<std::string, at::Tensor>> state() const;
  // Restores state(); throws InputError naming `source` when an entry is missing or misshapen.
  void load_state(const std::vector<std::pair<std::string, at::Tensor>>& state, const std::string& source);

 private:
  // Adam in one pass over each parameter (CPU, float32 / float64, dense tensors alike); false,
  // having done nothing, where that does not apply (then the _foreach form runs).
  bool adam_one_pass(const std::vector<at::Tensor>& params, const std::vector<at::Tensor>& grads,
                     const std::vector<at::Tensor>& first, const std::vector<at::Tensor>& second, double lr) const;

  std::vector<at::Tensor> parameters_;
  OptimizerOptions options_;
  std::vector<at::Tensor> first_, second_;  // Adam: m, v; SGD: first_ is the momentum buffer
  int64_t steps_ = 0;
};

// The poly schedule: base * (1 - step / total)^power (power 0.9 in the seed).
double poly_learning_rate(double base, int64_t step, int64_t total, double power = 0.9);

}  // namespace styleseg::train
