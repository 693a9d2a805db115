#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "core/options.h"
#include "support/expect_error.h"
#include "support/fixtures.h"

namespace styleseg {
namespace {

struct Example {
  int64_t count = 10;
  double truncation = 1.0;
  std::string noise = "const";
  std::string latents;
  bool save_raw = false;
  std::optional<double> clamp;
};

OptionSet options_for(Example& e) {
  OptionSet set("generate", "test");
  set.add("count", &e.count, "n").add("truncation", &e.truncation, "psi").add("noise", &e.noise, "mode");
  set.add_optional("latents", &e.latents, "file").add_flag("save-raw", &e.save_raw, "flag");
  set.add_optional("conv-clamp", &e.clamp, "clamp");
  return set;
}

std::string write_job(const std::string& text) {
  const std::string path = test::scratch_dir("job") + "/job.ini";
  std::ofstream(path) << text;
  return path;
}

TEST(Options, DefaultsStayWhenNothingIsGiven) {
  Example e;
  OptionSet set = options_for(e);
  ASSERT_TRUE(set.parse({}));
  EXPECT_EQ(e.count, 10);
  EXPECT_EQ(e.noise, "const");
  EXPECT_FALSE(e.save_raw);
  EXPECT_FALSE(e.clamp.has_value());
  EXPECT_FALSE(set.was_given("count"));
}

TEST(Options, JobFileSectionSetsAndCommandLineOverrides) {
  const std::string job = write_job(
      "[generate]\ncount = 64\ntruncation = 0.7\nsave-raw = true\nconv-clamp = 128\n"
      "[cluster]\nclusters = 12\n");
  Example e;
  OptionSet set = options_for(e);
  ASSERT_TRUE(set.parse({"--job", job, "--count", "5", "--noise=random"}));
  EXPECT_EQ(e.count, 5);             // command line wins
  EXPECT_DOUBLE_EQ(e.truncation, 0.7);  // from the job file
  EXPECT_EQ(e.noise, "random");
  EXPECT_TRUE(e.save_raw);
  ASSERT_TRUE(e.clamp.has_value());
  EXPECT_DOUBLE_EQ(*e.clamp, 128.0);
  EXPECT_TRUE(set.was_given("truncation"));
  EXPECT_EQ(set.to_json()["count"], 5);
  EXPECT_FALSE(set.to_json({"count"}).contains("count"));
}

enum class Shade { Light, Dark };
constexpr std::array<NamedValue<Shade>, 2> names_of(Shade) { return {{{Shade::Light, "light"}, {Shade::Dark, "dark"}}}; }

// A mode is typed as its name (command line or job file) and held as an enum; its record,
// default and errors use the names.
TEST(Options, ModesAreParsedOnceByName) {
  Shade shade = Shade::Light;
  auto parsed = [&shade](const std::vector<std::string>& args) {
    shade = Shade::Light;
    OptionSet set("generate", "test");
    set.add("shade", &shade, "light or dark");
    EXPECT_TRUE(set.parse(args));
    EXPECT_NE(set.help().find("(=light)"), std::string::npos) << set.help();
    return set.to_json()["shade"];
  };
  EXPECT_EQ(parsed({}), "light");
  EXPECT_EQ(shade, Shade::Light);
  EXPECT_EQ(parsed({"--shade", "dark"}), "dark");
  EXPECT_EQ(shade, Shade::Dark);
  EXPECT_EQ(parsed({"--job", write_job("[generate]\nshade = dark\n")}), "dark");
  EXPECT_EQ(shade, Shade::Dark);
  test::expect_error<ConfigError>([&] { parsed({"--shade", "Dark"}); }, {"--shade must be light or dark, got 'Dark'"});
  EXPECT_EQ(nlohmann::json(Shade::Dark), "dark");
  EXPECT_EQ(nlohmann::json("light").get<Shade>(), Shade::Light);
  EXPECT_THROW(nlohmann::json("grey").get<Shade>(), ConfigError);
  EXPECT_EQ(names_listed<Shade>(), "light or dark");
}

TEST(Options, FlagsTakeExplicitValues) {
  Example e;
  e.save_raw = true;
  OptionSet set = options_for(e);
  ASSERT_TRUE(set.parse({"--save-raw=false"}));
  EXPECT_FALSE(e.save_raw);
}

TEST(Options, HelpListsOptionsWithDefaults) {
  Example e;
  OptionSet set = options_for(e);
  EXPECT_FALSE(set.parse({"--help"}));
  const std::string help = set.help();
  EXPECT_NE(help.find("--count"), std::string::npos);
  EXPECT_NE(help.find("(=10)"), std::string::npos);
  EXPECT_NE(help.find("--job"), std::string::npos);
}

void expect_config_error(const std::vector<std::string>& args, const std::vector<std::string>& needles) {
  Example e;
  OptionSet set = options_for(e);
  try {
    set.parse(args);
    ADD_FAILURE() << "no error";
  } catch (const ConfigError& error) {
    for (const auto& needle : needles)
      EXPECT_NE(std::string(error.what()).find(needle), std::string::npos) << error.what() << " lacks " << needle;
  }
}

TEST(Options, UnknownOptionOnTheCommandLine) { expect_config_error({"--cuont", "3"}, {"cuont"}); }
TEST(Options, BadValueNamesTheOption) { expect_config_error({"--count", "many"}, {"count", "many"}); }
TEST(Options, AnEmptyValueInTheJobFileSetsAnEmptyString) {
  const std::string job = write_job("[generate]\nnoise =\n");
  Example e;
  OptionSet set = options_for(e);
  ASSERT_TRUE(set.parse({"--job", job}));
  EXPECT_EQ(e.noise, "");
  EXPECT_TRUE(set.was_given("noise"));
}

TEST(Options, UnknownKeyInTheJobFileNamesFileAndSection) {
  const std::string job = write_job("[generate]\ncuont = 3\n");
  expect_config_error({"--job", job}, {job, "[generate]", "cuont"});
}
TEST(Options, BadValueInTheJobFile) {
  const std::string job = write_job("[generate]\ntruncation = high\n");
  expect_config_error({"--job", job}, {job, "truncation"});
}
TEST(Options, MissingJobFile) { expect_config_error({"--job", "/nonexistent/job.ini"}, {"/nonexistent/job.ini"}); }

}  // namespace
}  // namespace styleseg
