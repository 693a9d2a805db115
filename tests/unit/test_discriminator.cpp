// The StyleGAN2 discriminator (rosinality layout): names and shapes, minibatch-stddev
// groups, and the double backward lazy R1 regularisation needs.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer includes it in LibTorch 2.x
#include <gtest/gtest.h>

#include <torch/csrc/autograd/autograd.h>

#include "core/error.h"
#include "models/stylegan2/discriminator.h"

namespace styleseg::stylegan2 {
namespace {

Discriminator small(uint64_t seed = 0) {
  at::manual_seed(seed);
  return Discriminator(32, {{4, 32}, {8, 32}, {16, 16}, {32, 8}});
}

TEST(Discriminator, NamesAndShapesAreRosinalitys) {
  const auto state = small().state();
  std::map<std::string, std::vector<int64_t>> shapes;
  for (const auto& [name, t] : state) shapes[name] = t.sizes().vec();
  EXPECT_EQ(shapes.at("convs.0.0.weight"), (std::vector<int64_t>{8, 3, 1, 1}));
  EXPECT_EQ(shapes.at("convs.0.1.bias"), (std::vector<int64_t>{8}));
  EXPECT_EQ(shapes.at("convs.1.conv1.0.weight"), (std::vector<int64_t>{8, 8, 3, 3}));
  EXPECT_EQ(shapes.at("convs.1.conv2.0.kernel"), (std::vector<int64_t>{4, 4}));
  EXPECT_EQ(shapes.at("convs.1.conv2.1.weight"), (std::vector<int64_t>{16, 8, 3, 3}));
  EXPECT_EQ(shapes.at("convs.1.conv2.2.bias"), (std::vector<int64_t>{16}));
  EXPECT_EQ(shapes.at("convs.1.skip.1.weight"), (std::vector<int64_t>{16, 8, 1, 1}));
  EXPECT_EQ(shapes.at("convs.3.skip.1.weight"), (std::vector<int64_t>{32, 32, 1, 1}));
  EXPECT_EQ(shapes.at("final_conv.0.weight"), (std::vector<int64_t>{32, 33, 3, 3}));
  EXPECT_EQ(shapes.at("final_linear.0.weight"), (std::vector<int64_t>{32, 512}));
  EXPECT_EQ(shapes.at("final_linear.1.weight"), (std::vector<int64_t>{1, 32}));
  EXPECT_EQ(shapes.count("convs.4.conv1.0.weight"), 0u);  // 32 -> 16 -> 8 -> 4: three blocks
  EXPECT_EQ(state.size(), 2 + 3 * 7 + 2 + 4u);  // from RGB, 3 blocks, final conv, final linears
  EXPECT_EQ(small().parameters().size(), state.size() - 6);  // the six blur kernels are not trained
  for (const auto& [name, t] : state)
    if (name.find(".kernel") != std::string::npos) EXPECT_NEAR(t.sum().item<double>(), 1.0, 1e-6) << name;
}

TEST(Discriminator, MinibatchStddevCouplesSamplesOfAGroupOnly) {
  const Discriminator d = small(1);
  at::manual_seed(2);
  at::Tensor images = at::randn({8, 3, 32, 32});
  at::NoGradGuard no_grad;
  const at::Tensor before = d.forward(images);
  EXPECT_EQ(before.sizes(), (std::vector<int64_t>{8, 1}));
  images[0] = at::randn({3, 32, 32});
  const at::Tensor after = d.forward(images);
  // Groups of 4 over a batch of 8: sample b shares its statistics with b + 2, b + 4, b + 6.
  for (int64_t b = 1; b < 8; ++b) {
    const bool same_group = b % 2 == 0;
    EXPECT_EQ(at::equal(before[b], after[b]), !same_group) << "sample " << b;
  }
  EXPECT_THROW(d.forward(at::randn({6, 3, 32, 32})), Error);
  EXPECT_THROW(d.forward(at::randn({4, 3, 16, 16})), Error);
}

TEST(Discriminator, R1PenaltyBackpropagatesToTheWeights) {
  const Discriminator d = small(3);
  at::manual_seed(4);
  const at::Tensor real = at::randn({4, 3, 32, 32}).requires_grad_(true);
  const at::Tensor scores = d.forward(real);
  const auto grads = torch::autograd::grad({scores.sum()}, {real}, {}, /*retain_graph=*/true, /*create_graph=*/true);
  const at::Tensor penalty = grads[0].pow(2).flatten(1).sum(1).mean();
  EXPECT_GT(penalty.item<double>(), 0);
  penalty.backward();
  // Every weight gets a gradient; of the biases, those after the minibatch-stddev layer do
  // not (the network is piecewise linear there, so the input gradient does not move with them).
  for (const auto& [name, t] : d.state()) {
    if (name.find(".kernel") != std::string::npos) continue;
    const bool moved = t.grad().defined() && t.grad().abs().sum().item<double>() > 0;
    const bool flat = name == "final_conv.1.bias" || name == "final_linear.0.bias" || name == "final_linear.1.bias";
    EXPECT_EQ(moved, !flat) << name;
  }
}

TEST(Discriminator, StateRoundTripsAndRefusesMisshapenEntries) {
  Discriminator a = small(5), b = small(6);
  b.load_state(a.state(), "a");
  at::manual_seed(7);
  const at::Tensor x = at::randn({4, 3, 32, 32});
  at::NoGradGuard no_grad;
  EXPECT_TRUE(at::equal(a.forward(x), b.forward(x)));
  auto broken = a.state();
  broken[1].second = at::zeros({3});
  EXPECT_THROW(b.load_state(broken, "broken.pt"), InputError);
}

}  // namespace
}  // namespace styleseg::stylegan2
