#include "train/metrics_log.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <stdexcept>

#include "core/error.h"
#include "io/atomic_output.h"

namespace styleseg::train {

namespace {

bool is_csv(const std::string& path) { return std::filesystem::path(path).extension() == ".csv"; }

std::vector<std::string> split_fields(const std::string& line) {
  std::vector<std::string> fields;
  std::stringstream in(line);
  for (std::string field; std::getline(in, field, ',');) fields.push_back(field);
  if (!line.empty() && line.back() == ',') fields.emplace_back();
  return fields;
}

// A CSV line as a record: numbers by column name, empty fields left out.
nlohmann::json csv_record(const std::vector<std::string>& columns, const std::string& line) {
  const std::vector<std::string> fields = split_fields(line);
  if (fields.size() != columns.size()) throw std::invalid_argument(std::to_string(fields.size()) + " fields, not " + std::to_string(columns.size()));
  nlohmann::json record = nlohmann::json::object();
  for (size_t c = 0; c < columns.size(); ++c) {
    if (fields[c].empty()) continue;
    size_t used = 0;
    const double value = std::stod(fields[c], &used);
    if (used != fields[c].size()) throw std::invalid_argument("'" + fields[c] + "' is not a number");
    record[columns[c]] = value;
  }
  return record;
}

}  // namespace

MetricsLog::MetricsLog(std::string path, int64_t resume_step, std::vector<std::string> csv_columns)
    : path_(std::move(path)), columns_(std::move(csv_columns)) {
  STYLESEG_CHECK(is_csv(path_) == !columns_.empty() && (columns_.empty() || columns_.front() == "step"), Error,
                 path_ + ": a .csv metrics file needs its columns, starting with step (and only a .csv file has them)");
  std::vector<nlohmann::json> kept;
  if (resume_step >= 0 && std::filesystem::exists(path_))
    for (auto& record : read(path_, /*drop_torn_tail=*/true))
      if (record.value("step", int64_t{0}) <= resume_step) kept.push_back(std::move(record));
  {
    // The kept lines replace the file in one rename, so a crash here loses nothing either.
    std::ostringstream fresh;
    if (!columns_.empty()) {
      for (size_t c = 0; c < columns_.size(); ++c) fresh << (c ? "," : "") << columns_[c];
      fresh << '\n';
    }
    for (const auto& record : kept) fresh << line_of(record) << '\n';
    write_text_file(path_, fresh.str());
  }
  file_.open(path_, std::ios::app);
  STYLESEG_CHECK(file_.good(), OutputError, path_ + ": cannot open the metrics file for writing");
}

std::string MetricsLog::line_of(const nlohmann::json& record) const {
  if (columns_.empty()) return record.dump();
  std::string line;
  for (size_t c = 0; c < columns_.size(); ++c) {
    if (c) line += ',';
    const auto it = record.find(columns_[c]);
    if (it != record.end() && it->is_number() && std::isfinite(it->get<double>())) {
      char text[32];
      std::snprintf(text, sizeof text, "%.9g", it->get<double>());
      line += text;
    }
  }
  return line;
}

void MetricsLog::append(const nlohmann::json& record) {
  file_ << line_of(record) << '\n';
  file_.flush();
  STYLESEG_CHECK(file_.good(), OutputError, path_ + ": cannot write the metrics file (disk full?)");
}

std::vector<nlohmann::json> MetricsLog::read(const std::string& path, bool drop_torn_tail) {
  std::ifstream file(path);
  STYLESEG_CHECK(file.good(), InputError, path + ": cannot open the metrics file");
  std::vector<std::string> lines;
  for (std::string line; std::getline(file, line);) lines.push_back(line);
  const bool csv = is_csv(path);
  const std::vector<std::string> columns = csv && !lines.empty() ? split_fields(lines.front()) : std::vector<std::string>{};
  std::vector<nlohmann::json> records;
  for (size_t i = csv ? 1 : 0; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;
    try {
      records.push_back(csv ? csv_record(columns, lines[i]) : nlohmann::json::parse(lines[i]));
    } catch (const std::exception& e) {  // nlohmann's parse errors and the CSV reader's
      if (drop_torn_tail && i + 1 == lines.size()) break;
      throw InputError(path + ":" + std::to_string(i + 1) + (csv ? ": not a CSV record (" : ": not a JSON record (") +
                       e.what() + ")");
    }
  }
  return records;
}

}  // namespace styleseg::train
