// The procedural eye domain: determinism, exact masks of simple geometries, image and mask
// from the same geometry, the dataset written by make-eyes, the intensity baseline.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include <filesystem>

#include "core/error.h"
#include "dataset/reader.h"
#include "domains/eyes.h"
#include "mpi/local_communicator.h"
#include "stages/make_eyes.h"
#include "support/fixtures.h"

namespace styleseg::eyes {
namespace {

constexpr double kPi = 3.14159265358979323846;

EyeGeometry open_eye() {
  EyeGeometry g;
  g.cx = 64;
  g.cy = 64;
  g.half_width = 50;
  g.upper_open = 0.6;
  g.lower_open = 0.6;
  g.iris_radius = 0.4;
  g.pupil_ratio = 0.5;
  return g;
}

int64_t count_of(const at::Tensor& mask, int64_t cls) { return (mask == cls).sum().item<int64_t>(); }

TEST(Eyes, SameSeedAndIndexSameSample) {
  const EyeOptions o{96, 128, false};
  const EyeSample a = render_eye(o, 7, 3), b = render_eye(o, 7, 3), c = render_eye(o, 7, 4), d = render_eye(o, 8, 3);
  EXPECT_TRUE(at::equal(a.image, b.image));
  EXPECT_TRUE(at::equal(a.mask, b.mask));
  EXPECT_FALSE(at::equal(a.image, c.image));
  EXPECT_FALSE(at::equal(a.image, d.image));
  EXPECT_EQ(a.image.sizes(), (std::vector<int64_t>{96, 128, 3}));
  EXPECT_EQ(a.mask.sizes(), (std::vector<int64_t>{96, 128}));
  EXPECT_LE(a.mask.max().item<int>(), 3);
}

TEST(Eyes, MaskOfAnOpenEyeIsExact) {
  const at::Tensor mask = render_mask(open_eye(), 128, 128);
  auto at_offset = [&](double du, double dv) {  // class at (cx + du * 50, cy + dv * 50)
    return mask[static_cast<int64_t>(64 + dv * 50)][static_cast<int64_t>(64 + du * 50)].item<int>();
  };
  EXPECT_EQ(at_offset(0, 0), 3);       // pupil: radius 0.2
  EXPECT_EQ(at_offset(0.3, 0), 2);     // iris: 0.2 .. 0.4
  EXPECT_EQ(at_offset(0.6, 0), 1);     // sclera
  EXPECT_EQ(at_offset(0, -0.75), 0);   // above the upper lid (0.6 at the centre)
  EXPECT_EQ(at_offset(0, 0.75), 0);    // below the lower lid
  EXPECT_EQ(at_offset(1.1, 0), 0);     // beyond the corner
  // Areas: pupil pi (10 px)^2; the iris ring pi (20^2 - 10^2); the aperture between two
  // parabolas 0.6 (1 - u^2) on each side: 2 * 0.6 * 4/3 half-widths^2.
  EXPECT_NEAR(count_of(mask, 3), kPi * 100, 0.05 * kPi * 100);
  EXPECT_NEAR(count_of(mask, 2), kPi * 300, 0.05 * kPi * 300);
  const double aperture = 2 * 0.6 * 4.0 / 3.0 * 2500;
  EXPECT_NEAR(count_of(mask, 1) + count_of(mask, 2) + count_of(mask, 3), aperture, 0.03 * aperture);
}

TEST(Eyes, GazeForeshortensAndLidsOccludeTheIris) {
  EyeGeometry g = open_eye();
  g.foreshortening = 0.5;  // squeezed along u
  g.gaze_angle = 0;
  const at::Tensor pupil = render_mask(g, 128, 128) == 3;
  const int64_t wide = pupil.any(0).sum().item<int64_t>(), tall = pupil.any(1).sum().item<int64_t>();
  EXPECT_NEAR(static_cast<double>(wide) / static_cast<double>(tall), 0.5, 0.1);
  // A nearly closed eye hides most of the iris: the lids cut it, the mask says so.
  EyeGeometry closed = open_eye();
  closed.upper_open = closed.lower_open = 0.08;
  const at::Tensor m = render_mask(closed, 128, 128);
  EXPECT_LT(count_of(m, 2) + count_of(m, 3), 0.3 * kPi * 400);
  EXPECT_GT(count_of(m, 2), 0);
}

TEST(Eyes, LashesOverTheEyeAreBackground) {
  EyeGeometry g = open_eye();
  const at::Tensor bare = render_mask(g, 128, 128);
  g.lashes = 30;
  g.lash_length_in = 0.4;
  g.lash_seed = 5;
  const at::Tensor lashed = render_mask(g, 128, 128);
  const int64_t changed = (bare != lashed).sum().item<int64_t>();
  EXPECT_GT(changed, 20);
  EXPECT_TRUE(((bare != lashed).logical_and(lashed != 0)).sum().item<int64_t>() == 0);  // lashes only remove
}

TEST(Eyes, ImageFollowsTheMaskPupilDarkestScleraBrightest) {
  const EyeOptions o{128, 128, false};
  double pupil = 0, iris = 0, sclera = 0;
  int counted = 0;
  for (int64_t i = 0; i < 20; ++i) {
    const EyeSample s = render_eye(o, 3, i);
    const at::Tensor grey = s.image.to(at::kFloat).mean(-1);
    const at::Tensor inner = s.mask;
    if (count_of(inner, 3) < 10 || count_of(inner, 2) < 10 || count_of(inner, 1) < 10) continue;
    pupil += grey.masked_select(inner == 3).mean().item<double>();
    iris += grey.masked_select(inner == 2).mean().item<double>();
    sclera += grey.masked_select(inner == 1).mean().item<double>();
    ++counted;
  }
  ASSERT_GT(counted, 10);
  EXPECT_LT(pupil, iris);
  EXPECT_LT(iris, sclera);
}

TEST(MakeEyes, WritesAReadableDatasetAndScoresTheBaseline) {
  const std::string dir = test::scratch_dir("make_eyes");
  stages::MakeEyesOptions o;
  o.out = dir + "/eyes.h5";
  o.count = 60;
  o.height = 48;
  o.width = 80;
  o.seed = 2;
  o.batch = 7;
  o.first_index = 1000;
  o.baseline_test = 20;
  o.png_dir = dir + "/png";
  comm::LocalCommunicator comm;
  const auto summary = stages::make_eyes(o, comm, {});
  EXPECT_GT(summary.baseline_miou, 0.1);
  EXPECT_LT(summary.baseline_miou, 0.6);  // intensity alone cannot tell sclera from skin, iris from shadow
  const dataset::DatasetReader reader(o.out);
  EXPECT_EQ(reader.header().classes, class_names());
  EXPECT_EQ(reader.header().height, 48);
  EXPECT_EQ(reader.header().width, 80);
  const dataset::Batch batch = reader.read({0, 59});
  const EyeSample first = render_eye({48, 80, false}, 2, 1000), last = render_eye({48, 80, false}, 2, 1059);
  EXPECT_TRUE(at::equal(batch.images[0], first.image));
  EXPECT_TRUE(at::equal(batch.masks[1], last.mask.to(at::kLong)));
  EXPECT_TRUE(std::filesystem::exists(dir + "/png/masks/eye_1059.png"));
  EXPECT_THROW(stages::make_eyes(o, comm, {}), OutputError);  // exists, no --force
}

}  // namespace
}  // namespace styleseg::eyes
