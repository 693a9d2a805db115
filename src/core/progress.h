// A progress bar for long loops, shown by rank 0 only: count, rate and ETA.
// On a terminal it redraws one line; otherwise (batch jobs, Slurm logs) it prints a plain
// line every `interval` seconds so logs stay short.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace styleseg {

class Progress {
 public:
  Progress(std::string label, int64_t total, bool enabled, std::string unit = "samples");
  ~Progress();

  void advance(int64_t count);  // `count` more units done
  void finish();                // final line with the total rate
  int64_t done() const { return done_; }

  // "1h02m", "3m05s", "12s"
  static std::string format_duration(double seconds);

 private:
  void draw(bool final);
  std::string label_;
  std::string unit_;
  int64_t total_;
  int64_t done_ = 0;
  bool enabled_;
  bool tty_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace styleseg
