// Where a training step's time goes: the wall time between marks, summed per phase over the
// steps. On a GPU each mark first waits for the device, so that a phase is charged with the work
// it queued rather than with whatever the next host sync waits for; that costs the pipelining
// of consecutive phases, so it runs only when asked (train-gan --phase-times).
#pragma once

#include <c10/core/Device.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace styleseg {

class PhaseTimes {
 public:
  PhaseTimes(bool enabled, c10::Device device) : enabled_(enabled), device_(device) {}

  bool enabled() const { return enabled_; }
  // At the top of each step.
  void start_step();
  // The phase that has just ended (phases appear in the summary in the order first marked).
  void mark(const std::string& phase);
  // Milliseconds per step of `phase` (0 when never marked).
  double ms_per_step(const std::string& phase) const;
  // "per step over N steps: data 1.2 ms, discriminator 40.1 ms, ...; sum 95.0 ms"; "" when off.
  std::string summary() const;

 private:
  void wait_for_device() const;

  bool enabled_;
  c10::Device device_;
  std::chrono::steady_clock::time_point last_;
  std::vector<std::pair<std::string, double>> seconds_;  // per phase, summed
  int64_t steps_ = 0;
};

}  // namespace styleseg
