#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "dataset/class_map.h"
#include "support/fixtures.h"

namespace styleseg::dataset {
namespace {

std::string error_of(const std::string& text, int64_t clusters) {
  try {
    ClassMap::parse(text, clusters);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(ClassMap, MergesClustersIntoNamedClassesAndIgnoresTheRest) {
  const ClassMap map = ClassMap::parse(" 0, 3 : skin ; 1:hair;4:eyes", 6);
  EXPECT_EQ(map.names(), (std::vector<std::string>{"skin", "hair", "eyes"}));
  EXPECT_EQ(map.class_of_cluster(), (std::vector<int64_t>{0, 1, 255, 0, 2, 255}));
  const at::Tensor labels = at::tensor({0, 1, 2, 3, 4, 5}, at::kLong).reshape({1, 2, 3});
  EXPECT_TRUE(at::equal(map.apply(labels), at::tensor({0, 1, 255, 0, 2, 255}, at::kLong).reshape({1, 2, 3})));
  EXPECT_EQ(map.to_string(), "0,3:skin;1:hair;4:eyes");
  EXPECT_EQ(ClassMap::parse(map.to_string(), 6).class_of_cluster(), map.class_of_cluster());
  EXPECT_FALSE(map.needs_uint16());
}

TEST(ClassMap, IdentityNamesEachCluster) {
  const ClassMap map = ClassMap::identity(3, {"a"});
  EXPECT_EQ(map.names(), (std::vector<std::string>{"a", "cluster 1", "cluster 2"}));
  EXPECT_EQ(map.class_of_cluster(), (std::vector<int64_t>{0, 1, 2}));
}

TEST(ClassMap, MoreThan255ClassesNeedUint16AndIgnore65535) {
  std::string text;
  for (int k = 0; k < 300; ++k) text += std::to_string(k) + ":c" + std::to_string(k) + ";";
  const ClassMap map = ClassMap::parse(text, 301);
  EXPECT_TRUE(map.needs_uint16());
  EXPECT_EQ(map.ignore_label(), 65535);
  EXPECT_EQ(map.class_of_cluster().back(), 65535);
}

TEST(ClassMap, MistakesNameWhatIsWrong) {
  EXPECT_NE(error_of("0:a;7:b", 6).find("cluster 7 does not exist"), std::string::npos);
  EXPECT_NE(error_of("0,1:a;1:b", 6).find("cluster 1 is in two classes"), std::string::npos);
  EXPECT_NE(error_of("0:", 6).find("has no class name"), std::string::npos);
  EXPECT_NE(error_of("skin", 6).find("not CLUSTERS:NAME"), std::string::npos);
  EXPECT_NE(error_of("x:skin", 6).find("'x' is not a cluster number"), std::string::npos);
  EXPECT_NE(error_of("", 6).find("names no class"), std::string::npos);
}

TEST(ClassMap, MergeFileLinesAndComments) {
  const std::string path = test::scratch_dir("class_map") + "/merge.txt";
  std::ofstream(path) << "# parts of a face\n0,3: skin\n\n1 : hair  # long\n";
  EXPECT_EQ(read_merge_file(path), "0,3: skin;1 : hair");
  EXPECT_THROW(read_merge_file(path + ".missing"), InputError);
}

}  // namespace
}  // namespace styleseg::dataset
