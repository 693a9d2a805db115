// The probe across ranks: every rank fits the same model from the same fit rows, each scores
// its share of the pixels (batch j on rank j mod size, as `styleseg probe` splits samples),
// and the report equals one process scoring them all, exactly (int64 counts).
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "evaluate/probe.h"
#include "mpi/communicator.h"
#include "mpi/local_communicator.h"
#include "world.h"

namespace styleseg::evaluate {
namespace {

struct Rows {
  at::Tensor x, y;
};
Rows make_rows(int64_t batch) {
  at::Generator g = at::detail::createCPUGenerator(500 + static_cast<uint64_t>(batch));
  const at::Tensor y = at::randint(0, 4, {256}, g);
  return {at::randn({256, 6}, g) + y.unsqueeze(1).to(at::kFloat) * 0.8, y};
}

TEST(ProbeRanks, ReportOverRanksEqualsOneProcess) {
  comm::Communicator& comm = test::world();
  ProbeSettings settings;
  settings.classes = 4;
  settings.clusters = 6;
  const Rows fit = make_rows(-1);
  FeatureProbe shared(fit.x, fit.y, settings), alone(fit.x, fit.y, settings);
  for (int64_t b = 0; b < 9; ++b) {
    const Rows r = make_rows(b);
    alone.add_scores(r.x, r.y);
    if (b % comm.size() == comm.rank()) shared.add_scores(r.x, r.y);
  }
  comm::LocalCommunicator one;
  const ProbeReport a = shared.report(comm), b = alone.report(one);
  EXPECT_TRUE(at::equal(a.ceiling.mapped, b.ceiling.mapped));
  EXPECT_TRUE(at::equal(a.kmeans.mapped, b.kmeans.mapped));
  EXPECT_EQ(a.ceiling.mean_iou, b.ceiling.mean_iou);
  EXPECT_EQ(a.kmeans.mean_iou, b.kmeans.mean_iou);
  EXPECT_EQ(a.score_pixels, 9 * 256);
  ASSERT_EQ(a.best_cluster.size(), b.best_cluster.size());
  for (size_t c = 0; c < a.best_cluster.size(); ++c) EXPECT_EQ(a.best_cluster[c].cluster, b.best_cluster[c].cluster);
}

}  // namespace
}  // namespace styleseg::evaluate
