// The metrics file in its CSV form: records round-trip with gaps, a resumed log drops the
// lines past the resume step, a torn last line is dropped on request and named otherwise.
#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "support/fixtures.h"
#include "train/metrics_log.h"

namespace styleseg::train {
namespace {

const std::vector<std::string> kColumns{"step", "d_loss", "r1"};

TEST(MetricsLog, CsvRecordsRoundTripWithMissingNumbersLeftEmpty) {
  const std::string path = test::scratch_dir("metrics_csv") + "/losses.csv";
  {
    MetricsLog log(path, -1, kColumns);
    log.append({{"step", 1}, {"d_loss", 1.25}, {"r1", 0.5}});
    log.append({{"step", 2}, {"d_loss", 0.75}, {"r1", std::nan("")}});  // NaN: no R1 this step
  }
  std::ifstream in(path);
  std::string header, first, second;
  std::getline(in, header), std::getline(in, first), std::getline(in, second);
  EXPECT_EQ(header, "step,d_loss,r1");
  EXPECT_EQ(second, "2,0.75,");
  const auto records = MetricsLog::read(path);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0]["d_loss"].get<double>(), 1.25);
  EXPECT_EQ(records[0]["r1"].get<double>(), 0.5);
  EXPECT_FALSE(records[1].contains("r1"));
}

TEST(MetricsLog, ResumedCsvKeepsOnlyTheStepsUpToTheCheckpoint) {
  const std::string path = test::scratch_dir("metrics_csv_resume") + "/losses.csv";
  {
    MetricsLog log(path, -1, kColumns);
    for (int step = 1; step <= 5; ++step) log.append({{"step", step}, {"d_loss", step * 0.1}});
  }
  {
    MetricsLog log(path, 3, kColumns);  // the checkpoint was at step 3; steps 4 and 5 are redone
    log.append({{"step", 4}, {"d_loss", 9.0}});
  }
  const auto records = MetricsLog::read(path);
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records[2]["step"].get<double>(), 3);
  EXPECT_EQ(records[3]["d_loss"].get<double>(), 9.0);
}

TEST(MetricsLog, TornCsvLineIsDroppedOnRequestAndNamedOtherwise) {
  const std::string path = test::scratch_dir("metrics_csv_torn") + "/losses.csv";
  std::ofstream(path) << "step,d_loss,r1\n1,0.5,0.1\n2,0.";
  EXPECT_EQ(MetricsLog::read(path, /*drop_torn_tail=*/true).size(), 1u);
  try {
    MetricsLog::read(path);
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(path + ":3"), std::string::npos) << e.what();
  }
  std::ofstream(path) << "step,d_loss,r1\n1,abc,0.1\n";
  EXPECT_THROW(MetricsLog::read(path), InputError);
}

}  // namespace
}  // namespace styleseg::train
