// Latent directions (directions/*): the linear fit, the direction file, the scorers, and the
// sampler's shift along a direction.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/error.h"
#include "directions/latent_direction.h"
#include "directions/linear_fit.h"
#include "directions/scorers.h"
#include "models/segmenter/model_file.h"
#include "models/segmenter/predict.h"
#include "models/stylegan2/checkpoint.h"
#include "mpi/local_communicator.h"
#include "stages/direction.h"
#include "sampling/sampler.h"
#include "support/fixtures.h"
#include "support/tiny_generator.h"
#include "support/tiny_segmenter.h"

namespace styleseg::directions {
namespace {

double cosine(const at::Tensor& a, const at::Tensor& b) {
  const at::Tensor x = a.to(at::kDouble).flatten(), y = b.to(at::kDouble).flatten();
  return (x.dot(y) / (x.norm() * y.norm())).item<double>();
}

// Correlated, off-centre latents whose score is a known linear function plus noise: the
// fitted normal is that function's direction, for both classifiers.
TEST(LinearFit, RecoversTheDirectionOfALinearScore) {
  at::Generator g = at::detail::createCPUGenerator(5);
  const int64_t n = 6000, d = 16;
  const at::Tensor mix = 0.5 * at::randn({d, d}, g) / std::sqrt(static_cast<double>(d)) + at::eye(d);
  const at::Tensor latents = at::matmul(at::randn({n, d}, g), mix) + 3.0;
  const at::Tensor truth = at::randn({d}, g);
  const at::Tensor scores = at::matmul(latents, truth) + 0.05 * at::randn({n}, g);
  for (const char* method : {"svm", "logistic"}) {
    SCOPED_TRACE(method);
    const LinearFit fit = fit_linear_direction(latents, scores, {parse_name<DirectionMethod>(method, "--method")});
    EXPECT_GE(cosine(fit.direction, truth), 0.99);
    EXPECT_NEAR(fit.direction.norm().item<double>(), 1.0, 1e-9);
    EXPECT_GE(fit.heldout_accuracy, 0.97);
    EXPECT_EQ(fit.positives, 1500);
    EXPECT_EQ(fit.negatives, 1500);
    EXPECT_GT(fit.heldout, 450);  // the labelled samples with i % 5 == 0: about a fifth of 3000
    EXPECT_LT(fit.heldout, 750);
  }
}

TEST(LinearFit, ScoresThatDoNotSeparateTheTailsAreAConfigError) {
  const at::Tensor latents = at::randn({100, 4});
  EXPECT_THROW(fit_linear_direction(latents, at::ones({100}), {}), ConfigError);
  EXPECT_THROW(fit_linear_direction(latents.narrow(0, 0, 6), at::arange(6, at::kDouble), {}), ConfigError);  // tails of 1
  EXPECT_THROW(parse_name<DirectionMethod>("tree", "--method"), ConfigError);
}

TEST(LatentDirectionFile, RoundTripsAndRejectsOtherFiles) {
  const std::string dir = test::scratch_dir("direction_file");
  LatentDirection d;
  d.direction = at::randn({16});
  d.method = "svm";
  d.scorer = {{"kind", "darkness"}};
  d.heldout_accuracy = 0.9;
  d.suggested_alpha = 2.5;
  d.projection_std = 0.7;
  d.positive_threshold = 0.4;
  d.sweep_alpha = {0, 1, 2};
  d.sweep_rate = {0.25, 0.5, 0.8};
  d.sweep_score = {0.1, 0.2, 0.3};
  write_direction(dir + "/d.h5", d);
  const LatentDirection r = read_direction(dir + "/d.h5");
  EXPECT_TRUE(at::equal(r.direction, d.direction));
  EXPECT_EQ(r.method, "svm");
  EXPECT_EQ(r.scorer, d.scorer);
  EXPECT_EQ(r.sweep_rate, d.sweep_rate);
  EXPECT_DOUBLE_EQ(r.suggested_alpha, 2.5);
  EXPECT_EQ(r.per_layer(5).sizes(), (std::vector<int64_t>{5, 16}));
  EXPECT_THROW(read_direction(dir + "/absent.h5"), InputError);
  EXPECT_THROW(LatentDirection{at::randn({3, 16})}.per_layer(5), ConfigError);
}

// pixels: the left half black, the right half white.
ScoredBatch half_and_half() {
  at::Tensor pixels = at::zeros({2, 8, 8, 3}, at::kByte);
  pixels.narrow(2, 4, 4).fill_(255);
  pixels[1].fill_(51);  // the second sample: uniform grey 0.2
  return {at::zeros({2, 3, 8, 8}), pixels, at::zeros({2, 2, 4})};
}

TEST(Scorers, BrightnessAndDarknessAreTheGreyLevelInTheBox) {
  const ScoredBatch b = half_and_half();
  ScorerOptions o;
  o.kind = "brightness";
  o.box = "0.5,0,1,1";
  at::Tensor s = make_scorer(o, c10::Device(c10::kCPU))->score(b);
  EXPECT_NEAR(s[0].item<double>(), 1.0, 1e-6);
  EXPECT_NEAR(s[1].item<double>(), 0.2, 1e-6);
  o.kind = "darkness";
  o.box = "0,0,0.75,1";  // 2/3 black, 1/3 white
  s = make_scorer(o, c10::Device(c10::kCPU))->score(b);
  EXPECT_NEAR(s[0].item<double>(), 2.0 / 3.0, 1e-6);
  for (const char* bad : {"0,0,1", "0.5,0,0.5,1", "0,0,1,1.5", "a,b,c,d"}) EXPECT_THROW(parse_box(bad), ConfigError) << bad;
}

TEST(Scorers, TheSegmenterScoreIsTheShareOfTheClassItPredicts) {
  const std::string dir = test::scratch_dir("segmenter_scorer");
  const std::string model = test::write_random_segmenter(dir + "/seg.pt", {"background", "iris", "pupil"}, 32, 4);
  ScorerOptions o;
  o.kind = "segmenter";
  o.model = model;
  o.class_name = "iris";
  at::Generator g = at::detail::createCPUGenerator(2);
  const at::Tensor pixels = at::randint(0, 256, {3, 32, 32, 3}, g).to(at::kByte);
  const at::Tensor s = make_scorer(o, c10::Device(c10::kCPU))->score({at::zeros({3, 3, 32, 32}), pixels, at::zeros({3, 2, 4})});
  segmenter::LoadedModel loaded = segmenter::load_model(model);
  loaded.net.train(false);
  for (int64_t i = 0; i < 3; ++i) {
    const at::Tensor labels = segmenter::predict_labels(loaded.net, loaded.info, {pixels[i]}, c10::Device(c10::kCPU))[0];
    EXPECT_NEAR(s[i].item<double>(), (labels == 1).to(at::kDouble).mean().item<double>(), 1e-6);
  }
  o.class_name = "eyelid";
  try {
    make_scorer(o, c10::Device(c10::kCPU));
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("background, iris, pupil"), std::string::npos) << e.what();
  }
  o.kind = "colour";
  EXPECT_THROW(make_scorer(o, c10::Device(c10::kCPU)), ConfigError);
  o.kind = "clip";
  EXPECT_THROW(make_scorer(o, c10::Device(c10::kCPU)), ConfigError);  // no model, prompt
}

// --direction/--alpha: every layer's latent moves by alpha times the direction, after
// truncation, and the images follow.
TEST(SamplerShift, LatentsMoveByAlphaTimesTheDirection) {
  const std::string dir = test::scratch_dir("sampler_shift");
  stylegan2::save_generator(stylegan2::init_generator(test::tiny_generator_architecture(), 3), dir + "/g.pt");
  LatentDirection d;
  d.direction = at::randn({16});
  d.direction /= d.direction.norm();
  d.method = "svm";
  write_direction(dir + "/d.h5", d);
  sampling::SamplerOptions o;
  o.checkpoint = dir + "/g.pt";
  o.truncation = 0.7;
  const sampling::Sampler plain(o, 0);
  o.direction = dir + "/d.h5";
  o.alpha = 1.5;
  const sampling::Sampler shifted(o, 0);
  // Latents stay on the generator's device (--device auto: a GPU where one is visible).
  const at::Tensor base = plain.latents(4, 3).cpu(), moved = shifted.latents(4, 3).cpu();
  EXPECT_TRUE(at::allclose(moved - base, 1.5 * d.direction.expand_as(base), 1e-5, 1e-6));
  EXPECT_FALSE(at::allclose(plain.make(4, 3).raw, shifted.make(4, 3).raw));
  EXPECT_EQ(shifted.describe().at("alpha"), 1.5);
  o.direction.clear();
  EXPECT_THROW(sampling::validate(o, "generate"), ConfigError);  // alpha without a direction
}

// The mean of the generator's output: differentiable, so the optimise method can climb it.
class RawBrightness : public Scorer {
 public:
  at::Tensor score(const ScoredBatch& b) override { return b.raw.mean(at::IntArrayRef{1, 2, 3}); }
  bool differentiable() const override { return true; }
  nlohmann::json describe() const override { return {{"kind", "test: mean of the output"}}; }
};

// --method optimize: gradient steps through the generator raise the score, and the sweep
// along the found direction rises with alpha; a scorer without gradients is refused.
TEST(OptimizeDirection, ClimbsADifferentiableScoreThroughTheGenerator) {
  const std::string dir = test::scratch_dir("optimize_direction");
  stylegan2::save_generator(stylegan2::init_generator(test::tiny_generator_architecture(), 5), dir + "/g.pt");
  stages::DirectionOptions o;
  o.sampling.checkpoint = dir + "/g.pt";
  o.method = directions::DirectionMethod::Optimize;
  o.steps = 25;
  o.batch = 8;
  o.lr = 0.05;
  o.length_penalty = 0.01;
  o.sweep_samples = 32;
  o.out = dir + "/d.h5";
  comm::LocalCommunicator comm;
  RawBrightness scorer;
  const LatentDirection d = stages::find_direction(o, scorer, comm, {});
  EXPECT_EQ(d.method, "optimize");
  EXPECT_NEAR(d.direction.norm().item<float>(), 1.0f, 1e-5f);
  ASSERT_EQ(d.sweep_score.size(), 7u);
  for (size_t i = 1; i < d.sweep_score.size(); ++i) EXPECT_GT(d.sweep_score[i], d.sweep_score[i - 1]) << "alpha " << d.sweep_alpha[i];
  EXPECT_GT(d.sweep_rate.back(), d.sweep_rate.front());
  ScorerOptions box;
  box.kind = "brightness";
  auto not_differentiable = make_scorer(box, c10::Device(c10::kCPU));
  o.force = true;  // the first direction exists
  EXPECT_THROW(stages::find_direction(o, *not_differentiable, comm, {}), ConfigError);
}

}  // namespace
}  // namespace styleseg::directions
