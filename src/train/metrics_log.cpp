#include "train/metrics_log.h"

#include <filesystem>

#include "core/error.h"
#include "io/atomic_output.h"

namespace styleseg::train {

MetricsLog::MetricsLog(std::string path, int64_t resume_step) : path_(std::move(path)) {
  std::vector<nlohmann::json> kept;
  if (resume_step >= 0 && std::filesystem::exists(path_))
    for (auto& record : read(path_, /*drop_torn_tail=*/true))
      if (record.value("step", int64_t{0}) <= resume_step) kept.push_back(std::move(record));
  {
    // The kept lines replace the file in one rename, so a crash here loses nothing either.
    AtomicOutput output(path_);
    std::ofstream fresh(output.temp_path(), std::ios::trunc);
    for (const auto& record : kept) fresh << record.dump() << '\n';
    fresh.close();
    STYLESEG_CHECK(fresh.good(), OutputError, path_ + ": cannot write the metrics file");
    output.commit();
  }
  file_.open(path_, std::ios::app);
  STYLESEG_CHECK(file_.good(), OutputError, path_ + ": cannot open the metrics file for writing");
}

void MetricsLog::append(const nlohmann::json& record) {
  file_ << record.dump() << '\n';
  file_.flush();
  STYLESEG_CHECK(file_.good(), OutputError, path_ + ": cannot write the metrics file (disk full?)");
}

std::vector<nlohmann::json> MetricsLog::read(const std::string& path, bool drop_torn_tail) {
  std::ifstream file(path);
  STYLESEG_CHECK(file.good(), InputError, path + ": cannot open the metrics file");
  std::vector<std::string> lines;
  for (std::string line; std::getline(file, line);) lines.push_back(line);
  std::vector<nlohmann::json> records;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;
    try {
      records.push_back(nlohmann::json::parse(lines[i]));
    } catch (const nlohmann::json::exception& e) {
      if (drop_torn_tail && i + 1 == lines.size()) break;
      throw InputError(path + ":" + std::to_string(i + 1) + ": not a JSON record (" + e.what() + ")");
    }
  }
  return records;
}

}  // namespace styleseg::train
