#include "core/phase_times.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdio>

namespace styleseg {

void PhaseTimes::wait_for_device() const {
  // A copy to the host waits for the work queued before it on the device's stream.
  if (device_.is_cuda()) (void)at::empty({1}, at::TensorOptions().device(device_)).cpu();
}

void PhaseTimes::start_step() {
  if (!enabled_) return;
  wait_for_device();
  last_ = std::chrono::steady_clock::now();
  ++steps_;
}

void PhaseTimes::mark(const std::string& phase) {
  if (!enabled_) return;
  wait_for_device();
  const auto now = std::chrono::steady_clock::now();
  const double seconds = std::chrono::duration<double>(now - last_).count();
  last_ = now;
  auto it = std::find_if(seconds_.begin(), seconds_.end(), [&](const auto& entry) { return entry.first == phase; });
  if (it == seconds_.end()) seconds_.emplace_back(phase, seconds);
  else it->second += seconds;
}

double PhaseTimes::ms_per_step(const std::string& phase) const {
  for (const auto& [name, seconds] : seconds_)
    if (name == phase) return steps_ > 0 ? seconds * 1e3 / static_cast<double>(steps_) : 0.0;
  return 0.0;
}

std::string PhaseTimes::summary() const {
  if (!enabled_ || steps_ == 0) return "";
  std::string text = "per step over " + std::to_string(steps_) + " steps:";
  double sum = 0;
  char figure[64];
  for (const auto& [name, seconds] : seconds_) {
    const double ms = seconds * 1e3 / static_cast<double>(steps_);
    sum += ms;
    std::snprintf(figure, sizeof figure, " %.1f ms", ms);
    text += (text.back() == ':' ? " " : ", ") + name + figure;
  }
  std::snprintf(figure, sizeof figure, "; sum %.1f ms", sum);
  return text + figure;
}

}  // namespace styleseg
