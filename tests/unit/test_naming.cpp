// The arithmetic of naming clusters (cluster/naming.h) on constructed embeddings.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "cluster/naming.h"
#include "core/error.h"
#include "dataset/class_map.h"
#include "stages/name.h"
#include "support/fixtures.h"

#include <fstream>

namespace styleseg::cluster {
namespace {

at::Tensor unit(std::vector<float> values) {
  at::Tensor t = at::tensor(values);
  return t / t.norm();
}

// Two clusters, a 2x2 embedding map over 4x4 labels: cluster 0 holds the left column of
// cells and one pixel of the top-right cell; cluster 1 the rest. Each sum is the
// pixel-count-weighted sum of the unit embeddings of the cells its pixels fall in.
TEST(RegionEmbeddings, SumsAreUnitEmbeddingsWeightedByPixelCounts) {
  const at::Tensor dense = at::zeros({1, 2, 2, 2});
  dense[0].select(1, 0).select(1, 0) = at::tensor({3.f, 0.f});   // cell (0,0): direction (1, 0), length 3
  dense[0].select(1, 1).select(1, 0) = at::tensor({0.f, 2.f});   // cell (1,0): (0, 1)
  dense[0].select(1, 0).select(1, 1) = at::tensor({1.f, 1.f});   // cell (0,1): (1, 1)/sqrt2
  dense[0].select(1, 1).select(1, 1) = at::tensor({-5.f, 0.f});  // cell (1,1): (-1, 0)
  at::Tensor labels = at::ones({1, 4, 4}, at::kLong);
  labels[0].narrow(1, 0, 2).fill_(0);  // left column of cells
  labels[0][0][3] = 0;                 // one pixel of the top-right cell
  RegionEmbeddings regions(2, 2);
  regions.add(dense, labels);
  const double r = 1.0 / std::sqrt(2.0);
  EXPECT_DOUBLE_EQ(regions.weights()[0].item<double>(), 9.0);
  EXPECT_DOUBLE_EQ(regions.weights()[1].item<double>(), 7.0);
  EXPECT_NEAR(regions.sums()[0][0].item<double>(), 4 * 1.0 + 1 * r, 1e-6);
  EXPECT_NEAR(regions.sums()[0][1].item<double>(), 4 * 1.0 + 1 * r, 1e-6);
  EXPECT_NEAR(regions.sums()[1][0].item<double>(), 3 * r - 4, 1e-6);
  EXPECT_NEAR(regions.sums()[1][1].item<double>(), 3 * r, 1e-6);
  const at::Tensor means = regions.means();
  EXPECT_NEAR(means[0].norm().item<float>(), 1.0f, 1e-6f);
  EXPECT_NEAR(means[0][0].item<float>(), means[0][1].item<float>(), 1e-6f);
}

TEST(RegionEmbeddings, AClusterWithoutPixelsHasAZeroMean) {
  RegionEmbeddings regions(3, 4);
  regions.add(at::randn({2, 4, 2, 2}), at::zeros({2, 8, 8}, at::kLong));
  const at::Tensor means = regions.means();
  EXPECT_NEAR(means[0].norm().item<float>(), 1.0f, 1e-6f);
  EXPECT_EQ(means[1].norm().item<float>(), 0.0f);
  EXPECT_EQ(means[2].norm().item<float>(), 0.0f);
}

// Prompts along the axes; cluster means between them: the nearest prompt wins, margins are
// differences of cosines, and an empty cluster stays unnamed.
TEST(ChooseNames, TheClosestPromptNamesEachClusterWithMarginsToTheRunnersUp) {
  const std::vector<std::string> prompts{"hair", "skin", "eyes", "background"};
  const at::Tensor text = at::eye(4) * 7.0;  // any scale: cosine similarity
  const at::Tensor means = at::stack({unit({0.9f, 0.3f, 0.1f, 0.f}), unit({0.f, 0.2f, 0.f, 1.f}), at::zeros({4}),
                                      unit({0.1f, 0.8f, 0.5f, 0.f})});
  const ClusterNames names = choose_names(means, text, prompts);
  ASSERT_EQ(names.clusters.size(), 4u);
  EXPECT_EQ(names.names(), (std::vector<std::string>{"hair", "background", "", "skin"}));
  const at::Tensor m0 = means[0];
  EXPECT_NEAR(names.clusters[0].score, m0[0].item<float>(), 1e-6);
  EXPECT_EQ(names.clusters[0].runner_ups, (std::vector<std::string>{"skin", "eyes"}));
  EXPECT_NEAR(names.clusters[0].margins[0], (m0[0] - m0[1]).item<float>(), 1e-6);
  EXPECT_NEAR(names.clusters[0].margins[1], (m0[0] - m0[2]).item<float>(), 1e-6);
  EXPECT_EQ(names.clusters[3].runner_ups, (std::vector<std::string>{"eyes", "hair"}));
  EXPECT_TRUE(names.clusters[2].runner_ups.empty());
  EXPECT_EQ(names.similarity.sizes(), (std::vector<int64_t>{4, 4}));
  // The class map merges nothing here and leaves the unnamed cluster out.
  EXPECT_EQ(names.class_map(), "0:hair;1:background;3:skin");
}

TEST(ChooseNames, NamesByHandOverrideAndClustersOfOneNameMerge) {
  const std::vector<std::string> prompts{"hair", "skin"};
  const at::Tensor means = at::stack({unit({1.f, 0.f}), unit({0.f, 1.f}), unit({1.f, 0.2f})});
  const ClusterNames names = choose_names(means, at::eye(2), prompts, parse_assignments({"1=hair"}));
  EXPECT_EQ(names.names(), (std::vector<std::string>{"hair", "hair", "hair"}));
  EXPECT_TRUE(names.clusters[1].by_hand);
  EXPECT_FALSE(names.clusters[0].by_hand);
  // CLIP's own choice is kept beside the name given by hand.
  EXPECT_EQ(names.clusters[1].clip_name, "skin");
  EXPECT_NEAR(names.clusters[1].score, 1.0, 1e-6);
  EXPECT_EQ(names.class_map(), "0,1,2:hair");
  // The class map is one synthesize accepts.
  const dataset::ClassMap map = dataset::ClassMap::parse(names.class_map(), 3);
  EXPECT_EQ(map.num_classes(), 1);
  EXPECT_THROW(choose_names(means, at::eye(2), prompts, {{3, "hair"}}), ConfigError);
  EXPECT_THROW(choose_names(means, at::zeros({0, 2}), {}), ConfigError);
}

TEST(ParseAssignments, AcceptsClusterEqualsNameAndRejectsTheRest) {
  EXPECT_EQ(parse_assignments({"3=hair", "10=left eye"}), (std::map<int64_t, std::string>{{3, "hair"}, {10, "left eye"}}));
  for (const char* bad : {"hair", "=hair", "3=", "x=hair", "3=a:b", "-1=hair"}) EXPECT_THROW(parse_assignments({bad}), ConfigError) << bad;
  EXPECT_THROW(parse_assignments({"3=hair", "3=skin"}), ConfigError);
}

// Prompts from the option (comma-separated), a file (one a line, # comments) or a JSON array
// (which may hold commas and newlines); ':' and ';' are refused (class maps use them).
TEST(ReadPrompts, FromTheOptionALinesFileOrAJsonArray) {
  using stages::read_prompts;
  EXPECT_EQ(read_prompts(" hair, skin ,,eyes ", ""), (std::vector<std::string>{"hair", "skin", "eyes"}));
  const std::string dir = test::scratch_dir("read_prompts");
  std::ofstream(dir + "/lines.txt") << "# faces\nhair\n\n  left eye  \n";
  EXPECT_EQ(read_prompts("", dir + "/lines.txt"), (std::vector<std::string>{"hair", "left eye"}));
  std::ofstream(dir + "/prompts.json") << R"(["hair, long", "a\nb"])";
  EXPECT_EQ(read_prompts("", dir + "/prompts.json"), (std::vector<std::string>{"hair, long", "a\nb"}));
  std::ofstream(dir + "/bad.json") << R"(["hair", 3])";
  EXPECT_THROW(read_prompts("", dir + "/bad.json"), InputError);
  EXPECT_THROW(read_prompts("", dir + "/absent.txt"), InputError);
  EXPECT_THROW(read_prompts(" , ", ""), ConfigError);
  EXPECT_THROW(read_prompts("hair:long", ""), ConfigError);
}

}  // namespace
}  // namespace styleseg::cluster
