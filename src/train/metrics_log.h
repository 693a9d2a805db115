// The training metrics file: one JSON object a line (JSONL), appended as training goes and
// flushed at every line, so `tail -f` follows a run and a crash loses nothing written:
//   {"step": 10, "epoch": 0, "loss": 0.83, "lr": 9.9e-05, "images_per_second": 41.2, "seconds": 3.9}
//   {"step": 100, "val_miou": 0.71, "val_pixel_accuracy": 0.93, "val_iou": [...]}
// A resumed run first drops the lines past the step it resumes from (they belong to work
// the crash undid), so the file always describes the run that produced the weights.
//
// A path ending in ".csv" is written as CSV instead, for spreadsheets and pandas: a header
// of the given columns, then one line a record with its numbers in that order (an empty
// field where a record has no such number, which pandas reads as NaN).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace styleseg::train {

class MetricsLog {
 public:
  // Starts the file afresh, or (resume_step >= 0) keeps the lines with step <= resume_step.
  // A CSV file needs its columns (the first must be "step"). Throws OutputError naming the file.
  MetricsLog(std::string path, int64_t resume_step = -1, std::vector<std::string> csv_columns = {});
  void append(const nlohmann::json& record);
  const std::string& path() const { return path_; }

  // Every record of a metrics file. Throws InputError naming the file and line; with
  // `drop_torn_tail` an unreadable last line (a write cut by a kill) is dropped instead.
  static std::vector<nlohmann::json> read(const std::string& path, bool drop_torn_tail = false);

 private:
  std::string line_of(const nlohmann::json& record) const;

  std::string path_;
  std::vector<std::string> columns_;  // CSV only
  std::ofstream file_;
};

}  // namespace styleseg::train
