// The GAN quality figures on N ranks equal those of one process: every rank takes every
// size-th image and the sums are allreduced.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "models/stylegan2/checkpoint.h"
#include "mpi/local_communicator.h"
#include "stages/gan_quality.h"
#include "stages/make_eyes.h"
#include "support/fixtures.h"
#include "support/tiny_generator.h"
#include "support/tiny_segmenter.h"
#include "train/training_images.h"
#include "world.h"

namespace styleseg::stages {
namespace {

TEST(GanQualityRanks, FiguresEqualOneProcess) {
  comm::Communicator& comm = test::world();
  const std::string dir = comm::decide_on_root(comm, [] { return test::scratch_dir("gan_quality_ranks"); });
  if (comm.rank() == 0) {
    MakeEyesOptions e;
    e.out = dir + "/eyes.h5";
    e.count = 40;
    e.size = 16;
    comm::LocalCommunicator alone;
    make_eyes(e, alone, {});
    test::write_random_segmenter(dir + "/seg.pt", {"background", "sclera", "iris", "pupil"}, 16, 7);
  }
  comm.barrier();
  const stylegan2::Generator g = stylegan2::init_generator(test::tiny_generator_architecture(), 3);
  const train::TrainingImages real(dir + "/eyes.h5", 16);
  comm::LocalCommunicator alone;
  GanQualityProbe one(dir + "/seg.pt", real, 37, 11, c10::Device(c10::kCPU), alone);
  GanQualityProbe many(dir + "/seg.pt", real, 37, 11, c10::Device(c10::kCPU), comm);
  const evaluate::QualityFigures a = one.measure(g, alone), b = many.measure(g, comm);
  // float32 networks over batches of other sizes round differently (~1e-7 relative), and the
  // distance's cancellation (traces minus twice the root's) magnifies it; labels are exact.
  EXPECT_NEAR(a.frechet, b.frechet, 1e-4 * std::max(1.0, a.frechet));
  EXPECT_GT(a.frechet, 0.0);
  ASSERT_EQ(a.share_distance_per_class.size(), 4u);
  for (size_t k = 0; k < 4; ++k) EXPECT_NEAR(a.share_distance_per_class[k], b.share_distance_per_class[k], 1e-12) << k;
}

}  // namespace
}  // namespace styleseg::stages
