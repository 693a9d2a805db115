// io/output_policy.h: the one rule every writing command follows for outputs that exist.
// The collective overload (rank 0 decides) is tested under mpiexec by the CLI tests.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "io/atomic_output.h"
#include "io/output_policy.h"
#include "support/expect_error.h"
#include "support/fixtures.h"

namespace styleseg {
namespace {

namespace fs = std::filesystem;

using test::expect_error;

void touch(const std::string& path, const std::string& text = "x") { std::ofstream(path) << text; }

std::string read(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A resumable command's plan: reads IN, writes OUT and a picture, stops into OUT.tmp.partial.
OutputPlan resumable(const std::string& dir) {
  return OutputPlan("cmd")
      .input("--in", dir + "/in.h5")
      .output("--out", dir + "/out.h5")
      .output("--grid", dir + "/grid.png")
      .partial(partial_path_of(dir + "/out.h5"));
}

TEST(OutputPolicy, NothingThereStartsFreshWithAnyFlag) {
  const std::string dir = test::scratch_dir("policy");
  EXPECT_EQ(resumable(dir).decide({}), OutputStart::Fresh);
  EXPECT_EQ(resumable(dir).decide({false, true}), OutputStart::Fresh);
  EXPECT_EQ(resumable(dir).decide({true, false}), OutputStart::Fresh);  // with a warning: nothing to continue
}

TEST(OutputPolicy, AnExistingOutputIsRefusedNamingItUnlessForced) {
  const std::string dir = test::scratch_dir("policy");
  touch(dir + "/grid.png");
  expect_error<OutputError>([&] { resumable(dir).decide({}); }, {"cmd: --grid " + dir + "/grid.png exists", "--force"});
  EXPECT_EQ(resumable(dir).decide({false, true}), OutputStart::Fresh);
  EXPECT_EQ(read(dir + "/grid.png"), "x") << "--force replaces an output when the new one is complete, not before";
}

TEST(OutputPolicy, APartialFileIsRefusedWithoutResumeAndContinuedWithIt) {
  const std::string dir = test::scratch_dir("policy");
  const std::string partial = partial_path_of(dir + "/out.h5");
  touch(partial);
  touch(dir + "/out.h5");  // an older complete output beside a newer stopped run: the stopped run wins
  expect_error<OutputError>([&] { resumable(dir).decide({}); }, {partial, "--resume continues it", "--force"});
  EXPECT_EQ(resumable(dir).decide({true, false}), OutputStart::Resume);
  EXPECT_TRUE(fs::exists(partial));
}

TEST(OutputPolicy, ForceRemovesStalePartialAndTemporaryFilesButNotOthers) {
  const std::string dir = test::scratch_dir("policy");
  const std::string partial = partial_path_of(dir + "/out.h5");
  const std::string crashed = dir + "/grid.png.tmp.host-123-abc";   // a process killed before it cleaned up
  const std::string unrelated = dir + "/out.h5.backup";            // not a temp name of ours
  const std::string other = dir + "/other.h5.tmp.host-1";           // another output's temp file
  for (const auto& path : {partial, crashed, unrelated, other}) touch(path);
  EXPECT_EQ(resumable(dir).decide({false, true}), OutputStart::Fresh);
  EXPECT_FALSE(fs::exists(partial));
  EXPECT_FALSE(fs::exists(crashed));
  EXPECT_TRUE(fs::exists(unrelated));
  EXPECT_TRUE(fs::exists(other));
}

TEST(OutputPolicy, ResumeOfACompleteOutputSaysNothingIsLeft) {
  const std::string dir = test::scratch_dir("policy");
  touch(dir + "/out.h5");
  EXPECT_EQ(resumable(dir).decide({true, false}), OutputStart::Complete);
}

TEST(OutputPolicy, ResumeAndForceTogetherAreRefused) {
  const std::string dir = test::scratch_dir("policy");
  expect_error<ConfigError>([&] { resumable(dir).decide({true, true}); }, {"cmd: --resume and --force exclude each other"});
}

TEST(OutputPolicy, ResumeIsRefusedWhereTheCommandCannotResume) {
  const std::string dir = test::scratch_dir("policy");
  const OutputPlan one_go = OutputPlan("assign").output("--out", dir + "/labels.h5");
  expect_error<ConfigError>([&] { one_go.decide({true, false}); }, {"assign: --resume", "nothing to resume"});
}

TEST(OutputPolicy, AnOutputThatIsAnInputIsRefusedEvenWithForce) {
  const std::string dir = test::scratch_dir("policy");
  touch(dir + "/in.h5");
  for (const std::string& alias : {dir + "/in.h5", dir + "/./sub/../in.h5"}) {
    const OutputPlan plan = OutputPlan("cluster").input("--features", dir + "/in.h5").output("--out", alias);
    expect_error<ConfigError>([&] { plan.decide({false, true}); },
                              {"cluster: --out " + alias + " is also its input --features", "choose another --out"});
  }
  EXPECT_EQ(read(dir + "/in.h5"), "x");
}

TEST(OutputPolicy, LinksToAnInputAreTheInput) {
  const std::string dir = test::scratch_dir("policy");
  touch(dir + "/in.h5");
  fs::create_symlink(dir + "/in.h5", dir + "/soft.h5");
  fs::create_hard_link(dir + "/in.h5", dir + "/hard.h5");
  EXPECT_TRUE(same_path(dir + "/soft.h5", dir + "/in.h5"));
  EXPECT_TRUE(same_path(dir + "/hard.h5", dir + "/in.h5"));
  EXPECT_FALSE(same_path(dir + "/in.h5", dir + "/in.h5.tmp.partial"));
  EXPECT_TRUE(same_path(dir + "/not/yet/there.h5", dir + "/not/yet/../yet/there.h5"));
}

TEST(OutputPolicy, TwoOptionsNamingOneFileAreRefused) {
  const std::string dir = test::scratch_dir("policy");
  const OutputPlan plan = OutputPlan("generate").output("--out", dir + "/a.png").output("--grid", dir + "/a.png");
  expect_error<ConfigError>([&] { plan.decide({}); }, {"--out and --grid name the same file"});
}

TEST(OutputPolicy, AFolderCountsAsExistingOnlyWhenItHoldsFiles) {
  const std::string dir = test::scratch_dir("policy");
  fs::create_directories(dir + "/masks");
  const OutputPlan plan = OutputPlan("segment").output_folder("--out", dir + "/masks");
  EXPECT_EQ(plan.decide({}), OutputStart::Fresh);
  touch(dir + "/masks/a.png");
  expect_error<OutputError>([&] { plan.decide({}); }, {"segment: --out " + dir + "/masks holds files", "--force"});
  EXPECT_EQ(plan.decide({false, true}), OutputStart::Fresh);
  EXPECT_TRUE(fs::exists(dir + "/masks/a.png"));
}

TEST(OutputPolicy, EmptyPathsAreOptionsNotGiven) {
  const std::string dir = test::scratch_dir("policy");
  touch(dir + "/out.h5");
  const OutputPlan plan = OutputPlan("cmd").input("--latents", "").output("--out", dir + "/out.h5").output("--grid", "");
  expect_error<OutputError>([&] { plan.decide({}); }, {"--out"});
}

}  // namespace
}  // namespace styleseg
