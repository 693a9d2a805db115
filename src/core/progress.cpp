#include "core/progress.h"

#include <unistd.h>

#include <cstdio>

namespace styleseg {

Progress::Progress(std::string label, int64_t total, bool enabled, std::string unit)
    : label_(std::move(label)), unit_(std::move(unit)), total_(total), enabled_(enabled),
      tty_(isatty(fileno(stderr)) != 0), start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

Progress::~Progress() {
  if (!finished_ && done_ > 0) finish();
}

std::string Progress::format_duration(double seconds) {
  if (!(seconds >= 0) || seconds > 1e8) return "--";
  const long s = static_cast<long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s / 60) % 60);
  else if (s >= 60) std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%lds", s);
  return buf;
}

void Progress::advance(int64_t count) {
  done_ += count;
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_draw_).count();
  // The last line comes from finish(); on a terminal the bar also fills when done.
  if (since >= (tty_ ? 0.2 : 10.0) || (tty_ && done_ >= total_)) draw(false);
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (enabled_) draw(true);
}

void Progress::draw(bool final) {
  last_draw_ = std::chrono::steady_clock::now();
  const double elapsed = std::chrono::duration<double>(last_draw_ - start_).count();
  const double rate = elapsed > 0 ? done_ / elapsed : 0.0;
  const double eta = rate > 0 ? (total_ - done_) / rate : -1;
  const double fraction = total_ > 0 ? static_cast<double>(done_) / total_ : 1.0;
  constexpr int kWidth = 30;
  std::string bar(kWidth, ' ');
  for (int i = 0; i < static_cast<int>(fraction * kWidth + 1e-9) && i < kWidth; ++i) bar[i] = '#';
  char line[256];
  if (final)
    std::snprintf(line, sizeof line, "%s [%s] %lld/%lld %s in %s, %.2f %s/s", label_.c_str(), bar.c_str(),
                  static_cast<long long>(done_), static_cast<long long>(total_), unit_.c_str(),
                  format_duration(elapsed).c_str(), rate, unit_.c_str());
  else
    std::snprintf(line, sizeof line, "%s [%s] %lld/%lld %s, %.2f %s/s, ETA %s", label_.c_str(), bar.c_str(),
                  static_cast<long long>(done_), static_cast<long long>(total_), unit_.c_str(), rate,
                  unit_.c_str(), format_duration(eta).c_str());
  if (tty_) std::fprintf(stderr, "\r%s\033[K%s", line, final ? "\n" : "");
  else std::fprintf(stderr, "%s\n", line);
  std::fflush(stderr);
}

}  // namespace styleseg
