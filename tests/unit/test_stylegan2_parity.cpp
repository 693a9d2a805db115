// Parity with the reference implementations: every case, output and captured activation
// in ../shared/fixtures/stylegan2_{rosinality,nvlabs}/expected.h5 must match within
// max(10 x the dataset's relerr_f32_vs_f64, 1e-5) (fixtures README).
#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard: ATen/ATen.h no longer includes it in LibTorch 2.x
#include <gtest/gtest.h>

#include <cstdio>
#include <map>

#include "io/h5.h"
#include "io/h5_tensor.h"
#include "models/stylegan2/checkpoint.h"
#include "support/fixtures.h"
#include "support/parity.h"

namespace styleseg::stylegan2 {
namespace {

using test::Capture;
using test::ParityChecker;
using test::relative_error;

TEST(StyleGAN2Parity, Rosinality) {
  STYLESEG_REQUIRE_FIXTURE(checkpoint, "stylegan2_rosinality/checkpoint.pt");
  STYLESEG_REQUIRE_FIXTURE(expected_path, "stylegan2_rosinality/expected.h5");
  Generator g = load_generator(checkpoint);
  ASSERT_EQ(g.layout(), Layout::Rosinality);
  h5::File file = h5::File::open(expected_path, h5::Mode::Read);
  // The architecture is read from the checkpoint's shapes; compare with the fixture's record.
  EXPECT_EQ(g.architecture().resolution, file.read_int_attribute("/", "size"));
  EXPECT_EQ(g.architecture().w_dim, file.read_int_attribute("/", "style_dim"));
  EXPECT_EQ(g.architecture().mapping_layers, file.read_int_attribute("/", "n_mlp"));
  EXPECT_EQ(g.architecture().num_ws(), file.read_int_attribute("/", "n_latent"));
  EXPECT_TRUE(at::equal(g.average_latent(), h5::read_tensor(file, "latent_avg")));
  g.to(test::test_device(), at::kFloat);

  int total = 0;
  // Cases 1-3: z -> image; 2 truncates towards the given latent, 3 takes explicit noise.
  auto run_z_case = [&](const std::string& group, double psi, bool explicit_noise) {
    ParityChecker c(file, group);
    Capture cap;
    auto sink = cap.sink();
    Noise noise = Noise::constant();
    if (explicit_noise) {
      std::vector<at::Tensor> layers;
      for (int i = 0; i < g.architecture().num_conv_layers(); ++i) layers.push_back(c.input("noise_" + std::to_string(i)));
      noise = Noise::explicit_tensors(layers);
    }
    at::Tensor w = g.map(c.input("z"), &sink);
    at::Tensor ws = psi == 1.0 ? g.broadcast(w) : g.truncate(g.broadcast(w), psi, c.input("truncation_latent"));
    at::Tensor image = g.synthesize(ws, noise, -1, &sink).image;
    c.expect_close("outputs/w", w);
    c.expect_close("outputs/latent", ws);
    c.expect_close("outputs/image", image);
    c.expect_activations(cap);
    total += c.checked();
  };
  run_z_case("case1_z", 1.0, false);
  run_z_case("case2_truncation", 0.7, false);
  run_z_case("case3_explicit_noise", 1.0, true);
  {  // case4_style_mixing: inject_index 3
    ParityChecker c(file, "case4_style_mixing");
    Capture cap;
    auto sink = cap.sink();
    at::Tensor w0 = g.map(c.input("z0"), &sink);
    at::Tensor w1 = g.map(c.input("z1"), &sink);
    at::Tensor ws = g.mix(g.broadcast(w0), g.broadcast(w1), 3);
    at::Tensor image = g.synthesize(ws, Noise::constant(), -1, &sink).image;
    c.expect_close("outputs/w0", w0);
    c.expect_close("outputs/w1", w1);
    c.expect_close("outputs/latent", ws);
    c.expect_close("outputs/image", image);
    c.expect_activations(cap);
    total += c.checked();
  }
  {  // case5_w_plus: per-layer latents given directly
    ParityChecker c(file, "case5_w_plus");
    Capture cap;
    auto sink = cap.sink();
    at::Tensor ws = c.input("w_plus");
    at::Tensor image = g.synthesize(ws, Noise::constant(), -1, &sink).image;
    c.expect_close("outputs/latent", ws);
    c.expect_close("outputs/image", image);
    c.expect_activations(cap);
    total += c.checked();
  }
  EXPECT_GT(total, 150);  // every listed dataset was compared
}

TEST(StyleGAN2Parity, NVlabs) {
  STYLESEG_REQUIRE_FIXTURE(checkpoint, "stylegan2_nvlabs/checkpoint.pt");
  STYLESEG_REQUIRE_FIXTURE(expected_path, "stylegan2_nvlabs/expected.h5");
  Generator g = load_generator(checkpoint);
  ASSERT_EQ(g.layout(), Layout::NVlabs);
  h5::File file = h5::File::open(expected_path, h5::Mode::Read);
  EXPECT_EQ(g.architecture().resolution, file.read_int_attribute("/", "img_resolution"));
  EXPECT_EQ(g.architecture().num_ws(), file.read_int_attribute("/", "num_ws"));
  EXPECT_EQ(g.architecture().z_dim, file.read_int_attribute("/", "z_dim"));
  EXPECT_TRUE(at::equal(g.average_latent(), h5::read_tensor(file, "w_avg")));
  g.to(test::test_device(), at::kFloat);

  int total = 0;
  auto run_z_case = [&](const std::string& group, double psi, Noise noise) {
    ParityChecker c(file, group);
    Capture cap;
    auto sink = cap.sink();
    at::Tensor ws = g.truncate(g.broadcast(g.map(c.input("z"), &sink)), psi);
    at::Tensor image = g.synthesize(ws, noise, -1, &sink).image;
    c.expect_close("outputs/ws", ws);
    c.expect_close("outputs/img", image);
    c.expect_activations(cap);
    total += c.checked();
  };
  run_z_case("case1_psi1", 1.0, Noise::constant());
  run_z_case("case2_psi", 0.7, Noise::constant());
  run_z_case("case4_noise_none", 1.0, Noise::none());
  {
    ParityChecker c(file, "case3_synthesis_ws");
    Capture cap;
    auto sink = cap.sink();
    at::Tensor image = g.synthesize(c.input("ws"), Noise::constant(), -1, &sink).image;
    c.expect_close("outputs/img", image);
    c.expect_activations(cap);
    total += c.checked();
  }
  EXPECT_GT(total, 60);
}

// Each layout's first z case of the fixture: its group and its image dataset.
struct FirstCase {
  std::string group, image;
};
FirstCase first_case(const std::string& layout) {
  if (layout == "rosinality") return {"case1_z", "case1_z/outputs/image"};
  return {"case1_psi1", "case1_psi1/outputs/img"};
}

// Without autograd (as `generate` runs) the generator computes in place: the features of
// every layer and the image must still match, for both layouts.
TEST(StyleGAN2Parity, NoGradFeaturesAndImagesMatch) {
  at::NoGradGuard no_grad;
  for (const std::string layout : {"rosinality", "nvlabs"}) {
    SCOPED_TRACE(layout);
    STYLESEG_REQUIRE_FIXTURE(checkpoint, "stylegan2_" + layout + "/checkpoint.pt");
    STYLESEG_REQUIRE_FIXTURE(expected_path, "stylegan2_" + layout + "/expected.h5");
    Generator g = load_generator(checkpoint);
    g.to(test::test_device(), at::kFloat);
    h5::File file = h5::File::open(expected_path, h5::Mode::Read);
    const auto [group, image] = first_case(layout);
    at::Tensor ws = g.broadcast(g.map(h5::read_tensor(file, group + "/inputs/z")));
    for (int layer = 0; layer < g.architecture().num_conv_layers(); ++layer) {
      const SynthesisResult result = g.synthesize(ws, Noise::constant(), layer);
      const std::string name = conv_layer_name(g.layout(), layer);
      // NVlabs stores per-layer outputs only for conv0; its block output ':x' is conv1's.
      std::string path = group + "/activations/" + name;
      if (!file.exists(path) && layout == "nvlabs") path = group + "/activations/" + name.substr(0, name.rfind('.')) + ":x";
      if (file.exists(path)) {
        EXPECT_LE(relative_error(result.features, h5::read_tensor(file, path)), test::parity_tolerance(file, path)) << path;
      }
      EXPECT_LE(relative_error(result.image, h5::read_tensor(file, image)), test::parity_tolerance(file, image)) << image;
    }
  }
}

// bfloat16 (the GPU setting), the whole generator in it. Its unit roundoff is 2^16 times
// float32's, and the reference measured float32's error on this very image
// (relerr_f32_vs_f64), so bfloat16's should be about 2^16 times that: measured 0.45-0.6 of
// it on the CPU. The bound allows 4x, small enough to catch a layer computed wrongly
// (relative error ~1).
TEST(StyleGAN2Parity, Bfloat16IsCloseToTheReference) {
  STYLESEG_SKIP_IF_EMULATED_ISA_LACKS_BFLOAT16();
  at::NoGradGuard no_grad;
  for (const std::string layout : {"rosinality", "nvlabs"}) {
    SCOPED_TRACE(layout);
    STYLESEG_REQUIRE_FIXTURE(checkpoint, "stylegan2_" + layout + "/checkpoint.pt");
    STYLESEG_REQUIRE_FIXTURE(expected_path, "stylegan2_" + layout + "/expected.h5");
    Generator g = load_generator(checkpoint);
    g.to(test::test_device(), at::kBFloat16);
    h5::File file = h5::File::open(expected_path, h5::Mode::Read);
    const auto [group, expected] = first_case(layout);
    const at::Tensor image = g.synthesize(g.broadcast(g.map(h5::read_tensor(file, group + "/inputs/z"))), Noise::constant()).image;
    EXPECT_EQ(image.scalar_type(), at::kBFloat16);
    const double error = relative_error(image, h5::read_tensor(file, expected));
    const double bound = 4 * 65536 * file.read_double_attribute(expected, "relerr_f32_vs_f64");
    std::printf("[ numerics ] %s generator in bfloat16: relative error %.2e (bound %.2e)\n", layout.c_str(), error, bound);
    EXPECT_LE(error, bound);
  }
}

}  // namespace
}  // namespace styleseg::stylegan2
