// Where a training step's time goes: the wall time between marks, summed per phase over the
// steps, with the number of ATen operations each phase dispatched (those called by styleseg's
// code and the autograd engine's nodes; not the calls a backend makes inside them: a GPU
// pays a launch for most of the counted ones, so a phase of many small operations shows as
// such, and the count measured on a CPU is about the count on a GPU). On a GPU each mark first waits for the device, so that a phase is charged with the work
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
  PhaseTimes(bool enabled, c10::Device device);
  ~PhaseTimes();
  PhaseTimes(const PhaseTimes&) = delete;
  PhaseTimes& operator=(const PhaseTimes&) = delete;

  bool enabled() const { return enabled_; }
  // At the top of each step.
  void start_step();
  // The phase that has just ended (phases appear in the summary in the order first marked).
  void mark(const std::string& phase);
  // Milliseconds and operations per step of `phase` (0 when never marked).
  double ms_per_step(const std::string& phase) const;
  double ops_per_step(const std::string& phase) const;
  // "per step over N steps: data 1.2 ms (40 ops), discriminator 40.1 ms (2100 ops), ...; sum 95.0 ms
  // (5000 ops)"; "" when off.
  std::string summary() const;
  // The `count` operations dispatched most often, with their number per step, most first
  // ("aten::mul 2100, aten::add 1500, ..."; every phase and the time between steps
  // included); "" when off.
  std::string top_operations(size_t count) const;

 private:
  void wait_for_device() const;

  struct Phase {
    std::string name;
    double seconds = 0;
    int64_t ops = 0;
  };
  const Phase* find(const std::string& name) const;

  bool enabled_;
  c10::Device device_;
  uint64_t callback_ = 0;  // the operation counter's RecordFunction callback
  std::chrono::steady_clock::time_point last_;
  int64_t last_ops_ = 0;
  std::vector<Phase> phases_;  // in the order first marked
  int64_t steps_ = 0;
};

}  // namespace styleseg
