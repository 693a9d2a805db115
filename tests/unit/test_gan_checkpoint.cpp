// train-gan's checkpoint: g, g_ema, d and the optimiser states round-trip, in rosinality's
// train.py layout that `generate` (and rosinality's own loader) reads.
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer includes it in LibTorch 2.x
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>

#include "core/error.h"
#include "io/torch_file.h"
#include "models/stylegan2/checkpoint.h"
#include "support/tiny_generator.h"
#include "support/fixtures.h"
#include "train/gan_checkpoint.h"
#include "train/optimizer.h"

namespace styleseg::train {
namespace {

at::Tensor render(const stylegan2::Generator& g) {
  at::manual_seed(9);
  const at::Tensor z = at::randn({2, 16});
  at::NoGradGuard no_grad;
  return g.synthesize(g.broadcast(g.map(z)), stylegan2::Noise::constant()).image;
}

TEST(GanCheckpoint, RoundTripsEveryPartInRosinalitysLayout) {
  const std::string path = test::scratch_dir("gan_ckpt") + "/gan.pt";
  stylegan2::Generator g = stylegan2::init_generator(test::tiny_generator_architecture(), 1), g_ema = stylegan2::init_generator(test::tiny_generator_architecture(), 2);
  g_ema.set_average_latent(at::full({16}, 0.25));
  at::manual_seed(3);
  stylegan2::Discriminator d(16, {{4, 16}, {8, 12}, {16, 8}});
  Optimizer d_optim(d.parameters(), {});
  for (const auto& p : d.parameters()) at::Tensor(p).mutable_grad() = at::randn_like(p);
  d_optim.step(1e-3);
  GanTrainingState state;
  state.step = 42;
  state.identity = "{\"x\":1}";
  state.seed = 7;
  state.path_length_mean = 0.125;
  state.d_optimizer = d_optim.state();
  state.g_optimizer = {{"step", at::tensor(int64_t{5})}};
  save_gan_checkpoint(path, g, g_ema, d, state);

  const io::PyValue root = io::load_torch_file(path);
  for (const char* key : {"g", "g_ema", "d", "latent_avg", "g_optim", "d_optim"}) EXPECT_TRUE(root.contains(key)) << key;
  const LoadedGan loaded = load_gan_checkpoint(path);
  EXPECT_TRUE(at::allclose(render(loaded.g), render(g), 1e-6, 1e-6));
  EXPECT_TRUE(at::allclose(render(loaded.g_ema), render(g_ema), 1e-6, 1e-6));
  EXPECT_FALSE(at::allclose(render(g), render(g_ema), 1e-3, 1e-3));  // and they are not the same network
  EXPECT_TRUE(at::allclose(render(stylegan2::load_generator(path)), render(g_ema), 1e-6, 1e-6));  // what generate reads
  at::manual_seed(4);
  const at::Tensor images = at::randn({4, 3, 16, 16});
  {
    at::NoGradGuard no_grad;
    EXPECT_TRUE(at::equal(loaded.d.forward(images), d.forward(images)));
  }
  EXPECT_EQ(loaded.state.step, 42);
  EXPECT_EQ(loaded.state.identity, state.identity);
  EXPECT_EQ(loaded.state.seed, 7u);
  EXPECT_DOUBLE_EQ(loaded.state.path_length_mean, 0.125);
  Optimizer restored(loaded.d.parameters(), {});
  restored.load_state(loaded.state.d_optimizer, path);
  EXPECT_EQ(restored.steps(), 1);
  EXPECT_THROW(load_gan_checkpoint(test::scratch_dir("gan_ckpt_g") + "/missing.pt"), InputError);
  const std::string plain = test::scratch_dir("gan_ckpt_plain") + "/g.pt";
  stylegan2::save_generator(g_ema, plain);
  EXPECT_THROW(load_gan_checkpoint(plain), InputError);  // a generator file, not a training checkpoint
}

// What rosinality's Python code sees: torch.load opens the file and g_ema / g have the keys
// and shapes of a checkpoint saved from rosinality's own Generator (the fixture), so its
// load_state_dict takes them. Needs /usr/bin/python3 with torch (python3-torch; this machine has it, CI
// does not, and skips with the reason).
TEST(GanCheckpoint, PythonTorchLoadSeesRosinalitysGeneratorEntries) {
  STYLESEG_REQUIRE_FIXTURE(reference, "stylegan2_rosinality/checkpoint.pt");
  if (std::system("/usr/bin/python3 -c 'import torch' > /dev/null 2>&1") != 0)
    GTEST_SKIP() << "Debian's python3-torch is not installed: the torch.load check needs it";
  const stylegan2::Generator g = stylegan2::load_generator(reference);
  std::map<int64_t, int64_t> d_channels;
  for (const auto& [res, ch] : g.architecture().channels) d_channels[res] = ch;
  at::manual_seed(1);
  stylegan2::Discriminator d(g.architecture().resolution, d_channels);
  GanTrainingState state;
  state.identity = "{}";
  const std::string path = test::scratch_dir("gan_ckpt_python") + "/gan.pt";
  save_gan_checkpoint(path, g, g.clone(), d, state);
  const std::string command = "/usr/bin/python3 " + test::test_data_dir() + "/rosinality_layout.py " + reference + " " + path;
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
}

}  // namespace
}  // namespace styleseg::train
